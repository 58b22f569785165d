package checker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker/linearizable"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// okOps is one write and a read of it: linearizable.
var okOps = []history.Op{
	{Index: 0, Time: 10, Process: 0, Type: history.Invoke, F: history.FWrite, Key: "x", Value: history.IntValue(1)},
	{Index: 1, Time: 20, Process: 0, Type: history.OK, F: history.FWrite, Key: "x", Value: history.IntValue(1)},
	{Index: 2, Time: 30, Process: 1, Type: history.Invoke, F: history.FRead, Key: "x"},
	{Index: 3, Time: 40, Process: 1, Type: history.OK, F: history.FRead, Key: "x", Value: history.IntValue(1)},
}

func verdicts(rep Report) map[string]Verdict {
	out := map[string]Verdict{}
	for _, r := range rep.Checkers {
		out[r.Name] = r.Verdict
	}
	return out
}

func TestCheckJudgesWhatItHas(t *testing.T) {
	rep := Check(t.Context(), okOps, nil, Options{NoEvents: true})
	assert.Equal(t, map[string]Verdict{NameLinearizable: Valid, NameElectionSafety: Skipped, NameLeaseSafety: Skipped,
		NameTermMonotonic: Skipped, NameLiveness: Skipped}, verdicts(rep))
	assert.Equal(t, Valid, rep.Verdict, "the checkers that ran decide")
	assert.Contains(t, rep.Checker(NameLiveness).Summary, rundir.EventsFile)

	// An events.jsonl without a role event: the leader checkers cannot
	// tell, and say so.
	rep = Check(t.Context(), okOps, []history.Event{lease("n1", 1, 0, 10)}, Options{})
	assert.Equal(t, map[string]Verdict{NameLinearizable: Valid, NameElectionSafety: Unknown, NameLeaseSafety: Valid,
		NameTermMonotonic: Unknown, NameLiveness: Unknown}, verdicts(rep))
	assert.Equal(t, Unknown, rep.Verdict)

	rep = Check(t.Context(), okOps, []history.Event{role(1, "n1", rundir.RoleLeader, 1)}, Options{})
	assert.Equal(t, Skipped, rep.Checker(NameLeaseSafety).Verdict, "no lease taken: not applicable")
	assert.Equal(t, Valid, rep.Verdict)
}

func TestCheckOnlyNamed(t *testing.T) {
	rep := Check(t.Context(), okOps, nil, Options{Checkers: []string{NameElectionSafety, NameLinearizable}, NoEvents: true})
	require.Len(t, rep.Checkers, 2)
	assert.Equal(t, NameLinearizable, rep.Checkers[0].Name, "in the usual order")
	assert.Equal(t, Valid, rep.Verdict)

	rep = Check(t.Context(), okOps, nil, Options{Checkers: []string{NameLiveness}, NoEvents: true})
	assert.Equal(t, Unknown, rep.Verdict, "every checker skipped: unknown")

	err := CheckNames([]string{NameLiveness, "linearisable"})
	require.ErrorIs(t, err, ErrUnknownChecker)
	assert.ErrorContains(t, err, "linearisable")
	_, err = CheckDir(t.Context(), t.TempDir(), Options{Checkers: []string{"x"}})
	assert.ErrorIs(t, err, ErrUnknownChecker)
}

func TestCheckDirWithoutEvents(t *testing.T) {
	dir := t.TempDir()
	var b []byte
	for _, op := range okOps {
		line, err := json.Marshal(op)
		require.NoError(t, err)
		b = append(append(b, line...), '\n')
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.HistoryFile), b, 0o644))
	rep, err := CheckDir(t.Context(), dir, Options{})
	require.NoError(t, err)
	assert.Equal(t, Skipped, rep.Checker(NameTermMonotonic).Verdict)
	assert.Equal(t, Valid, rep.Verdict)

	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.EventsFile), nil, 0o644))
	rep, err = CheckDir(t.Context(), dir, Options{})
	require.NoError(t, err)
	assert.Equal(t, Unknown, rep.Checker(NameTermMonotonic).Verdict, "an empty events.jsonl is events lost, not none to judge")
	assert.Equal(t, Unknown, rep.Verdict)
}

