package raft

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/bugs"
)

// Each planted bug has a deterministic scenario (the catalogue recipe in
// /work/shared/reference/election-protocols-and-bugs.md §4.1) that returns a
// description of the invariant break it sees, or "" when the invariant held.
// The faithful build must keep the invariant; the buggy build must break it.
var bugScenarios = map[string]func(t *testing.T, bug string) string{
	bugVoteTwice:       scenarioVoteTwice,
	bugVoteVolatile:    scenarioVoteVolatile,
	bugQuorumOffByOne:  scenarioQuorumOffByOne,
	bugNoUpToDate:      scenarioNoUpToDate,
	bugLocalRead:       scenarioLocalRead,
	bugLeaseNoDrift:    scenarioLeaseNoDrift,
	bugAckBeforeCommit: scenarioAckBeforeCommit,
}

func TestPlantedBugs(t *testing.T) {
	for _, b := range bugs.All {
		if b.Algo != "raft" {
			continue
		}
		t.Run(b.Name, func(t *testing.T) {
			scenario, ok := bugScenarios[b.Name]
			require.True(t, ok, "no scenario for %s", b.Name)
			t.Run("faithful", func(t *testing.T) {
				assert.Empty(t, scenario(t, ""), "the faithful build keeps the invariant")
			})
			t.Run("buggy", func(t *testing.T) {
				broken := scenario(t, b.Name)
				assert.NotEmpty(t, broken, "the bug must break the invariant")
				t.Log(broken)
			})
		})
	}
}

func bugList(bug string) []string {
	if bug == "" {
		return nil
	}
	return []string{bug}
}

// twoLeaders reports terms with more than one leader.
func twoLeaders(c *cluster) string {
	if v := c.SafetyViolations(); len(v) > 0 {
		return fmt.Sprintf("election safety: term %d led by %v", v[0], c.Leader(v[0]))
	}
	return ""
}

// scenarioVoteTwice: 5 nodes; the leader dies and two followers with the
// same timer campaign in the same term; the voters see both requests.
func scenarioVoteTwice(t *testing.T, bug string) string {
	c := newCluster(t, clusterOpts{size: 5, bugs: bugList(bug), fix: map[string]float64{"n1": 0, "n2": 0.9, "n3": 0.9, "n4": 0.9, "n5": 0.9}})
	require.Equal(t, "n1", c.waitLeader(t, time.Second))
	c.knobs["n2"].fix, c.knobs["n3"].fix = 0, 0
	c.Run(200 * time.Millisecond)
	c.Kill("n1")
	c.Run(time.Second)
	require.NotEmpty(t, c.Leaders(), "someone took over")
	return twoLeaders(c)
}

// scenarioVoteVolatile: n1 votes for n2 in term T, restarts, and is asked
// by n3 (which never heard of T) for a vote in T.
func scenarioVoteVolatile(t *testing.T, bug string) string {
	c := newCluster(t, clusterOpts{bugs: bugList(bug), fix: map[string]float64{"n1": 0, "n2": 0.9, "n3": 0.9}})
	require.Equal(t, "n1", c.waitLeader(t, time.Second))
	c.Run(100 * time.Millisecond)
	c.Isolate("n3")
	c.Kill("n1")
	c.Restart("n1")
	c.SetLinkHook("n2", "n1", dropTypes(msgApp)) // n1 keeps n3's log
	c.raft("n2").Campaign()
	c.Run(20 * time.Millisecond)
	require.Equal(t, []string{"n2"}, c.Leaders())
	term := c.raft("n2").Status().Term
	require.Equal(t, "n2", c.raft("n1").vote)

	c.Kill("n1")
	c.Restart("n1")
	c.Heal()
	c.CutBoth("n2", "n1")
	c.CutBoth("n2", "n3")
	c.raft("n3").Campaign()
	c.Run(20 * time.Millisecond)
	if v := twoLeaders(c); v != "" {
		return v
	}
	assert.Equal(t, []string{"n2"}, c.Leader(term))
	return ""
}

// scenarioQuorumOffByOne: 5 nodes split 3|2; the majority acknowledges a
// write; the minority must not elect a leader that serves the old value.
func scenarioQuorumOffByOne(t *testing.T, bug string) string {
	c := newCluster(t, clusterOpts{size: 5, bugs: bugList(bug), fix: map[string]float64{"n1": 0, "n2": 0.9, "n3": 0.9, "n4": 0.5, "n5": 0.9}})
	require.Equal(t, "n1", c.waitLeader(t, time.Second))
	res, ok := c.write("n1", "x", 1)
	require.True(t, ok)
	require.NoError(t, res.Err)
	c.Run(100 * time.Millisecond)
	c.Partition([]string{"n1", "n2", "n3"}, []string{"n4", "n5"})
	res, ok = c.write("n1", "x", 2)
	require.True(t, ok)
	require.NoError(t, res.Err)
	c.Run(1500 * time.Millisecond)
	for _, id := range []string{"n4", "n5"} {
		res, ok := c.read(id, "x")
		if ok && res.Err == nil && (!res.Exists || res.Value != 2) {
			return fmt.Sprintf("stale read on minority leader %s: x=%d exists=%v after x=2 was acknowledged", id, res.Value, res.Exists)
		}
	}
	return ""
}

