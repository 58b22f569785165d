package zookeeper

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

// TestFailoverTimes measures an ensemble of SPLITBRAIN_ZK_NODES servers
// (5 unless set): from Start to an agreed leader, then
// SPLITBRAIN_ZK_KILLS (20) leader kills, each timed from the kill to a
// new leader a majority agrees on, the killed server restarted and
// rejoined before the next. Opt in with SPLITBRAIN_ZK_BENCH=1 (minutes).
func TestFailoverTimes(t *testing.T) {
	systemtest.NeedEngine(t)
	if os.Getenv("SPLITBRAIN_ZK_BENCH") == "" {
		t.Skip("skipping: set SPLITBRAIN_ZK_BENCH=1 to time elections and failovers")
	}
	nodes, kills := systemtest.EnvInt("SPLITBRAIN_ZK_NODES", 5), systemtest.EnvInt("SPLITBRAIN_ZK_KILLS", 20)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	base, err := BuildBase(ctx, BaseOptions{Logf: t.Logf})
	require.NoError(t, err)
	sys := System(Options{BaseImage: base.Tag})
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
	epochs := NewEpochs()
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Timeout: time.Second, Epochs: epochs})
		require.NoError(t, err)
		h.Clients[n.ID] = c
	}
	all := h.IDs()
	leader, epoch, _ := h.WaitLeader(ctx, all, 0)
	t.Logf("%d servers: containers up in %v, an agreed leader (%s, epoch %d) %v after Start", nodes, up.Round(time.Millisecond), leader, epoch, time.Since(start).Round(time.Millisecond))

	var times []time.Duration
	for i := range kills {
		killed := time.Now()
		require.NoError(t, e.Kill(ctx, leader))
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		next, nextEpoch, _ := h.WaitLeader(wctx, systemtest.Without(all, leader), epoch)
		wcancel()
		d := time.Since(killed)
		times = append(times, d)
		t.Logf("kill %d: %s (epoch %d) -> %s (epoch %d) in %v", i+1, leader, epoch, next, nextEpoch, d.Round(time.Millisecond))
		require.NoError(t, e.Start(ctx, leader))
		// The next kill only once the killed server follows again.
		for {
			st, err := h.Clients[leader].Status(ctx)
			if err == nil && st.Role == rundir.RoleFollower && st.Leader == next {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s did not rejoin", leader)
			case <-time.After(50 * time.Millisecond):
			}
		}
		leader, epoch = next, nextEpoch
	}
	t.Logf("leader kill to a new agreed leader over %d kills: %s", len(times), systemtest.Summary(times))

	// The leader cut off from the others: they notice after syncLimit
	// ticks of silence, not at once as with a kill's closed connections.
	times = times[:0]
	for i := range systemtest.EnvInt("SPLITBRAIN_ZK_PARTITIONS", 5) {
		cut := time.Now()
		require.NoError(t, e.Partition(ctx, []string{leader}))
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		next, nextEpoch, _ := h.WaitLeader(wctx, systemtest.Without(all, leader), epoch)
		wcancel()
		d := time.Since(cut)
		times = append(times, d)
		t.Logf("partition %d: %s (epoch %d) cut off -> %s (epoch %d) in %v", i+1, leader, epoch, next, nextEpoch, d.Round(time.Millisecond))
		require.NoError(t, e.Heal(ctx))
		for {
			st, err := h.Clients[leader].Status(ctx)
			if err == nil && st.Role == rundir.RoleFollower && st.Leader == next {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s did not rejoin after the heal", leader)
			case <-time.After(50 * time.Millisecond):
			}
		}
		leader, epoch = next, nextEpoch
	}
	if len(times) > 0 {
		t.Logf("leader cut off to a new agreed leader over %d partitions: %s", len(times), systemtest.Summary(times))
	}
}

// TestThroughput measures the register workload of splitbrain run: SPLITBRAIN_ZK_CLIENTS (10, splitbrain run's
// default concurrency) processes bound round robin to 5 servers, each
// doing reads, writes and cas on 5 keys as fast as they go for 10 s, in
// both read modes. Opt in with SPLITBRAIN_ZK_BENCH=1.
func TestThroughput(t *testing.T) {
	systemtest.NeedEngine(t)
	if os.Getenv("SPLITBRAIN_ZK_BENCH") == "" {
		t.Skip("skipping: set SPLITBRAIN_ZK_BENCH=1 to measure client throughput")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base, err := BuildBase(ctx, BaseOptions{Logf: t.Logf})
	require.NoError(t, err)
	// SPLITBRAIN_ZK_NOCLOCK=1: without libfaketime, to see what it costs.
	sys := System(Options{BaseImage: base.Tag, NoClock: os.Getenv("SPLITBRAIN_ZK_NOCLOCK") != ""})
	e, err := clusters.Start(ctx, sys, systemtest.EnvInt("SPLITBRAIN_ZK_NODES", 5), clusters.Options{Logf: t.Logf})
	require.NoError(t, err)
	defer e.Teardown(context.Background())
	h := &harness{systemtest.New[*Client](t, e)}
	epochs := NewEpochs()
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Epochs: epochs})
		require.NoError(t, err)
		h.Clients[n.ID] = c
		defer c.Close()
	}
	h.WaitLeader(ctx, h.IDs(), 0)
	for _, mode := range []string{ReadQuorum, ReadSync, ReadLocal} {
		systemtest.Throughput(ctx, t, "read mode "+mode, e, Dial(ClientOptions{ReadMode: mode, Epochs: epochs}), systemtest.EnvInt("SPLITBRAIN_ZK_CLIENTS", 10), 10*time.Second)
	}
}
