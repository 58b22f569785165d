package zookeeper

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/systemtest"
)

// TestSyncGap looks for the known gap in ZooKeeper's sync: a leader
// paused long enough to be replaced still answers syncs itself, from its
// own copy, for the moment after its resume until it notices it lost its
// followers. A client connected to it reads, synced, a value older than a
// write the new leader had acknowledged before the read began: not
// linearizable, and not the harness's doing. It reports what it sees
// rather than failing (the window is a fraction of a second); opt in
// with SPLITBRAIN_ZK_GAP=1 (SPLITBRAIN_ZK_ROUNDS, 6 by default). Seen
// here: stale synced reads in 1-2 of 10 rounds, up to 186 in one window;
// with SPLITBRAIN_ZK_GAP=partition none in 10 (the cut-off leader had
// stepped down before the others committed).
func TestSyncGap(t *testing.T) {
	systemtest.NeedEngine(t)
	if os.Getenv("SPLITBRAIN_ZK_GAP") == "" {
		t.Skip("skipping: set SPLITBRAIN_ZK_GAP=1 to look for stale synced reads from a resumed leader")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	base, err := BuildBase(ctx, BaseOptions{Logf: t.Logf})
	require.NoError(t, err)
	// SPLITBRAIN_ZK_NOCLOCK=1: without zkclock and libfaketime, to rule
	// them out.
	e, err := clusters.Start(ctx, System(Options{BaseImage: base.Tag, NoClock: os.Getenv("SPLITBRAIN_ZK_NOCLOCK") != ""}), 3, clusters.Options{Logf: t.Logf})
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
	all := h.IDs()
	// SPLITBRAIN_ZK_GAP=partition: cut the leader off instead of pausing
	// it, and read from it while it is cut off.
	partition := os.Getenv("SPLITBRAIN_ZK_GAP") == "partition"
	leader, epoch, _ := h.WaitLeader(ctx, all, 0)
	v, rounds, staleRounds := int64(0), systemtest.EnvInt("SPLITBRAIN_ZK_ROUNDS", 6), 0
	for round := range rounds {
		v++
		writeOK(ctx, t, h.Clients[leader], v)
		// A client of the leader with its session ready.
		cl, err := NewClient(leader, h.Clients[leader].Addr, ClientOptions{Epochs: epochs})
		require.NoError(t, err)
		systemtest.RequireOutcome(t, history.OK, history.IntValue(v), cl.Read(ctx, "x"), "synced read on the leader")
		if partition {
			require.NoError(t, e.Partition(ctx, []string{leader}))
		} else {
			require.NoError(t, e.Pause(ctx, leader))
		}
		next, nextEpoch, _ := h.WaitLeader(ctx, systemtest.Without(all, leader), epoch)
		v++
		writeOK(ctx, t, h.Clients[next], v)
		if partition {
			// Read while it is still cut off, then heal.
		} else {
			require.NoError(t, e.Resume(ctx, leader))
		}
		var stale, fresh, failed int
		for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
			switch r := cl.Read(ctx, "x"); {
			case r.Type == history.OK && r.Value.Int < v:
				stale++
			case r.Type == history.OK:
				fresh++
			default:
				failed++
			}
		}
		cl.Close()
		if partition {
			require.NoError(t, e.Heal(ctx))
		}
		if stale > 0 {
			staleRounds++
		}
		t.Logf("round %d: %s paused or cut off, %s leads and took x=%d; then synced reads on %s: %d stale, %d fresh, %d failed",
			round+1, leader, next, v, leader, stale, fresh, failed)
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		for {
			st, err := h.Clients[leader].Status(wctx)
			if err == nil && st.Role == rundir.RoleFollower {
				break
			}
			select {
			case <-wctx.Done():
				t.Fatalf("%s does not follow after its resume", leader)
			case <-time.After(50 * time.Millisecond):
			}
		}
		wcancel()
		leader, epoch = next, nextEpoch
	}
	t.Logf("stale synced reads from a resumed leader in %d of %d rounds", staleRounds, rounds)
}

// writeOK writes x=v through c until it is ok: a client whose server just
// rejoined may need a second to have a session again. Only definite fails
// are retried, so no write is left pending.
func writeOK(ctx context.Context, t *testing.T, c *Client, v int64) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		o := c.Write(wctx, "x", v)
		if o.Type == history.OK {
			return
		}
		require.Equal(t, history.Fail, o.Type, "write x=%d through %s: %+v", v, c.Node, o)
		select {
		case <-wctx.Done():
			t.Fatalf("write x=%d through %s: %+v", v, c.Node, o)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
