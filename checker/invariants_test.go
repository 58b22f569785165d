package checker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

func role(t int64, node string, r rundir.Role, term int64) history.Event {
	return history.Event{Time: t, Node: node, Event: rundir.EventRole, Role: r, Term: term}
}

func lease(node string, term, from, until int64) history.Event {
	return history.Event{Time: from, Node: node, Event: rundir.EventLease, Term: term, From: from, Until: until}
}

const ms = int64(time.Millisecond)

func TestElectionSafety(t *testing.T) {
	tests := []struct {
		name   string
		events []history.Event
		want   Verdict
	}{
		{"no events", nil, Unknown},
		{"one leader per term", []history.Event{
			role(1, "n1", rundir.RoleLeader, 1), role(2, "n2", rundir.RoleFollower, 1),
			role(50, "n2", rundir.RoleCandidate, 2), role(60, "n2", rundir.RoleLeader, 2),
			role(61, "n2", rundir.RoleLeader, 2), // reported again by the observer
		}, Valid},
		{"two leaders in one term at different times", []history.Event{
			role(1, "n1", rundir.RoleLeader, 3), role(9, "n1", rundir.RoleFollower, 4),
			role(100, "n3", rundir.RoleLeader, 3),
		}, Invalid},
		{"two leaders in one term at once", []history.Event{
			role(1, "n1", rundir.RoleLeader, 3), role(2, "n2", rundir.RoleLeader, 3),
		}, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ElectionSafety(timeline.New(nil, tt.events))
			assert.Equal(t, tt.want, r.Verdict, r.Summary)
		})
	}
	r := ElectionSafety(timeline.New(nil, []history.Event{role(1, "n1", rundir.RoleLeader, 3), role(100, "n3", rundir.RoleLeader, 3)}))
	assert.Contains(t, r.Summary, "term 3 led by n1 and n3")
	v := r.Details.(ElectionDetails).Violations
	require.Len(t, v, 1)
	assert.Equal(t, []LeaderClaim{{"n1", 1}, {"n3", 100}}, v[0].Claims)
}

func TestLeaseSafety(t *testing.T) {
	tests := []struct {
		name   string
		events []history.Event
		want   Verdict
	}{
		{"no leases: not applicable", []history.Event{role(1, "n1", rundir.RoleLeader, 1)}, Skipped},
		{"one node extends its own lease", []history.Event{
			lease("n1", 1, 0, 100*ms), lease("n1", 1, 50*ms, 150*ms), lease("n1", 1, 100*ms, 200*ms),
		}, Valid},
		{"hand-over after expiry", []history.Event{
			lease("n1", 1, 0, 100*ms), lease("n2", 2, 100*ms, 200*ms), lease("n3", 3, 250*ms, 300*ms),
		}, Valid},
		{"overlap", []history.Event{
			lease("n1", 1, 0, 100*ms), lease("n2", 2, 90*ms, 200*ms),
		}, Invalid},
		{"overlap hidden behind the same node's later lease", []history.Event{
			lease("n1", 1, 0, 500*ms), lease("n2", 2, 10*ms, 20*ms), lease("n2", 2, 30*ms, 40*ms),
		}, Invalid},
		{"overlap with the second-latest node", []history.Event{
			lease("n1", 1, 0, 300*ms), lease("n2", 2, 5*ms, 400*ms), lease("n2", 2, 350*ms, 500*ms), lease("n1", 3, 250*ms, 260*ms),
		}, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := LeaseSafety(tt.events)
			assert.Equal(t, tt.want, r.Verdict, r.Summary)
		})
	}
	r := LeaseSafety([]history.Event{lease("n1", 1, 0, 100*ms), lease("n2", 2, 90*ms, 200*ms)})
	assert.Contains(t, r.Summary, "n1 (term 1) and n2 (term 2) both held a lease for 10.0 ms")
}

// TestLeaseSafetyAgainstNaive compares the sweep with the pairwise check.
func TestLeaseSafetyAgainstNaive(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	for seed := int64(0); seed < 2000; seed++ {
		var evs []history.Event
		x := uint64(seed*2654435761 + 1)
		next := func(n uint64) int64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return int64(x % n) }
		for i := 0; i < 2+int(next(5)); i++ {
			from := next(100)
			evs = append(evs, lease(nodes[next(3)], 1, from, from+1+next(30)))
		}
		naive := Valid
		for i := range evs {
			for j := range evs {
				a, b := evs[i], evs[j]
				if a.Node != b.Node && a.From < b.Until && b.From < a.Until {
					naive = Invalid
				}
			}
		}
		require.Equal(t, naive, LeaseSafety(evs).Verdict, "seed %d: %+v", seed, evs)
	}
}

func TestTermMonotonic(t *testing.T) {
	tests := []struct {
		name   string
		events []history.Event
		want   Verdict
	}{
		{"rising", []history.Event{role(1, "n1", rundir.RoleFollower, 1), role(2, "n1", rundir.RoleLeader, 2), role(3, "n2", rundir.RoleFollower, 1)}, Valid},
		{"term goes down", []history.Event{role(1, "n1", rundir.RoleLeader, 5), role(2, "n1", rundir.RoleFollower, 4)}, Invalid},
		{"term goes down across a restart", []history.Event{role(1, "n1", rundir.RoleLeader, 5), role(9, "n1", rundir.RoleFollower, 0)}, Invalid},
		{"sources race but each rises", []history.Event{
			{Time: 10, Node: "n1", Event: rundir.EventRole, Role: rundir.RoleLeader, Term: 5, Source: rundir.SourceObserver},
			{Time: 11, Node: "n1", Event: rundir.EventRole, Role: rundir.RoleCandidate, Term: 4, Source: rundir.SourceNode},
			{Time: 12, Node: "n1", Event: rundir.EventRole, Role: rundir.RoleLeader, Term: 5, Source: rundir.SourceNode},
		}, Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := TermMonotonic(timeline.New(nil, tt.events))
			assert.Equal(t, tt.want, r.Verdict, r.Summary)
		})
	}
}

