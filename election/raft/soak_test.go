package raft

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/simnet"
)

// TestRandomFaultsKeepSafety runs the faithful build under random kills,
// restarts, partitions, one-way cuts, pauses, message delays and clock
// rates within the lease's drift bound, duplicated and delayed messages, with a client writing unique keys
// and reading them back. It checks election safety, that no read is stale,
// that committed logs never diverge, and that every acknowledged write
// survives to the end.
func TestRandomFaultsKeepSafety(t *testing.T) {
	dur := 30 * time.Second
	if testing.Short() {
		dur = 5 * time.Second
	}
	for _, size := range []int{3, 5} {
		for _, lease := range []bool{false, true} {
			for seed := int64(1); seed <= 10; seed++ {
				t.Run(fmt.Sprintf("n%d/lease=%v/seed%d", size, lease, seed), func(t *testing.T) {
					soak(t, size, lease, seed, dur)
				})
			}
		}
	}
}

func soak(t *testing.T, size int, lease bool, seed int64, dur time.Duration) {
	soakBug(t, size, lease, seed, dur, "")
}

func soakBug(t *testing.T, size int, lease bool, seed int64, dur time.Duration, bug string) {
	c := newCluster(t, clusterOpts{size: size, seed: seed, lease: lease, bugs: bugList(bug), minDelay: time.Millisecond, maxDelay: 8 * time.Millisecond})
	rng := rand.New(rand.NewSource(seed))
	ids := c.IDs()
	dead := map[string]bool{}
	paused := map[string]bool{}
	dup := false
	acked := map[string]int64{}
	var keys []string
	end := c.Now().Add(dur)
	for i := 0; c.Now().Before(end); i++ {
		id := ids[rng.Intn(len(ids))]
		switch rng.Intn(14) {
		case 0:
			if !dead[id] && len(dead) < (size-1)/2 {
				c.Kill(id)
				dead[id] = true
			}
		case 1, 2:
			for d := range dead {
				c.Restart(d)
				delete(dead, d)
			}
		case 3:
			c.Isolate(id)
		case 4:
			perm := rng.Perm(size)
			var a, b []string
			for j, p := range perm {
				if j < size/2 {
					a = append(a, ids[p])
				} else {
					b = append(b, ids[p])
				}
			}
			c.Partition(a, b)
		case 5:
			c.Cut(id, ids[rng.Intn(len(ids))])
		case 6, 7:
			c.Heal()
		case 8:
			if !paused[id] {
				c.Pause(id)
				paused[id] = true
			} else {
				c.Resume(id)
				delete(paused, id)
			}
		case 9:
			c.SetRate(id, 0.9+0.2*rng.Float64())
		case 10:
			if dup = !dup; dup {
				c.SetHook(simnet.DuplicateHook)
			} else {
				c.SetHook(nil)
			}
		case 11:
			c.SetLinkHook(id, ids[rng.Intn(len(ids))], simnet.DelayHook(time.Duration(rng.Intn(400))*time.Millisecond))
		}
		c.Run(time.Duration(20+rng.Intn(200)) * time.Millisecond)

		// client: write a fresh key to whoever says it leads, read an old one
		if ls := c.Leaders(); len(ls) > 0 {
			lead := ls[rng.Intn(len(ls))]
			key := fmt.Sprintf("k%d", i)
			res, ok := c.Do(lead, election.Request{Op: election.OpWrite, Key: key, Value: int64(i)}, 300*time.Millisecond)
			if ok && res.Err == nil {
				acked[key] = int64(i)
				keys = append(keys, key)
			}
			if len(keys) > 0 {
				k := keys[rng.Intn(len(keys))]
				res, ok := c.Do(lead, election.Request{Op: election.OpRead, Key: k}, 300*time.Millisecond)
				if ok && res.Err == nil {
					require.True(t, res.Exists && res.Value == acked[k], "stale read of %s on %s at %v: %+v", k, lead, c.Now(), res)
				}
			}
		}
		require.Empty(t, c.SafetyViolations(), "election safety")
		checkLogs(t, c)
		if lease && bug == "" {
			checkLeases(t, c)
		}
	}
	c.Heal()
	c.SetHook(nil)
	for _, id := range ids {
		c.SetRate(id, 1)
		if paused[id] {
			c.Resume(id)
		}
		if dead[id] {
			c.Restart(id)
		}
	}
	c.waitLeader(t, 5*time.Second)
	c.Run(time.Second)
	lead := c.waitLeader(t, 5*time.Second)
	checkLogs(t, c)
	for k, v := range acked {
		res, ok := c.read(lead, k)
		require.True(t, ok)
		require.NoError(t, res.Err)
		assert.True(t, res.Exists && res.Value == v, "acknowledged write %s=%d lost", k, v)
	}
	t.Logf("%d acknowledged writes, %d terms", len(acked), c.raft(lead).Status().Term)
	assert.Empty(t, c.Errors())
}

// checkLogs asserts the State Machine Safety property on live nodes: their
// committed prefixes agree, and no node overwrote a committed entry.
func checkLogs(t *testing.T, c *cluster) {
	t.Helper()
	var nodes []*Node
	for _, id := range c.IDs() {
		if n := c.raft(id); n != nil {
			require.Zero(t, n.Violations(), id)
			nodes = append(nodes, n)
		}
	}
	for i := 1; i < len(nodes); i++ {
		a, b := nodes[0], nodes[i]
		upto := min(a.commit, b.commit)
		require.Equal(t, a.entries[:upto+1], b.entries[:upto+1], "committed logs of %s and %s diverge", a.id, b.id)
	}
}

// TestDeterministic: the same seed gives the same run, event for event.
func TestDeterministic(t *testing.T) {
	run := func() []simnet.Event {
		c := newCluster(t, clusterOpts{size: 5, seed: 9, lease: true, minDelay: time.Millisecond, maxDelay: 20 * time.Millisecond})
		lead := c.waitLeader(t, 3*time.Second)
		c.write(lead, "x", 1)
		c.Kill(lead)
		c.Run(2 * time.Second)
		return c.Events()
	}
	a, b := run(), run()
	require.NotEmpty(t, a)
	assert.Equal(t, a, b)
}

// checkLeases asserts lease safety in true time: no other node becomes
// leader of a later term before a lease it saw announced has run out.
// Clock rates only change between soak steps and stay within [0.9, 1.1],
// so mapping a lease end through the rate at announcement time is off by
// well under the protocol's margin.
func checkLeases(t *testing.T, c *cluster) {
	t.Helper()
	type start struct {
		node string
		term uint64
		at   time.Time
	}
	var starts []start
	evs := c.Events()
	for _, e := range evs {
		if e.Kind == "role" && e.Role == election.Leader {
			starts = append(starts, start{e.Node, e.Term, e.At})
		}
	}
	for _, e := range evs {
		if e.Kind != "lease" {
			continue
		}
		end := e.TrueTime(e.LeaseUntil)
		for _, s := range starts {
			if s.node != e.Node && s.term > e.Term && s.at.Before(end) {
				require.Failf(t, "lease overlap", "%s's lease of term %d runs until %v, but %s led term %d from %v",
					e.Node, e.Term, end, s.node, s.term, s.at)
			}
		}
	}
}
