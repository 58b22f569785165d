package workloads

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

type memEvents struct {
	mu  sync.Mutex
	evs []history.Event
}

func (m *memEvents) Append(ev history.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evs = append(m.evs, ev)
	return nil
}

func (m *memEvents) events() []history.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]history.Event(nil), m.evs...)
}

// statusServer answers /status with whatever st holds, counting the polls
// in hits when it is not nil.
func statusServer(t *testing.T, st *atomic.Value, hits ...*atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(st.Load().(string)))
		for _, h := range hits {
			h.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func status(id string, role rundir.Role, term int64, leader string) string {
	return `{"id":"` + id + `","role":"` + string(role) + `","term":` + itoa(term) + `,"leader":"` + leader + `"}`
}

func TestObserver(t *testing.T) {
	var n1 atomic.Value
	n1.Store(status("n1", rundir.RoleLeader, 1, "n1"))
	var hits atomic.Int64
	srv := statusServer(t, &n1, &hits)
	var garbage atomic.Value
	garbage.Store(`not json`)
	bad := statusServer(t, &garbage)

	ev := &memEvents{}
	start := time.Now()
	o := NewObserver([]Endpoint{{"n1", hostPort(srv.URL)}, {"n2", hostPort(bad.URL)}}, nil, 10*time.Millisecond, ev, func(t time.Time) int64 { return int64(t.Sub(start)) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()

	require.Eventually(t, func() bool { return o.Leader() == "n1" }, 5*time.Second, 5*time.Millisecond)
	n1.Store(status("n1", rundir.RoleLeader, 2, "n1"))
	require.Eventually(t, func() bool { return len(ev.events()) >= 2 }, 5*time.Second, 5*time.Millisecond)
	// Every poll after the change answers the same: five more add nothing.
	after := hits.Load()
	require.Eventually(t, func() bool { return hits.Load() >= after+5 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	evs := ev.events()
	require.Len(t, evs, 2, "one event per change: %+v", evs)
	assert.Equal(t, int64(1), evs[0].Term)
	assert.Equal(t, int64(2), evs[1].Term)
	assert.Equal(t, rundir.SourceObserver, evs[1].Source)
	assert.Equal(t, []string{"n1"}, o.Reachable())
}

func TestObserverLeaderRule(t *testing.T) {
	o := NewObserver(nil, nil, 0, nil, nil)
	now := time.Now()
	o.seen["n1"] = seen{st: Status{Role: rundir.RoleLeader, Term: 1}, at: now, ok: true}
	o.seen["n2"] = seen{st: Status{Role: rundir.RoleCandidate, Term: 2}, at: now, ok: true}
	assert.Empty(t, o.Leader(), "a leader of a term another node has passed is stale")
	o.seen["n2"] = seen{st: Status{Role: rundir.RoleLeader, Term: 2}, at: now, ok: true}
	assert.Equal(t, "n2", o.Leader())
	o.seen["n2"] = seen{st: Status{Role: rundir.RoleLeader, Term: 2}, at: now.Add(-2 * time.Second), ok: true}
	assert.Equal(t, "n1", o.Leader(), "a node not heard from lately is left out")
}

func TestObserverGroups(t *testing.T) {
	o := NewObserver(nil, nil, 0, nil, nil)
	now := time.Now()
	put := func(n string, st Status) { o.seen[n] = seen{st: st, at: now, ok: true} }
	put("n1", Status{Role: rundir.RoleLeader, Term: 1, Leader: "n1", Group: "0-8191"})
	put("n2", Status{Role: rundir.RoleLeader, Term: 2, Leader: "n2", Group: "8192-16383"})
	put("n3", Status{Role: rundir.RoleFollower, Term: 1, Leader: "n1", Group: "0-8191"})
	put("n4", Status{Role: rundir.RoleFollower, Term: 2, Leader: "n2", Group: "8192-16383"})
	assert.Equal(t, "n2", o.Leader(), "the leader of the group with the highest term")
	assert.Equal(t, []string{"n3"}, o.Followers("n1"))
	assert.Equal(t, []string{"n4"}, o.Followers("n2"))
	// n3 takes over n1's shard in a new epoch: n1, cut off, is stale in
	// its group, and n2's lower term elsewhere makes nobody stale.
	put("n3", Status{Role: rundir.RoleLeader, Term: 3, Leader: "n3", Group: "0-8191"})
	assert.Equal(t, "n3", o.Leader())
	assert.Empty(t, o.Followers("n1"))
	put("n3", Status{Role: rundir.RoleLeader, Term: 1, Leader: "n3", Group: "0-8191"})
	assert.Equal(t, "n2", o.Leader(), "n1 and n3 lead term 1 of their group; n2 leads the highest term")
}

func TestObserverRecordsGroups(t *testing.T) {
	ev := &memEvents{}
	o := NewObserver(nil, nil, 0, ev, func(time.Time) int64 { return 0 })
	st := Status{Role: rundir.RoleFollower, Term: 1, Group: ""}
	require.NoError(t, o.record("n1", st, nil, time.Now()))
	st.Group = "0-5460"
	require.NoError(t, o.record("n1", st, nil, time.Now()))
	require.NoError(t, o.record("n1", st, nil, time.Now()))
	evs := ev.events()
	require.Len(t, evs, 2, "a group change is a change; the same view twice is one event")
	assert.Equal(t, "0-5460", evs[1].Group)
}

func TestAgreedLeader(t *testing.T) {
	var a, b, c atomic.Value
	a.Store(status("n1", rundir.RoleLeader, 2, "n1"))
	b.Store(status("n2", rundir.RoleFollower, 2, "n1"))
	c.Store(status("n3", rundir.RoleFollower, 2, "n1"))
	eps := []Endpoint{{"n1", hostPort(statusServer(t, &a).URL)}, {"n2", hostPort(statusServer(t, &b).URL)}, {"n3", hostPort(statusServer(t, &c).URL)}}
	leader, err := AgreedLeader(t.Context(), eps, nil, 0)
	require.NoError(t, err)
	assert.Equal(t, "n1", leader)

	for _, tt := range []struct {
		name, n2, n3, why string
	}{
		{"a follower names another leader", status("n2", rundir.RoleFollower, 2, "n3"), status("n3", rundir.RoleFollower, 2, "n1"), "different leaders"},
		{"a follower knows none", status("n2", rundir.RoleFollower, 2, ""), status("n3", rundir.RoleFollower, 2, "n1"), "n2 knows no leader"},
		{"a higher term makes the leader stale", status("n2", rundir.RoleCandidate, 3, ""), status("n3", rundir.RoleFollower, 2, "n1"), "no node leads"},
		{"a node does not answer", status("n2", rundir.RoleFollower, 2, "n1"), `not json`, "n3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b.Store(tt.n2)
			c.Store(tt.n3)
			clients := make([]named, len(eps))
			for i, ep := range eps {
				c, err := DialContract(ep, 5*time.Second)
				require.NoError(t, err)
				defer c.Close()
				clients[i] = named{ep.Node, c}
			}
			leader, why := agreement(t.Context(), clients)
			assert.Empty(t, leader)
			assert.Contains(t, why, tt.why)
		})
	}
	short, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = AgreedLeader(short, eps, nil, 20*time.Millisecond)
	assert.ErrorContains(t, err, "no leader all nodes agree on")
}
