package redis

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/systemtest"
)

// TestFailoverTimes times, on six nodes (three masters with a replica
// each), the cluster's creation, then SPLITBRAIN_REDIS_PAUSES (10) times
// a master paused to its replica reporting itself master of the shard in
// a higher epoch (the shards in turn; each paused master resumed and back
// as a replica before the next pause), then a master cut off by a
// partition to its replica's promotion. Opt in with SPLITBRAIN_REDIS_BENCH=1.
func TestFailoverTimes(t *testing.T) {
	systemtest.NeedEngine(t)
	if os.Getenv("SPLITBRAIN_REDIS_BENCH") == "" {
		t.Skip("skipping: set SPLITBRAIN_REDIS_BENCH=1 to time failovers")
	}
	pauses := systemtest.EnvInt("SPLITBRAIN_REDIS_PAUSES", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	h := startCluster(ctx, t, Options{}, 6, 1)
	all := h.IDs()
	groups := []string{"0-5460", "5461-10921", "10922-16383"}

	var times []time.Duration
	for i := range pauses {
		g := groups[i%len(groups)]
		v := h.poll(ctx, all)
		master, term := leaderOf(v, g)
		require.NotEmpty(t, master, "no master of %s: %+v", g, v)
		paused := time.Now()
		require.NoError(t, h.E.Pause(ctx, master))
		v, _ = h.waitView(ctx, "a replica promoted", time.Minute, systemtest.Without(all, master), func(v systemtest.View) bool {
			l, tm := leaderOf(v, g)
			return l != "" && l != master && tm > term
		})
		d := time.Since(paused)
		times = append(times, d)
		next, nextTerm := leaderOf(v, g)
		t.Logf("pause %d: %s (epoch %d) -> %s (epoch %d) in %v", i+1, master, term, next, nextTerm, d.Round(time.Millisecond))
		require.NoError(t, h.E.Resume(ctx, master))
		h.waitView(ctx, "the old master back as a replica", time.Minute, all, func(v systemtest.View) bool {
			return v[master].Role == rundir.RoleFollower && v[master].Leader == next
		})
	}
	t.Logf("master pause to its replica's promotion over %d pauses: %s", len(times), systemtest.Summary(times))

	v := h.poll(ctx, all)
	master, term := leaderOf(v, groups[0])
	var key string // a key of the cut-off master's shard
	for k := 0; key == ""; k++ {
		if keyslot(ctx, t, h.eps[0], KeyPrefix+fmt.Sprintf("p%d", k)) <= 5460 {
			key = fmt.Sprintf("p%d", k)
		}
	}
	cut := time.Now()
	require.NoError(t, h.E.Partition(ctx, []string{master}))
	// The cut-off master takes writes until it has missed the majority
	// of masters for a node timeout (cluster_state fail, CLUSTERDOWN);
	// those writes are lost when its replica is promoted on the other
	// side.
	c := h.Clients[master]
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	acked := 0
	for {
		o := c.Write(wctx, key, int64(acked))
		if o.Type != history.OK {
			t.Logf("the cut-off master %s acknowledged %d writes, then refused them %v after the cut: %+v", master, acked, time.Since(cut).Round(time.Millisecond), o)
			break
		}
		acked++
		if wctx.Err() != nil {
			t.Fatalf("the cut-off master still takes writes")
		}
	}
	h.waitView(ctx, "a replica promoted", time.Minute, systemtest.Without(all, master), func(v systemtest.View) bool {
		l, tm := leaderOf(v, groups[0])
		return l != "" && l != master && tm > term
	})
	t.Logf("master %s (epoch %d) cut off: its replica promoted %v after the cut", master, term, time.Since(cut).Round(time.Millisecond))
	require.NoError(t, h.E.Heal(ctx))
	_, took := h.waitView(ctx, "the cut-off master back as a replica", time.Minute, all, func(v systemtest.View) bool {
		return v[master].Role == rundir.RoleFollower
	})
	t.Logf("healed: %s a replica after %v", master, took.Round(time.Millisecond))
	// Asynchronous replication: what the cut-off master acknowledged
	// after the cut never reached the replica promoted in its place.
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	o := h.Clients[master].Read(rctx, key)
	for ; o.Type != history.OK && rctx.Err() == nil; o = h.Clients[master].Read(rctx, key) {
		time.Sleep(50 * time.Millisecond) // the healed node's view of the cluster settling
	}
	require.Equal(t, history.OK, o.Type, "%+v", o)
	t.Logf("after the heal %s holds %v; the last write acknowledged was %d", key, o.Value, acked-1)
}

// TestThroughput measures the register workload of splitbrain run on six
// nodes: SPLITBRAIN_REDIS_CLIENTS (10, splitbrain run's default
// concurrency) processes bound round robin to the nodes (replicas
// redirect every operation to a master), reads, writes and cas on 5 keys
// as fast as they go for 10 s, with each AppendFsync. Opt in with
// SPLITBRAIN_REDIS_BENCH=1.
func TestThroughput(t *testing.T) {
	systemtest.NeedEngine(t)
	if os.Getenv("SPLITBRAIN_REDIS_BENCH") == "" {
		t.Skip("skipping: set SPLITBRAIN_REDIS_BENCH=1 to measure client throughput")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, fsync := range []string{FsyncAlways, FsyncEverysec} {
		t.Run(fsync, func(t *testing.T) {
			h := startCluster(ctx, t, Options{AppendFsync: fsync}, 6, 1)
			systemtest.Throughput(ctx, t, fmt.Sprintf("appendfsync %s", fsync), h.E, Dial(ClientOptions{}), systemtest.EnvInt("SPLITBRAIN_REDIS_CLIENTS", 10), 10*time.Second)
		})
	}
}