func nemesis(t int64, f rundir.Fault, node string) history.Op {
	return history.Op{Time: t, Process: history.Nemesis, Type: history.Info, F: string(f), Node: node}
}

func TestLiveness(t *testing.T) {
	s := int64(time.Second)
	tests := []struct {
		name    string
		ops     []history.Op
		events  []history.Event
		want    Verdict
		windows int
	}{
		{"leader kept across the heal",
			[]history.Op{nemesis(2*s, rundir.StartPartition, ""), nemesis(4*s, rundir.StopPartition, "")},
			[]history.Event{role(1*s, "n1", rundir.RoleLeader, 1), role(20*s, "n2", rundir.RoleFollower, 1)},
			Valid, 1},
		{"new leader soon after a kill",
			[]history.Op{nemesis(2*s, rundir.Kill, "n1"), nemesis(3*s, rundir.Start, "n1")},
			[]history.Event{role(1*s, "n1", rundir.RoleLeader, 1), role(5*s, "n2", rundir.RoleLeader, 2), role(6*s, "n1", rundir.RoleFollower, 2)},
			Valid, 2},
		{"leader too late",
			[]history.Op{nemesis(2*s, rundir.Kill, "n1"), nemesis(3*s, rundir.Start, "n1")},
			[]history.Event{role(1*s, "n1", rundir.RoleLeader, 1), role(30*s, "n2", rundir.RoleLeader, 2)},
			Invalid, 2},
		{"a stale claim does not count",
			[]history.Op{nemesis(2*s, rundir.StopPartition, "")},
			[]history.Event{role(1*s, "n1", rundir.RoleLeader, 1), role(1500*ms, "n2", rundir.RoleCandidate, 2), role(40*s, "n3", rundir.RoleFollower, 2)},
			Invalid, 2},
		{"run ended too soon to tell",
			[]history.Op{nemesis(2*s, rundir.Pause, "n1"), nemesis(3*s, rundir.Resume, "n1")},
			[]history.Event{role(1*s, "n1", rundir.RoleLeader, 1), role(3*s, "n1", rundir.RoleCandidate, 2), role(4*s, "n2", rundir.RoleFollower, 2)},
			Unknown, 2},
		{"no role events", []history.Op{nemesis(2*s, rundir.Kill, "n1")}, nil, Unknown, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Liveness(timeline.New(tt.ops, tt.events), 10*time.Second)
			assert.Equal(t, tt.want, r.Verdict, r.Summary)
			if tt.events != nil {
				d := r.Details.(LivenessDetails)
				assert.Len(t, d.Windows, tt.windows, "%+v", d.Windows)
			}
		})
	}
	r := Liveness(timeline.New([]history.Op{nemesis(2*s, rundir.Kill, "n1"), nemesis(3*s, rundir.Start, "n1")},
		[]history.Event{role(1*s, "n1", rundir.RoleLeader, 1), role(5*s, "n2", rundir.RoleLeader, 2)}), 10*time.Second)
	d := r.Details.(LivenessDetails)
	assert.Equal(t, Window{From: 2 * s, To: 5 * s, Duration: 3 * s}, d.Windows[1], "failover window runs from the kill to the new leader")
	assert.Equal(t, 5*s, d.LeaderAt)
	assert.Equal(t, "n2", d.Leader)
}

func TestCombine(t *testing.T) {
	r := func(v Verdict) Result { return Result{Verdict: v} }
	assert.Equal(t, Valid, Combine([]Result{r(Valid), r(Valid)}))
	assert.Equal(t, Unknown, Combine([]Result{r(Valid), r(Unknown)}))
	assert.Equal(t, Invalid, Combine([]Result{r(Unknown), r(Invalid)}))
	assert.Equal(t, Unknown, Combine(nil))
	assert.Equal(t, Valid, Combine([]Result{r(Skipped), r(Valid)}), "skipped checkers do not count")
	assert.Equal(t, Invalid, Combine([]Result{r(Skipped), r(Invalid)}))
	assert.Equal(t, Unknown, Combine([]Result{r(Skipped), r(Skipped)}), "nothing ran: unknown, never valid")
}

func TestLinearizableNeedsOperations(t *testing.T) {
	r := Linearizable(t.Context(), nil, Options{})
	assert.Equal(t, Unknown, r.Verdict)
	onlyFails := []history.Op{
		{Index: 0, Time: 1, Process: 0, Type: history.Invoke, F: history.FWrite, Key: "x", Value: history.IntValue(1)},
		{Index: 1, Time: 2, Process: 0, Type: history.Fail, F: history.FWrite, Key: "x", Value: history.IntValue(1)},
	}
	assert.Equal(t, Unknown, Linearizable(t.Context(), onlyFails, Options{}).Verdict)
}
