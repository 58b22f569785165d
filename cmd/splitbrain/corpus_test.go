package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// corpusFake stands in for Docker: a replay of the planted bug is invalid
// by invalidBy ("" valid), the faithful build is valid.
type corpusFake struct{ invalidBy string }

func (f corpusFake) Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, label string) (runner.Result, error) {
	dir := filepath.Join(cfg.Store, cfg.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return runner.Result{}, err
	}
	rep := checker.Report{Verdict: checker.Valid, Checkers: []checker.Result{{Name: "linearizable", Verdict: checker.Valid}}}
	if cfg.Bug != "" && f.invalidBy != "" {
		rep = checker.Report{Verdict: checker.Invalid, Checkers: []checker.Result{{Name: f.invalidBy, Verdict: checker.Invalid}}}
	}
	return runner.Result{Dir: dir, Report: rep, Replay: "splitbrain run --replay " + dir}, checker.WriteReport(dir, rep)
}

func withCorpusRunner(t *testing.T, r regress.Runner) {
	t.Helper()
	prev := corpusRunner
	corpusRunner = func(runner.Options) regress.Runner { return r }
	t.Cleanup(func() { corpusRunner = prev })
}

// failingRun copies regress's real failing run (raft with a single node a
// majority of three, invalid by linearizable) into a store.
func failingRun(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store", "electd-raft-qob")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range []string{rundir.SettingsFile, rundir.ScheduleFile, rundir.ResultsFile} {
		b, err := os.ReadFile(filepath.Join("..", "..", "regress", "testdata", "run", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	return dir
}

func TestCorpusAddAndRun(t *testing.T) {
	corpus := filepath.Join(t.TempDir(), "corpus")
	run := failingRun(t)
	code, out, errOut := runCaptured(t, "corpus", "add", run, "--corpus", corpus, "--note", "from the test")
	require.Equal(t, exitValid, code, errOut)
	entry := filepath.Join(corpus, "raft.quorum-off-by-one-20261201.yaml")
	assert.Contains(t, out, "entry:    "+entry)
	assert.Contains(t, out, "found:    electd raft with raft.quorum-off-by-one, 3 nodes by linearizable, 1 fault(s), seed 1")
	b, err := os.ReadFile(entry)
	require.NoError(t, err)
	assert.Contains(t, string(b), `note: "from the test"`)

	tests := []struct {
		name   string
		fake   corpusFake
		flags  []string
		code   int
		expect []string
	}{
		{"still shows", corpusFake{invalidBy: "linearizable"}, nil, exitValid,
			[]string{"shows", "1 of 3", "linearizable", "1 of 1 entries as expected"}},
		{"no longer shows", corpusFake{}, nil, exitInvalid,
			[]string{"no longer shows", "3 of 3", "set expect: valid in " + entry}},
		{"shows differently", corpusFake{invalidBy: "election-safety"}, nil, exitInvalid,
			[]string{"shows differently", "election-safety"}},
		{"faithful build stays valid", corpusFake{invalidBy: "linearizable"}, []string{"--faithful", "--replays", "2"}, exitValid,
			[]string{"stays fixed", "2 of 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withCorpusRunner(t, tt.fake)
			store := t.TempDir()
			code, out, errOut := runCaptured(t, append([]string{"corpus", "run", "--corpus", corpus, "--store", store}, tt.flags...)...)
			assert.Equal(t, tt.code, code, "%s\n%s", out, errOut)
			for _, w := range tt.expect {
				assert.Contains(t, out, w)
			}
			dirs, err := filepath.Glob(filepath.Join(store, "corpus-*", rundir.IndexFile))
			require.NoError(t, err)
			assert.Len(t, dirs, 1, "the replays are a store of their own")
		})
	}
}

func TestCorpusBadInput(t *testing.T) {
	withCorpusRunner(t, corpusFake{})
	code, _, errOut := runCaptured(t, "corpus", "add", filepath.Join(t.TempDir(), "absent"))
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "is not a run directory")

	code, _, errOut = runCaptured(t, "corpus", "add", failingRun(t), "--corpus", t.TempDir(), "--expect", "green")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "--expect: want invalid or valid")

	corpus := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(corpus, "x.yaml"), []byte("system: electd\nnodes: 30\n"), 0o644))
	code, _, errOut = runCaptured(t, "corpus", "run", "--corpus", corpus, "--store", t.TempDir())
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, filepath.Join(corpus, "x.yaml")+":2: nodes: want 3 to 9")

	code, out, _ := runCaptured(t, "corpus", "run", "--corpus", t.TempDir(), "--store", t.TempDir())
	assert.Equal(t, exitValid, code)
	assert.True(t, strings.HasSuffix(strings.TrimSpace(out), "has no entry"))

	code, _, errOut = runCaptured(t, "corpus", "run", "--corpus", t.TempDir(), "nope")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "no entry nope in")
}
