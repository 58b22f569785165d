package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/systemtest"
	"github.com/splitbrain/splitbrain/workloads"
)

func TestMain(m *testing.M) { systemtest.Main(m) }

// harness is the shared one, with this package's client, plus what a
// sharded system needs: every view checked for two leaders of one group
// in one epoch.
type harness struct {
	*systemtest.Harness[*Client]
	eps     []workloads.Endpoint
	reigns  map[[2]string]string // (group, epoch) -> leader, over all polls
	started time.Time
}

// startCluster builds the image (files cached per machine), starts n
// nodes, forms the cluster with replicas per master, and returns the
// harness with a client per node, all sharing one book.
func startCluster(ctx context.Context, t *testing.T, opts Options, n, replicas int) *harness {
	t.Helper()
	sys, err := Prepare(ctx, opts, t.Logf)
	require.NoError(t, err)
	img, err := clusters.BuildImage(ctx, sys)
	require.NoError(t, err)
	if cli, err := clusters.Docker(); err == nil {
		if ii, err := cli.ImageInspect(ctx, img.Tag); err == nil {
			t.Logf("node image %s: %d MB (cached %v, %v)", img.Tag, ii.Size>>20, img.Cached, img.Build.Round(time.Millisecond))
		}
	}
	start := time.Now()
	e, err := clusters.Start(ctx, sys, n, clusters.Options{Image: img.Tag, Logf: t.Logf})
	require.NoError(t, err)
	h := &harness{Harness: systemtest.New[*Client](t, e), reigns: map[[2]string]string{}, started: start}
	t.Cleanup(func() {
		for _, c := range h.Clients {
			c.Close()
		}
		if t.Failed() {
			for _, n := range e.Nodes() {
				logs, _ := e.Logs(context.Background(), n.ID)
				if len(logs) > 6000 {
					logs = logs[len(logs)-6000:]
				}
				t.Logf("log of %s:\n%s", n.ID, logs)
			}
		}
		assert.NoError(t, e.Teardown(context.Background()))
	})
	up := time.Since(start)
	book := NewBook()
	for _, nd := range e.Nodes() {
		ep := workloads.Endpoint{Node: nd.ID, Addr: nd.Addr}
		h.eps = append(h.eps, ep)
		c, err := NewClient(nd.ID, nd.Addr, ClientOptions{Timeout: time.Second, Book: book})
		require.NoError(t, err)
		h.Clients[nd.ID] = c
	}
	cctx, ccancel := context.WithTimeout(ctx, 90*time.Second)
	defer ccancel()
	require.NoError(t, Create(cctx, h.eps, replicas))
	t.Logf("%d nodes up in %v; cluster ok (slots, replicas linked) %v after Start was called", n, up.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return h
}

// poll is Harness.Poll, with each group's epochs checked: two leaders of
// one group in one epoch fail the test.
func (h *harness) poll(ctx context.Context, ids []string) systemtest.View {
	v := h.Poll(ctx, ids)
	for id, st := range v {
		if st.Role != rundir.RoleLeader {
			continue
		}
		k := [2]string{st.Group, strconv.FormatInt(st.Term, 10)}
		if prev, ok := h.reigns[k]; ok && prev != id {
			h.T.Errorf("two leaders of group %s in epoch %d: %s and %s", st.Group, st.Term, prev, id)
		}
		h.reigns[k] = id
	}
	return v
}

// waitView polls ids until cond holds of a view, and returns it and the
// time it took; it fails the test after within. (A paused node's poll
// waits out the client's timeout: leave it out for timings.)
func (h *harness) waitView(ctx context.Context, what string, within time.Duration, ids []string, cond func(systemtest.View) bool) (systemtest.View, time.Duration) {
	h.T.Helper()
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var v systemtest.View
	for {
		v = h.poll(wctx, ids)
		if cond(v) {
			return v, time.Since(start)
		}
		select {
		case <-wctx.Done():
			h.T.Fatalf("%s: not within %v; last view %+v", what, within, v)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// leaderOf is the node that says it leads group in the highest epoch.
func leaderOf(v systemtest.View, group string) (string, int64) {
	best, term := "", int64(-1)
	for id, st := range v {
		if st.Role == rundir.RoleLeader && st.Group == group && st.Term > term {
			best, term = id, st.Term
		}
	}
	return best, term
}

// slotMaps asks every node for its slot map.
func (h *harness) slotMaps(ctx context.Context) map[string][]Shard {
	h.T.Helper()
	out := map[string][]Shard{}
	for _, ep := range h.eps {
		a := newAdmin(ep)
		ns, err := a.nodes(ctx)
		a.rdb.Close()
		require.NoError(h.T, err)
		sm, err := ns.SlotMap()
		require.NoError(h.T, err)
		out[ep.Node] = sm
	}
	return out
}

// keyslot asks a node which slot key is in.
func keyslot(ctx context.Context, t *testing.T, ep workloads.Endpoint, key string) int {
	a := newAdmin(ep)
	defer a.rdb.Close()
	res, err := a.do(ctx, "CLUSTER", "KEYSLOT", key)
	require.NoError(t, err)
	return int(res.(int64))
}

// TestCluster runs six real Redis nodes: Create forms three shards of a
// master and a replica each, on which every node agrees; the register
// works through any node's client, redirected to each key's shard (a
// replica's client is redirected for every key); clock skew reaches the
// server; a paused master's replica is promoted in a higher config
// epoch, and the master, resumed, rejoins as its replica; Takeover
// promotes it back; a killed replica restarts as the same node.
func TestCluster(t *testing.T) {
	systemtest.NeedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h := startCluster(ctx, t, Options{}, 6, 1)
	e := h.E

	// Every node: cluster ok, the same slot map, three leaders.
	maps := h.slotMaps(ctx)
	for id, sm := range maps {
		assert.Equal(t, maps["n1"], sm, "%s's slot map", id)
	}
	require.Len(t, maps["n1"], 3)
	all := h.IDs()
	v := h.poll(ctx, all)
	groups := map[string]string{} // group -> its leader
	for _, id := range []string{"n1", "n2", "n3"} {
		st := v[id]
		assert.Equal(t, rundir.RoleLeader, st.Role, "%s: %+v", id, st)
		groups[st.Group] = id
	}
	assert.Equal(t, map[string]string{"0-5460": "n1", "5461-10921": "n2", "10922-16383": "n3"}, groups)
	for i, id := range []string{"n4", "n5", "n6"} {
		m := fmt.Sprintf("n%d", i+1)
		assert.Equal(t, workloads.Status{ID: id, Role: rundir.RoleFollower, Term: v[m].Term, Leader: m, Group: v[m].Group}, v[id])
	}

	// The register through n1's and n4's (a replica's) clients: keys on
	// every shard, each operation redirected where needed.
	dial := Dial(ClientOptions{Book: h.Clients["n1"].book})
	shardsHit := map[string]bool{}
	for i, via := range []string{"n1", "n4"} {
		conn, err := dial(h.eps[map[string]int{"n1": 0, "n4": 3}[via]], 2*time.Second)
		require.NoError(t, err)
		for k := range 5 {
			key := fmt.Sprintf("k%d", k)
			slot := keyslot(ctx, t, h.eps[0], KeyPrefix+key)
			for _, s := range maps["n1"] {
				if rs, _ := ParseRanges(s.Slots); slot >= rs[0].Lo && slot <= rs[0].Hi {
					shardsHit[s.Slots] = true
				}
			}
			base := int64(100 * (i + 1))
			what := fmt.Sprintf("via %s, %s (slot %d)", via, key, slot)
			if i == 0 {
				systemtest.RequireOutcome(t, history.OK, history.Value{}, conn.Read(ctx, key), "read of a key never written "+what)
				systemtest.RequireOutcome(t, history.Fail, history.PairValue(1, 2), conn.CAS(ctx, key, 1, 2), "cas of a key never written "+what)
			}
			systemtest.RequireOutcome(t, history.OK, history.IntValue(base), conn.Write(ctx, key, base), "write "+what)
			systemtest.RequireOutcome(t, history.OK, history.IntValue(base), conn.Read(ctx, key), "read "+what)
			systemtest.RequireOutcome(t, history.OK, history.PairValue(base, base+1), conn.CAS(ctx, key, base, base+1), "cas "+what)
			systemtest.RequireOutcome(t, history.Fail, history.PairValue(base, base+2), conn.CAS(ctx, key, base, base+2), "stale cas "+what)
			systemtest.RequireOutcome(t, history.OK, history.IntValue(base+1), conn.Read(ctx, key), "read after the cas "+what)
		}
		conn.Close()
	}
	assert.Len(t, shardsHit, 3, "the five keys span every shard")

	// Clock skew reaches the server (zkclock and libfaketime, over the
	// jemalloc stand-in): its TIME moves by the offset.
	serverTime := func(ep workloads.Endpoint) time.Time {
		a := newAdmin(ep)
		defer a.rdb.Close()
		res, err := a.do(ctx, "TIME")
		require.NoError(t, err)
		parts, ok := res.([]any)
		require.True(t, ok && len(parts) == 2, "TIME answered %v", res)
		s, _ := strconv.ParseInt(parts[0].(string), 10, 64)
		return time.Unix(s, 0)
	}
	require.NoError(t, e.Clock(ctx, "n6", time.Hour, 1))
	var skew time.Duration
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	for cctx.Err() == nil {
		if skew = serverTime(h.eps[5]).Sub(time.Now()); skew > 59*time.Minute {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ccancel()
	assert.InDelta(t, time.Hour.Seconds(), skew.Seconds(), 5, "n6's TIME with the clock an hour ahead")
	require.NoError(t, e.Clock(ctx, "n6", 0, 1))

	// Pause the master of 0-5460: its replica n4 is promoted in a higher
	// epoch, and writes to that shard go on through it.
	_, oldTerm := leaderOf(v, "0-5460")
	paused := time.Now()
	require.NoError(t, e.Pause(ctx, "n1"))
	v, took := h.waitView(ctx, "n4 promoted", 30*time.Second, systemtest.Without(all, "n1"), func(v systemtest.View) bool {
		l, term := leaderOf(v, "0-5460")
		return l == "n4" && term > oldTerm
	})
	_, newTerm := leaderOf(v, "0-5460")
	t.Logf("master n1 (epoch %d) paused: n4 leads 0-5460 in epoch %d after %v", oldTerm, newTerm, took.Round(time.Millisecond))
	assert.Less(t, time.Since(paused), 15*time.Second)
	var k0 string // a key of 0-5460
	for k := range 5 {
		if keyslot(ctx, t, h.eps[1], KeyPrefix+fmt.Sprintf("k%d", k)) <= 5460 {
			k0 = fmt.Sprintf("k%d", k)
		}
	}
	require.NotEmpty(t, k0)
	o := h.Clients["n1"].Write(ctx, k0, 7)
	assert.Equal(t, history.Info, o.Type, "a write to the paused master times out after the send: %+v", o)
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	for o = h.Clients["n2"].Write(wctx, k0, 8); o.Type != history.OK && wctx.Err() == nil; o = h.Clients["n2"].Write(wctx, k0, 8) {
		time.Sleep(50 * time.Millisecond) // the others learn of the promotion by gossip
	}
	wcancel()
	systemtest.RequireOutcome(t, history.OK, history.IntValue(8), o, "write to the promoted shard via n2")

	// Resumed, n1 rejoins as a replica of n4.
	require.NoError(t, e.Resume(ctx, "n1"))
	_, took = h.waitView(ctx, "n1 following n4", 30*time.Second, all, func(v systemtest.View) bool {
		st := v["n1"]
		return st.Role == rundir.RoleFollower && st.Leader == "n4" && st.Group == "0-5460" && st.Term == newTerm
	})
	t.Logf("n1 resumed: a replica of n4 after %v", took.Round(time.Millisecond))
	systemtest.RequireOutcome(t, history.OK, history.IntValue(8), h.Clients["n1"].Read(ctx, k0), "read through the old master, now a replica")

	// Takeover makes n1 the master again, in a higher epoch; on a master
	// it refuses.
	assert.ErrorIs(t, Takeover(ctx, h.eps[1]), ErrNotReplica, "takeover on the master n2")
	require.NoError(t, Takeover(ctx, h.eps[0]))
	v, took = h.waitView(ctx, "n1 taking over", 30*time.Second, all, func(v systemtest.View) bool {
		l, term := leaderOf(v, "0-5460")
		return l == "n1" && term > newTerm && v["n4"].Leader == "n1"
	})
	_, tkTerm := leaderOf(v, "0-5460")
	t.Logf("takeover: n1 leads 0-5460 in epoch %d after %v", tkTerm, took.Round(time.Millisecond))

	// A killed replica restarts as the same node (nodes.conf in its data
	// directory; the book would refuse a new id) and follows again.
	require.NoError(t, e.Kill(ctx, "n5"))
	o = h.Clients["n5"].Write(ctx, "k1", 9)
	if o.Type == history.Info {
		// The server's close may not have reached the client yet: the
		// write went out on the pooled connection and met a reset, which
		// is indeterminate. That connection is dropped; the next dial is
		// refused.
		assert.Regexp(t, "reset|broken pipe|EOF", o.Error, "the first write after the kill: %+v", o)
		o = h.Clients["n5"].Write(ctx, "k1", 9)
	}
	assert.Equal(t, history.Fail, o.Type, "a write to a killed node is never sent: %+v", o)
	require.NoError(t, e.Start(ctx, "n5"))
	h.waitView(ctx, "n5 back as a replica of n2", 30*time.Second, all, func(v systemtest.View) bool {
		return v["n5"].Role == rundir.RoleFollower && v["n5"].Leader == "n2"
	})

	// At the end, every node agrees on the slot map again.
	h.waitView(ctx, "every node agreeing", 30*time.Second, all, func(systemtest.View) bool {
		maps := h.slotMaps(ctx)
		for _, sm := range maps {
			if fmt.Sprint(sm) != fmt.Sprint(maps["n1"]) {
				return false
			}
		}
		return true
	})
}

// TestCreateWaits: Create on nodes that do not answer returns when its
// context ends, saying what it waited for.
func TestCreateWaits(t *testing.T) {
	eps := make([]workloads.Endpoint, 6)
	for i := range eps {
		eps[i] = workloads.Endpoint{Node: fmt.Sprintf("n%d", i+1), Addr: "127.0.0.1:1"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := Create(ctx, eps, 1)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Contains(t, err.Error(), "nodes answering")
}
