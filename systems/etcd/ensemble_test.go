package etcd

import (
	"context"
	"errors"
	"os"
	"regexp"
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

// waitFor polls cond every 20 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// harness is the shared one, with this package's client; tests add
// their own methods.
type harness struct {
	*systemtest.Harness[*Client]
}

// TestEnsemble runs three real etcd members (Debian's 3.4.23, or the
// version in SPLITBRAIN_ETCD_VERSION built from the module proxy): they
// elect one leader; the register works through a client pinned to one
// member; killing the leader elects another in a higher term; the killed
// member comes back with its data and follows; a member cut off from the
// others cannot complete a linearizable get, while a serializable one is
// still answered (and stale); a paused leader is replaced and follows
// when resumed; clock faults are unsupported.
func TestEnsemble(t *testing.T) {
	systemtest.NeedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bins, err := BuildBinaries(ctx, BinaryOptions{Version: os.Getenv("SPLITBRAIN_ETCD_VERSION"), Logf: t.Logf})
	require.NoError(t, err)
	t.Logf("etcd %s from %s: %d files, %d MB (cached %v, %v)", bins.Version, bins.Source, len(bins.Files), bins.Size>>20, bins.Cached, bins.Build.Round(time.Millisecond))
	sys := System(Options{Binaries: bins.Files})
	img, err := clusters.BuildImage(ctx, sys)
	require.NoError(t, err)
	if cli, err := clusters.Docker(); err == nil {
		if ii, err := cli.ImageInspect(ctx, img.Tag); err == nil {
			t.Logf("node image %s: %d MB (cached %v, %v)", img.Tag, ii.Size>>20, img.Cached, img.Build.Round(time.Millisecond))
		}
	}
	start := time.Now()
	e, err := clusters.Start(ctx, sys, 3, clusters.Options{Image: img.Tag, Logf: t.Logf})
	require.NoError(t, err)
	up := time.Since(start)
	h := &harness{systemtest.New[*Client](t, e)}
	defer func() {
		for _, c := range h.Clients {
			c.Close()
		}
		if t.Failed() {
			for _, n := range e.Nodes() {
				logs, _ := e.Logs(context.Background(), n.ID)
				if len(logs) > 4000 {
					logs = logs[len(logs)-4000:]
				}
				t.Logf("log of %s:\n%s", n.ID, logs)
			}
		}
		assert.NoError(t, e.Teardown(context.Background()))
	}()
	members := NewMembers()
	var all []string
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Timeout: time.Second, Members: members})
		require.NoError(t, err)
		h.Clients[n.ID] = c
		all = append(all, n.ID)
	}

	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	leader, term, took := h.WaitLeader(wctx, all, 0)
	wcancel()
	t.Logf("leader %s in term %d, %v after the members were up (%v after Start was called)", leader, term, took.Round(time.Millisecond), (up + took).Round(time.Millisecond))
	v := h.Poll(ctx, all)
	for _, id := range systemtest.Without(all, leader) {
		assert.Equal(t, rundir.RoleFollower, v[id].Role, "%s", id)
		assert.Equal(t, leader, v[id].Leader, "%s follows", id)
	}

	// The register, through a follower. (Its connection may have been
	// tried before the member served: etcd accepts connections from its
	// start but answers only once it has joined the cluster, so the gRPC
	// handshake failed and waits out its reconnect backoff, up to 1 s.)
	follower := systemtest.Without(all, leader)[0]
	c := h.Clients[follower]
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	var o workloads.Outcome
	ok := waitFor(rctx, func() bool {
		o = c.Read(rctx, "never")
		return o.Type == history.OK
	})
	rcancel()
	require.True(t, ok, "no read through %s: %+v", follower, o)
	systemtest.RequireOutcome(t, history.OK, history.Value{}, c.Read(ctx, "never"), "read of a key never written")
	systemtest.RequireOutcome(t, history.Fail, history.PairValue(1, 2), c.CAS(ctx, "never", 1, 2), "cas of a key never written")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(1), c.Write(ctx, "x", 1), "write")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(1), c.Read(ctx, "x"), "read")
	systemtest.RequireOutcome(t, history.OK, history.PairValue(1, 2), c.CAS(ctx, "x", 1, 2), "cas 1->2")
	systemtest.RequireOutcome(t, history.Fail, history.PairValue(1, 3), c.CAS(ctx, "x", 1, 3), "cas 1->3 after 1->2")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), c.Read(ctx, "x"), "read after the cas")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), h.Clients[leader].Read(ctx, "x"), "read on the leader")

	// No clock control: the fault is reported unsupported.
	err = e.Clock(ctx, follower, time.Second, 1)
	assert.ErrorIs(t, err, errors.ErrUnsupported, "clock skew on etcd")

	// Kill the leader: another leads, in a higher term.
	killed := time.Now()
	require.NoError(t, e.Kill(ctx, leader))
	wctx, wcancel = context.WithTimeout(ctx, 30*time.Second)
	newLeader, newTerm, _ := h.WaitLeader(wctx, systemtest.Without(all, leader), term)
	wcancel()
	t.Logf("leader %s killed: %s leads in term %d after %v", leader, newLeader, newTerm, time.Since(killed).Round(time.Millisecond))
	assert.NotEqual(t, leader, newLeader)
	assert.Greater(t, newTerm, term)
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), h.Clients[newLeader].Read(ctx, "x"), "read under the new leader")
	o = h.Clients[leader].Write(ctx, "x", 9)
	assert.Equal(t, history.Fail, o.Type, "a write to a killed member was never sent: %+v", o)

	// The killed member restarts with its data and follows.
	require.NoError(t, e.Start(ctx, leader))
	rctx, rcancel = context.WithTimeout(ctx, 60*time.Second)
	var st workloads.Status
	ok = waitFor(rctx, func() bool {
		st, err = h.Clients[leader].Status(rctx)
		return err == nil && st.Role == rundir.RoleFollower && st.Leader == newLeader && st.Term == newTerm
	})
	rcancel()
	require.True(t, ok, "%s did not rejoin as a follower of %s in term %d: %+v %v", leader, newLeader, newTerm, st, err)
	logs, err := e.Logs(ctx, leader)
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`restarting local member`), string(logs), "%s restarted from its WAL", leader)
	// (The client's connection may still be waiting out gRPC's reconnect
	// backoff: its reads fail until it is back.)
	rctx, rcancel = context.WithTimeout(ctx, 10*time.Second)
	ok = waitFor(rctx, func() bool {
		o = h.Clients[leader].Read(rctx, "x")
		return o.Type == history.OK
	})
	rcancel()
	require.True(t, ok, "no read on the restarted member: %+v", o)
	assert.Equal(t, history.IntValue(2), o.Value, "read on the restarted member")

	// A member cut off from the others cannot complete a linearizable
	// get; a serializable get is its own answer.
	alone := systemtest.Without(all, newLeader)[0]
	serial, err := NewClient(alone, h.Clients[alone].Addr, ClientOptions{Timeout: time.Second, Members: members, ReadMode: ReadSerializable})
	require.NoError(t, err)
	defer serial.Close()
	require.NoError(t, e.Partition(ctx, []string{alone}))
	o = h.Clients[alone].Read(ctx, "x")
	assert.Equal(t, history.Fail, o.Type, "a linearizable get on a member cut off from its quorum: %+v", o)
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), serial.Read(ctx, "x"), "serializable get on the cut-off member")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(3), h.Clients[newLeader].Write(ctx, "x", 3), "write on the majority side")
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	ok = waitFor(pctx, func() bool {
		st, err = h.Clients[alone].Status(pctx)
		return err == nil && st.Role != rundir.RoleLeader && st.Leader == ""
	})
	pcancel()
	require.True(t, ok, "%s, partitioned, still %+v %v", alone, st, err)
	o = h.Clients[alone].Write(ctx, "x", 4)
	assert.Equal(t, history.Fail, o.Type, "a write on a member that knows no leader is refused: %+v", o)
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), serial.Read(ctx, "x"), "stale serializable get on the cut-off member")
	require.NoError(t, e.Heal(ctx))
	hctx, hcancel := context.WithTimeout(ctx, 60*time.Second)
	defer hcancel()
	ok = waitFor(hctx, func() bool {
		o = h.Clients[alone].Read(hctx, "x")
		return o.Type == history.OK
	})
	require.True(t, ok, "%s serves no linearizable gets after the heal: %+v", alone, o)
	assert.Equal(t, history.IntValue(3), o.Value)

	// A paused leader is replaced; resumed, it follows the new one. (Its
	// own status is unanswered while it is stopped.)
	wctx, wcancel = context.WithTimeout(ctx, 30*time.Second)
	leader, term, _ = h.WaitLeader(wctx, all, 0)
	wcancel()
	paused := time.Now()
	require.NoError(t, e.Pause(ctx, leader))
	wctx, wcancel = context.WithTimeout(ctx, 30*time.Second)
	next, nextTerm, _ := h.WaitLeader(wctx, systemtest.Without(all, leader), term)
	wcancel()
	t.Logf("leader %s paused: %s leads in term %d after %v", leader, next, nextTerm, time.Since(paused).Round(time.Millisecond))
	o = h.Clients[leader].Write(ctx, "x", 5)
	assert.Equal(t, history.Info, o.Type, "a write to a paused member times out after it was sent: %+v", o)
	require.NoError(t, e.Resume(ctx, leader))
	rctx, rcancel = context.WithTimeout(ctx, 30*time.Second)
	ok = waitFor(rctx, func() bool {
		st, err = h.Clients[leader].Status(rctx)
		return err == nil && st.Role == rundir.RoleFollower && st.Leader == next && st.Term >= nextTerm
	})
	rcancel()
	require.True(t, ok, "%s did not follow %s after its resume: %+v %v", leader, next, st, err)
}