// Every checker's details come back from results.json as the type it wrote.
func TestReportRoundTrip(t *testing.T) {
	stale := append(append([]history.Op{}, okOps...),
		history.Op{Index: 4, Time: 50, Process: 1, Type: history.Invoke, F: history.FWrite, Key: "x", Value: history.IntValue(2)},
		history.Op{Index: 5, Time: 60, Process: 1, Type: history.OK, F: history.FWrite, Key: "x", Value: history.IntValue(2)},
		history.Op{Index: 6, Time: 70, Process: 2, Type: history.Invoke, F: history.FRead, Key: "x"},
		history.Op{Index: 7, Time: 80, Process: 2, Type: history.OK, F: history.FRead, Key: "x", Value: history.IntValue(1)},
		nemesis(90, rundir.Kill, "n1"), nemesis(95, rundir.Start, "n1"),
		history.Op{Index: 10, Time: 20e9, Process: 3, Type: history.Invoke, F: history.FRead, Key: "x"})
	events := []history.Event{
		role(1, "n1", rundir.RoleLeader, 3), role(5, "n2", rundir.RoleLeader, 3), role(6, "n2", rundir.RoleFollower, 2),
		lease("n1", 3, 0, 100), lease("n2", 3, 50, 150),
	}
	rep := Check(t.Context(), stale, events, Options{})
	for _, name := range Names {
		require.Equal(t, Invalid, rep.Checker(name).Verdict, name)
	}
	dir := t.TempDir()
	require.NoError(t, WriteReport(dir, rep))
	back, err := ReadReport(dir)
	require.NoError(t, err)
	assert.Equal(t, rep, back)
	assert.IsType(t, linearizable.Result{}, back.Checker(NameLinearizable).Details)
	assert.IsType(t, ElectionDetails{}, back.Checker(NameElectionSafety).Details)
	assert.IsType(t, LeaseDetails{}, back.Checker(NameLeaseSafety).Details)
	assert.IsType(t, TermDetails{}, back.Checker(NameTermMonotonic).Details)
	assert.IsType(t, LivenessDetails{}, back.Checker(NameLiveness).Details)

	raw, err := os.ReadFile(filepath.Join(dir, rundir.ResultsFile))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"first": {`, "lease overlaps have JSON names")
	assert.NotContains(t, string(raw), `"A":`)
}

func TestReadReportOfAnotherChecker(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.ResultsFile),
		[]byte(`{"verdict":"valid","checkers":[{"name":"future","verdict":"valid","summary":"s","details":{"a":1}}]}`), 0o644))
	rep, err := ReadReport(dir)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(rep.Checkers[0].Details.(json.RawMessage)))

	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.ResultsFile),
		[]byte(`{"verdict":"valid","checkers":[{"name":"liveness","verdict":"valid","details":{"windows":7}}]}`), 0o644))
	_, err = ReadReport(dir)
	assert.ErrorContains(t, err, "liveness details")
}

func TestLivenessPausedLeaderDoesNotCount(t *testing.T) {
	s := int64(1e9)
	// n1 is paused for 26 s; the last fault is n2's kill and restart.
	read := func(at int64) history.Op {
		return history.Op{Time: at, Process: 0, Type: history.Invoke, F: history.FRead}
	}
	ops := []history.Op{read(1 * s), nemesis(2*s, rundir.Pause, "n1"), nemesis(3*s, rundir.Kill, "n2"), nemesis(3*s+1, rundir.Start, "n2"),
		nemesis(28*s, rundir.Resume, "n1"), read(30 * s)}
	events := []history.Event{role(1*s, "n1", rundir.RoleLeader, 1)}
	frozen := append(ops[:4:4], ops[5])
	r := livenessOf(timeline.New(frozen, events), 5*time.Second)
	assert.Equal(t, Invalid, r.Verdict, "a frozen leader leads nobody: %s", r.Summary)
	r = Check(t.Context(), ops, events, Options{Checkers: []string{NameLiveness}}).Checkers[0]
	assert.Equal(t, Valid, r.Verdict, "resumed, it leads again: %s", r.Summary)
}

func TestLivenessFaultNeverHealed(t *testing.T) {
	// A harness killed mid-partition leaves a history whose last fault
	// never healed: no recovery to judge, leader or not.
	s := int64(1e9)
	read := func(at int64) history.Op {
		return history.Op{Time: at, Process: 0, Type: history.Invoke, F: history.FRead}
	}
	events := []history.Event{role(1*s, "n1", rundir.RoleLeader, 1)}
	for _, tt := range []struct {
		name string
		ops  []history.Op
	}{
		{"a leader throughout", []history.Op{read(1 * s), nemesis(2*s, rundir.Kill, "n3"), read(30 * s)}},
		{"the leader frozen", []history.Op{read(1 * s), nemesis(2*s, rundir.Pause, "n1"), read(30 * s)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Liveness(timeline.New(tt.ops, events), 5*time.Second)
			assert.Equal(t, Unknown, r.Verdict, r.Summary)
			assert.Contains(t, r.Summary, "never healed")
		})
	}
}

func TestLivenessFromTheClientsStart(t *testing.T) {
	// No fault (every one unsupported here): the ensemble's start, before
	// the clients began (once a first leader was known), is no fault to
	// recover from. A slow first election under load is not judged.
	s := int64(1e9)
	read := func(at int64) history.Op {
		return history.Op{Time: at, Process: 0, Type: history.Invoke, F: history.FRead}
	}
	events := []history.Event{role(8*s, "n1", rundir.RoleFollower, 0), role(16*s, "n2", rundir.RoleLeader, 1)}
	r := Liveness(timeline.New([]history.Op{read(16*s + 1e8), read(36 * s)}, events), 10*time.Second)
	assert.Equal(t, Valid, r.Verdict, r.Summary)
	assert.Contains(t, r.Summary, "after the clients started")
	// A system that never elects stays invalid.
	r = Liveness(timeline.New([]history.Op{read(30 * s), read(50 * s)}, events[:1]), 10*time.Second)
	assert.Equal(t, Invalid, r.Verdict, r.Summary)
}
