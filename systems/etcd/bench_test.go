package etcd

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/systemtest"
)

// TestFailoverTimes times, on SPLITBRAIN_ETCD_NODES members (5), the
// start to an agreed leader, then SPLITBRAIN_ETCD_KILLS (20) times a
// leader kill to a new agreed leader among the rest, each killed member
// rejoined before the next kill, and a leader cut off by a partition to a
// new leader on the majority side. Opt in with SPLITBRAIN_ETCD_BENCH=1.
func TestFailoverTimes(t *testing.T) {
	systemtest.NeedEngine(t)
	if os.Getenv("SPLITBRAIN_ETCD_BENCH") == "" {
		t.Skip("skipping: set SPLITBRAIN_ETCD_BENCH=1 to time elections and failovers")
	}
	nodes, kills := systemtest.EnvInt("SPLITBRAIN_ETCD_NODES", 5), systemtest.EnvInt("SPLITBRAIN_ETCD_KILLS", 20)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bins, err := BuildBinaries(ctx, BinaryOptions{Version: os.Getenv("SPLITBRAIN_ETCD_VERSION"), Logf: t.Logf})
	require.NoError(t, err)
	sys := System(Options{Binaries: bins.Files})
	img, err := clusters.BuildImage(ctx, sys)
	require.NoError(t, err)

	start := time.Now()
	e, err := clusters.Start(ctx, sys, nodes, clusters.Options{Image: img.Tag, Logf: t.Logf})
	require.NoError(t, err)
	up := time.Since(start)
	h := &harness{systemtest.New[*Client](t, e)}
	defer func() {
		for _, c := range h.Clients {
			c.Close()
		}
		e.Teardown(context.Background())
	}()
	members := NewMembers()
	var all []string
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Timeout: time.Second, Members: members})
		require.NoError(t, err)
		h.Clients[n.ID] = c
		all = append(all, n.ID)
	}
	leader, term, _ := h.WaitLeader(ctx, all, 0)
	t.Logf("etcd %s, %d members: containers up in %v, an agreed leader (%s, term %d) %v after Start",
		bins.Version, nodes, up.Round(time.Millisecond), leader, term, time.Since(start).Round(time.Millisecond))

	var times []time.Duration
	for i := range kills {
		killed := time.Now()
		require.NoError(t, e.Kill(ctx, leader))
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		next, nextTerm, _ := h.WaitLeader(wctx, systemtest.Without(all, leader), term)
		wcancel()
		d := time.Since(killed)
		times = append(times, d)
		t.Logf("kill %d: %s (term %d) -> %s (term %d) in %v", i+1, leader, term, next, nextTerm, d.Round(time.Millisecond))
		require.NoError(t, e.Start(ctx, leader))
		rctx, rcancel := context.WithTimeout(ctx, time.Minute)
		ok := waitFor(rctx, func() bool {
			st, err := h.Clients[leader].Status(rctx)
			return err == nil && st.Role == rundir.RoleFollower && st.Leader == next
		})
		rcancel()
		require.True(t, ok, "%s did not rejoin", leader)
		leader, term = next, nextTerm
	}
	t.Logf("leader kill to a new agreed leader over %d kills: %s", len(times), systemtest.Summary(times))

	// The leader cut off: the others hear no heartbeats for an election
	// timeout, not a closed connection.
	cut := time.Now()
	require.NoError(t, e.Partition(ctx, []string{leader}))
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	next, nextTerm, _ := h.WaitLeader(wctx, systemtest.Without(all, leader), term)
	wcancel()
	t.Logf("leader %s (term %d) partitioned: %s leads in term %d after %v", leader, term, next, nextTerm, time.Since(cut).Round(time.Millisecond))
	rctx, rcancel := context.WithTimeout(ctx, time.Minute)
	defer rcancel()
	ok := waitFor(rctx, func() bool {
		st, err := h.Clients[leader].Status(rctx)
		return err == nil && st.Role != rundir.RoleLeader
	})
	require.True(t, ok, "the cut-off leader %s never stepped down", leader)
	t.Logf("the cut-off leader stepped down %v after the cut (CheckQuorum)", time.Since(cut).Round(time.Millisecond))
	require.NoError(t, e.Heal(ctx))
}

// TestThroughput measures the register workload of splitbrain run: SPLITBRAIN_ETCD_CLIENTS (10, splitbrain run's
// default concurrency) processes bound round robin to 5 members, each
// doing reads, writes and cas on 5 keys as fast as they go for 10 s, in
// both read modes. Opt in with SPLITBRAIN_ETCD_BENCH=1.
func TestThroughput(t *testing.T) {
	systemtest.NeedEngine(t)
	if os.Getenv("SPLITBRAIN_ETCD_BENCH") == "" {
		t.Skip("skipping: set SPLITBRAIN_ETCD_BENCH=1 to measure client throughput")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sys, _, err := Prepare(ctx, Options{Version: os.Getenv("SPLITBRAIN_ETCD_VERSION")}, t.Logf)
	require.NoError(t, err)
	e, err := clusters.Start(ctx, sys, systemtest.EnvInt("SPLITBRAIN_ETCD_NODES", 5), clusters.Options{Logf: t.Logf})
	require.NoError(t, err)
	defer e.Teardown(context.Background())
	h := &harness{systemtest.New[*Client](t, e)}
	members := NewMembers()
	var all []string
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Members: members})
		require.NoError(t, err)
		h.Clients[n.ID] = c
		all = append(all, n.ID)
		defer c.Close()
	}
	h.WaitLeader(ctx, all, 0)
	for _, mode := range []string{ReadLinearizable, ReadSerializable} {
		systemtest.Throughput(ctx, t, "read mode "+mode, e, Dial(ClientOptions{ReadMode: mode, Members: members}), systemtest.EnvInt("SPLITBRAIN_ETCD_CLIENTS", 10), 10*time.Second)
	}
}
