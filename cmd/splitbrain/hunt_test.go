package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/hunt"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
	"github.com/splitbrain/splitbrain/shrink"
)

// huntFake stands in for Docker in hunt and shrink: a run's verdict is
// verdict(bug), and it writes run.json, schedule.json and results.json.
type huntFake struct {
	verdict func(bug string, sched nemesis.Schedule) checker.Verdict
	err     error
	cfgs    []runner.Config
}

func (f *huntFake) run(cfg runner.Config, sched nemesis.Schedule) (runner.Result, error) {
	f.cfgs = append(f.cfgs, cfg)
	if f.err != nil {
		return runner.Result{}, f.err
	}
	dir := filepath.Join(cfg.Store, cfg.Name)
	if cfg.Name == "" {
		dir = filepath.Join(cfg.Store, fmt.Sprintf("run-%d", len(f.cfgs)))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return runner.Result{}, err
	}
	if err := rundir.WriteSettings(dir, rundir.Settings{Name: filepath.Base(dir), Config: cfg.Config}); err != nil {
		return runner.Result{}, err
	}
	if err := sched.WriteFile(filepath.Join(dir, rundir.ScheduleFile)); err != nil {
		return runner.Result{}, err
	}
	v := f.verdict(cfg.Bug, sched)
	rep := checker.Report{Verdict: v, Checkers: []checker.Result{{Name: checker.NameElectionSafety, Verdict: v, Summary: "says " + string(v)}}}
	return runner.Result{Dir: dir, Seed: cfg.Seed, Report: rep, Replay: "splitbrain run --replay " + dir,
		ReportFile: filepath.Join(dir, rundir.ReportFile), Ops: 10}, checker.WriteReport(dir, rep)
}

type huntFakeRunner struct{ *huntFake }

func (huntFakeRunner) Prepare(context.Context, runner.Config) error { return nil }

func (f huntFakeRunner) Run(_ context.Context, cfg runner.Config, sched nemesis.Schedule, _ string) (runner.Result, error) {
	return f.run(cfg, sched)
}

type shrinkFakeRunner struct{ *huntFake }

func (shrinkFakeRunner) Prepare(context.Context, runner.Config) error { return nil }

func (f shrinkFakeRunner) Run(_ context.Context, cfg runner.Config, sched nemesis.Schedule, _ shrink.Mark) (runner.Result, error) {
	return f.run(cfg, sched)
}

func withHuntFake(t *testing.T, f *huntFake) {
	t.Helper()
	ph, ps := huntRunner, shrinkRunner
	huntRunner = func(runner.Options) hunt.Runner { return huntFakeRunner{f} }
	shrinkRunner = func(runner.Options) shrink.Runner { return shrinkFakeRunner{f} }
	t.Cleanup(func() { huntRunner, shrinkRunner = ph, ps })
}

// bugFails: the planted bug is found whenever the schedule has a fault.
func bugFails(bug string, s nemesis.Schedule) checker.Verdict {
	if bug != "" && len(s.Episodes) > 0 {
		return checker.Invalid
	}
	return checker.Valid
}

func TestHuntCommand(t *testing.T) {
	f := &huntFake{verdict: bugFails}
	withHuntFake(t, f)
	store := t.TempDir()

	code, out, _ := runCaptured(t, "hunt", "--bug", "raft.vote-twice", "--nodes", "3", "--store", store, "--name", "h1",
		"--budget", "10m", "--seed", "3")
	assert.Equal(t, exitInvalid, code)
	dir := filepath.Join(store, "h1", "t001")
	for _, want := range []string{"run:      " + dir, "report:   " + filepath.Join(dir, rundir.ReportFile),
		"replay:   splitbrain run --replay " + dir, " shrink " + dir + "\n", "found in trial 1",
		"election-safety", "summary:  " + filepath.Join(store, "h1", hunt.PageFile)} {
		assert.Contains(t, out, want)
	}
	require.Len(t, f.cfgs, 1)
	assert.Equal(t, hunt.TrialSeed(3, 1), f.cfgs[0].Seed)
	assert.Equal(t, rundir.Duration(hunt.DefaultTrial), f.cfgs[0].TimeLimit)
	assert.Equal(t, rundir.Duration(huntInterval), f.cfgs[0].NemesisInterval, "a hunt's own default")

	// The faithful build: the budget runs out (one trial fits in 1ms: the first always runs).
	code, out, _ = runCaptured(t, "hunt", "--nodes", "3", "--store", store, "--name", "h2", "--budget", "1ms", "--strategy", "random")
	assert.Equal(t, exitValid, code, out)
	assert.Contains(t, out, "nothing found within the budget")
	assert.Contains(t, out, "looked:   1 trials, 10 client operations")
	assert.Contains(t, out, "repeat the hunt with --seed")

	code, out, _ = runCaptured(t, "scoreboard", filepath.Join(store, "h1"), filepath.Join(store, "h2", hunt.SummaryFile))
	assert.Equal(t, exitValid, code)
	assert.Regexp(t, `raft.vote-twice +guided +3 +FOUND`, out)
	assert.Regexp(t, `faithful electd raft +random +\d+ +no`, out)

	// A bug no fault is known to reach, missed: said so, apart from a miss.
	f.verdict = func(string, nemesis.Schedule) checker.Verdict { return checker.Valid }
	code, out, _ = runCaptured(t, "hunt", "--algo", "zab", "--bug", "zab.ackepoch-twice", "--nodes", "3", "--store", store, "--name", "h4", "--budget", "1ms")
	assert.Equal(t, exitValid, code, out)
	assert.Contains(t, out, "note:     zab.ackepoch-twice is scripted only")
	code, out, _ = runCaptured(t, "scoreboard", filepath.Join(store, "h4"))
	assert.Equal(t, exitValid, code)
	assert.Regexp(t, `zab.ackepoch-twice +guided +\d+ +no \(scripted\)`, out)

	// Unknown, none invalid: 2.
	f.verdict = func(string, nemesis.Schedule) checker.Verdict { return checker.Unknown }
	code, _, _ = runCaptured(t, "hunt", "--nodes", "3", "--store", store, "--budget", "1ms")
	assert.Equal(t, exitUnknown, code)

	// A faithful build found invalid is a false alarm on the scoreboard.
	f.verdict = func(string, nemesis.Schedule) checker.Verdict { return checker.Invalid }
	code, _, _ = runCaptured(t, "hunt", "--nodes", "3", "--store", store, "--name", "h3", "--budget", "1ms")
	assert.Equal(t, exitInvalid, code)
	code, out, _ = runCaptured(t, "scoreboard", filepath.Join(store, "h3"))
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, out, "FALSE ALARM")

	// Could not run: 3.
	f.err = fmt.Errorf("%w: no engine", runner.ErrCannotRun)
	code, _, _ = runCaptured(t, "hunt", "--nodes", "3", "--store", store, "--budget", "1ms")
	assert.Equal(t, exitCannotRun, code)
}

