package zookeeper

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/systemtest"
	"github.com/splitbrain/splitbrain/workloads"
)

// TestFailoverTimes measures an ensemble of SPLITBRAIN_ZK_NODES servers
// (5 unless set): from Start to an agreed leader, then
// SPLITBRAIN_ZK_KILLS (20) leader kills, each timed from the kill to a
// new leader a majority agrees on, the killed server restarted and
// rejoined before the next. Opt in with SPLITBRAIN_ZK_BENCH=1 (minutes).
func TestFailoverTimes(t *testing.T) {
	needEngine(t)
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

// TestThroughput measures the register clients on their own (not yet
// through the harness): SPLITBRAIN_ZK_CLIENTS (10, splitbrain run's
// default concurrency) processes bound round robin to 5 servers, each
// doing reads, writes and cas on 5 keys as fast as they go for 10 s, in
// both read modes. Opt in with SPLITBRAIN_ZK_BENCH=1.
func TestThroughput(t *testing.T) {
	needEngine(t)
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
	for _, mode := range []string{ReadSync, ReadLocal} {
		procs := systemtest.EnvInt("SPLITBRAIN_ZK_CLIENTS", 10)
		var mu sync.Mutex
		counts := map[history.Type]int{}
		var wg sync.WaitGroup
		start := time.Now()
		end := start.Add(10 * time.Second)
		nodes := e.Nodes()
		for p := range procs {
			n := nodes[p%len(nodes)]
			c, err := NewClient(n.ID, n.Addr, ClientOptions{ReadMode: mode, Epochs: epochs})
			require.NoError(t, err)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := rand.New(rand.NewPCG(uint64(p), 1))
				for time.Now().Before(end) {
					key := "k" + strconv.Itoa(r.IntN(5))
					var o workloads.Outcome
					switch r.IntN(3) {
					case 0:
						o = c.Read(ctx, key)
					case 1:
						o = c.Write(ctx, key, r.Int64N(5))
					default:
						o = c.CAS(ctx, key, r.Int64N(5), r.Int64N(5))
					}
					mu.Lock()
					counts[o.Type]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		total := counts[history.OK] + counts[history.Fail] + counts[history.Info]
		t.Logf("clock faults %v, read mode %s, %d clients: %.0f ops/s (ok %d, fail %d, info %d)", sys.Clock != "", mode, procs,
			float64(total)/time.Since(start).Seconds(), counts[history.OK], counts[history.Fail], counts[history.Info])
	}
}