// scenarioNoUpToDate: n3 misses an acknowledged write, the leader dies,
// and n3 campaigns first.
func scenarioNoUpToDate(t *testing.T, bug string) string {
	c := newCluster(t, clusterOpts{bugs: bugList(bug), fix: map[string]float64{"n1": 0, "n2": 0.9, "n3": 0.9}})
	require.Equal(t, "n1", c.waitLeader(t, time.Second))
	c.Isolate("n3")
	res, ok := c.write("n1", "x", 1)
	require.True(t, ok)
	require.NoError(t, res.Err)
	c.Run(10 * time.Millisecond)
	c.Kill("n1")
	c.Heal()
	c.Run(et + 10*time.Millisecond) // n2's leader stickiness runs out
	c.raft("n3").Campaign()
	c.Run(time.Second)
	c.Restart("n1")
	lead := c.waitLeader(t, 2*time.Second)
	res, ok = c.read(lead, "x")
	require.True(t, ok)
	require.NoError(t, res.Err)
	if !res.Exists || res.Value != 1 {
		return fmt.Sprintf("lost acknowledged write: leader %s reads x=%d exists=%v", lead, res.Value, res.Exists)
	}
	return ""
}

// scenarioLocalRead: the leader is paused while the others elect a new
// leader that overwrites x; on resume the old leader is asked to read x.
func scenarioLocalRead(t *testing.T, bug string) string {
	return pausedLeaderRead(t, bug, false)
}

// TestPausedLeaseLeaderServesNoStaleRead: with lease reads, a leader
// resumed after a long pause must not trust its lease on the clock of its
// last Tick.
func TestPausedLeaseLeaderServesNoStaleRead(t *testing.T) {
	assert.Empty(t, pausedLeaderRead(t, "", true))
}

func pausedLeaderRead(t *testing.T, bug string, lease bool) string {
	c := newCluster(t, clusterOpts{lease: lease, bugs: bugList(bug), fix: map[string]float64{"n1": 0, "n2": 0.5, "n3": 0.9}})
	require.Equal(t, "n1", c.waitLeader(t, time.Second))
	res, ok := c.write("n1", "x", 1)
	require.True(t, ok)
	require.NoError(t, res.Err)
	c.Pause("n1")
	nl := c.waitLeader(t, 2*time.Second, "n1")
	res, ok = c.write(nl, "x", 2)
	require.True(t, ok)
	require.NoError(t, res.Err)
	c.Resume("n1")
	res, ok = c.read("n1", "x")
	if ok && res.Err == nil && res.Value != 2 {
		return fmt.Sprintf("stale read: deposed leader n1 read x=%d after x=2 was acknowledged", res.Value)
	}
	return ""
}

// scenarioLeaseNoDrift: lease reads with the leader's clock running at 70%
// of true speed; the leader is then isolated and asked to read after a new
// leader has overwritten x.
func scenarioLeaseNoDrift(t *testing.T, bug string) string {
	c := newCluster(t, clusterOpts{lease: true, bugs: bugList(bug), fix: map[string]float64{"n1": 0, "n2": 0.9, "n3": 0.9}})
	require.Equal(t, "n1", c.waitLeader(t, 2*time.Second))
	res, ok := c.write("n1", "x", 1)
	require.True(t, ok)
	require.NoError(t, res.Err)
	c.SetRate("n1", 0.7)
	skewedFrom := c.Now()
	c.knobs["n2"].fix = 0
	c.Run(300 * time.Millisecond)
	c.Isolate("n1")
	nl := c.waitLeader(t, 2*time.Second, "n1")
	res, ok = c.write(nl, "x", 2)
	require.True(t, ok)
	require.NoError(t, res.Err)
	var newStart time.Time
	for _, e := range c.Events() {
		if e.Node == nl && e.Kind == "role" && e.Role == election.Leader {
			newStart = e.At
		}
	}
	var oldEnd time.Time
	for _, e := range c.Events() {
		if e.Node == "n1" && e.Kind == "lease" && e.At.After(skewedFrom) {
			if end := c.TrueTime("n1", e.LeaseUntil); end.After(oldEnd) {
				oldEnd = end
			}
		}
	}
	require.False(t, oldEnd.IsZero())
	var broken string
	if oldEnd.After(newStart) {
		broken = fmt.Sprintf("lease overlap: n1's lease ends %v after %s took over; ", oldEnd.Sub(newStart), nl)
	}
	res, ok = c.read("n1", "x")
	if ok && res.Err == nil && res.Value != 2 {
		broken += fmt.Sprintf("stale read: n1 read x=%d under its lease after x=2 was acknowledged", res.Value)
	}
	return broken
}

// scenarioAckBeforeCommit: the leader is isolated and asked to write; the
// rest elect a new leader and the ensemble heals.
func scenarioAckBeforeCommit(t *testing.T, bug string) string {
	c := newCluster(t, clusterOpts{bugs: bugList(bug), fix: map[string]float64{"n1": 0, "n2": 0.5, "n3": 0.9}})
	require.Equal(t, "n1", c.waitLeader(t, time.Second))
	c.Isolate("n1")
	res, acked := c.Do("n1", election.Request{Op: election.OpWrite, Key: "x", Value: 1}, 50*time.Millisecond)
	acked = acked && res.Err == nil
	nl := c.waitLeader(t, 2*time.Second, "n1")
	c.Heal()
	c.Run(time.Second)
	nl = c.waitLeader(t, time.Second)
	res, ok := c.read(nl, "x")
	require.True(t, ok)
	require.NoError(t, res.Err)
	if acked && (!res.Exists || res.Value != 1) {
		return fmt.Sprintf("lost acknowledged write: x=1 was acked by n1, leader %s reads exists=%v", nl, res.Exists)
	}
	return ""
}