func TestHuntFlags(t *testing.T) {
	f := &huntFake{verdict: bugFails}
	withHuntFake(t, f)
	store := t.TempDir()
	for _, args := range [][]string{
		{"--strategy", "clever"},
		{"--budget", "0s"},
		{"--trial", "500ms"},
		{"--time-limit", "10s"}, // a hunt's trials are --trial long
		{"--nodes", "2"},
		{"--bug", "no.such-bug"},
		{"--nemesis-interval", "30s", "--trial", "20s"},
	} {
		code, _, errOut := runCaptured(t, append([]string{"hunt", "--store", store}, args...)...)
		assert.Equal(t, exitCannotRun, code, "%v: %s", args, errOut)
	}
	assert.Empty(t, f.cfgs)
	_, err := os.Stat(filepath.Join(store, "x"))
	require.Error(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(store, "taken"), 0o755))
	code, _, errOut := runCaptured(t, "hunt", "--store", store, "--name", "taken")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "already exists")
}

func TestShrinkCommand(t *testing.T) {
	// A stored failing run of four faults; the fake fails whenever the
	// schedule still holds the third.
	store := t.TempDir()
	orig := filepath.Join(store, "orig")
	require.NoError(t, os.MkdirAll(orig, 0o755))
	c := runner.Defaults()
	c.Nodes, c.Bug = 3, "raft.vote-twice"
	require.NoError(t, rundir.WriteSettings(orig, rundir.Settings{Name: "orig", Config: c.Config}))
	nodes := []string{"n1", "n2", "n3"}
	s := nemesis.Generate(9, nodes, []string{rundir.KindKill}, time.Second, 20*time.Second)
	require.GreaterOrEqual(t, len(s.Episodes), 4)
	require.NoError(t, s.WriteFile(filepath.Join(orig, rundir.ScheduleFile)))
	require.NoError(t, checker.WriteReport(orig, checker.Report{Verdict: checker.Invalid,
		Checkers: []checker.Result{{Name: checker.NameElectionSafety, Verdict: checker.Invalid}}}))
	culprit := s.Episodes[2]
	f := &huntFake{verdict: func(_ string, got nemesis.Schedule) checker.Verdict {
		for _, e := range got.Episodes {
			if e.At == culprit.At {
				return checker.Invalid
			}
		}
		return checker.Valid
	}}
	withHuntFake(t, f)
	code, out, errOut := runCaptured(t, "shrink", orig, "--replays", "2")
	assert.Equal(t, exitInvalid, code, errOut)
	assert.Contains(t, out, fmt.Sprintf("shrink:   %d faults to 1 (minimal", len(s.Episodes)))
	assert.Contains(t, out, "run:      "+store)
	assert.Contains(t, out, "confirm:  failed again (election-safety) in 4 of 4 replays (the original: at replay 1)")

	f.verdict = func(string, nemesis.Schedule) checker.Verdict { return checker.Valid }
	code, out, _ = runCaptured(t, "shrink", orig, "--replays", "2")
	assert.Equal(t, exitUnknown, code)
	assert.Contains(t, out, "did not reproduce in 6 replays")
	code, _, _ = runCaptured(t, "shrink", orig, "--confirm", "-1")
	assert.Equal(t, exitCannotRun, code)

	code, _, _ = runCaptured(t, "shrink", filepath.Join(store, "nope"))
	assert.Equal(t, exitCannotRun, code)
	code, _, _ = runCaptured(t, "shrink", orig, "--replays", "0")
	assert.Equal(t, exitCannotRun, code)
}
