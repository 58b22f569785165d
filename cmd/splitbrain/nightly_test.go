package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nightly"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// runCaptured runs the command line as run does, with its output captured.
func runCaptured(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	code := exitValid
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		if ee.err != nil {
			errOut.WriteString(ee.err.Error())
		}
	default:
		code = exitCannotRun
		errOut.WriteString(err.Error())
	}
	return code, out.String(), errOut.String()
}

// verdictRunner stands in for Docker: each run's checkers say what
// verdicts gives for its bug ("" is the faithful build), all valid
// otherwise.
type verdictRunner map[string]map[string]checker.Verdict

func (v verdictRunner) Run(ctx context.Context, cfg runner.Config) (runner.Result, error) {
	dir := filepath.Join(cfg.Store, cfg.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return runner.Result{}, err
	}
	st := fmt.Sprintf(`{"name":%q,"system":%q,"algo":%q,"bug":%q,"seed":%d}`, cfg.Name, cfg.System, cfg.Algo, cfg.Bug, cfg.Seed)
	if err := os.WriteFile(filepath.Join(dir, rundir.SettingsFile), []byte(st), 0o644); err != nil {
		return runner.Result{}, err
	}
	var rs []checker.Result
	for _, n := range []string{"linearizable", "election-safety"} {
		verdict := checker.Valid
		if x, ok := v[cfg.Bug][n]; ok {
			verdict = x
		}
		rs = append(rs, checker.Result{Name: n, Verdict: verdict, Summary: n + " says " + string(verdict)})
	}
	rep := checker.Report{Verdict: checker.Combine(rs), Checkers: rs}
	return runner.Result{Dir: dir, Report: rep, Replay: "splitbrain run --replay " + dir}, checker.WriteReport(dir, rep)
}

// withRunner makes the nightly command use r for the test.
func withRunner(t *testing.T, r nightly.Runner) {
	t.Helper()
	prev := nightlyRunner
	nightlyRunner = func(runner.Options) nightly.Runner { return r }
	t.Cleanup(func() { nightlyRunner = prev })
}

func writeMatrix(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "matrix.yaml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

const cmdMatrix = "systems: [electd]\nalgos: [raft]\nbugs: [none, raft.local-read]\nnemeses: [[partition]]\nseeds: 2\ntime_limit: 20s\n"

func TestNightlyDryRun(t *testing.T) {
	store := t.TempDir()
	withRunner(t, verdictRunner{}) // never called
	code, out, errOut := runCaptured(t, "nightly", "-f", writeMatrix(t, cmdMatrix), "--store", store, "--dry-run")
	require.Equal(t, exitValid, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1+2*4, out)
	assert.Contains(t, lines[0], "matrix.yaml: 4 runs into "+store)
	assert.Regexp(t, `^  1  nightly-\d{8}-electd-raft-none-partition-s1$`, lines[1])
	assert.Regexp(t, `^     \S*splitbrain\S* run --nemesis partition --time-limit 20s --seed 1 --store \S+ --name nightly-\d{8}-electd-raft-none-partition-s1$`, lines[2])
	assert.Contains(t, lines[6], "--bug raft.local-read")
	ents, err := os.ReadDir(store)
	require.NoError(t, err)
	assert.Empty(t, ents, "a dry run writes nothing")
}

func TestNightlyExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		runner verdictRunner
		flags  []string
		code   int
		want   []string
	}{
		{name: "as expected", runner: verdictRunner{"raft.local-read": {"linearizable": checker.Invalid}},
			code: exitValid, want: []string{"2 of 2 faithful runs valid; 1 of 1 planted bugs found", "raft.local-read", "2 of 2", "found (linearizable ×2)"}},
		{name: "regression", runner: verdictRunner{"": {"election-safety": checker.Invalid}},
			code: exitInvalid, want: []string{"[1/4] regression", "2 regressions"}},
		{name: "unknown faithful", runner: verdictRunner{"": {"linearizable": checker.Unknown}, "raft.local-read": {"linearizable": checker.Invalid}},
			code: exitUnknown, want: []string{"2 faithful runs unknown"}},
		{name: "bug not found is reported", runner: verdictRunner{},
			code: exitValid, want: []string{"0 of 1 planted bugs found (1 planted bug not found)", "0 of 2"}},
		{name: "bug not found fails with --require-found", runner: verdictRunner{}, flags: []string{"--require-found"},
			code: exitInvalid, want: []string{"1 planted bug not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "store")
			withRunner(t, tt.runner)
			args := append([]string{"nightly", "-f", writeMatrix(t, cmdMatrix), "--store", store}, tt.flags...)
			code, out, errOut := runCaptured(t, args...)
			assert.Equal(t, tt.code, code, "%s\n%s", out, errOut)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			for _, f := range []string{nightly.SummaryFile, nightly.JUnitFile, rundir.IndexFile} {
				_, err := os.Stat(filepath.Join(store, f))
				assert.NoError(t, err, f)
			}
		})
	}
}

func TestNightlyBadInput(t *testing.T) {
	withRunner(t, verdictRunner{})
	store := filepath.Join(t.TempDir(), "store")
	code, _, errOut := runCaptured(t, "nightly", "--store", store)
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "-f matrix.yaml is required")

	bad := writeMatrix(t, "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 1\nnodes: two\n")
	code, _, errOut = runCaptured(t, "nightly", "-f", bad, "--store", store)
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, bad+":6: nodes: want an integer")

	code, _, _ = runCaptured(t, "nightly", "-f", filepath.Join(t.TempDir(), "absent.yaml"), "--store", store)
	assert.Equal(t, exitCannotRun, code)
	_, err := os.Stat(store)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing is written for a bad matrix")
}

func TestNightlyJUnitFlag(t *testing.T) {
	withRunner(t, verdictRunner{"raft.local-read": {"linearizable": checker.Invalid}})
	store := filepath.Join(t.TempDir(), "store")
	junit := filepath.Join(t.TempDir(), "junit.xml")
	code, out, errOut := runCaptured(t, "nightly", "-f", writeMatrix(t, cmdMatrix), "--store", store, "--junit", junit)
	require.Equal(t, exitValid, code, errOut)
	assert.Contains(t, out, "junit:    "+junit)
	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Equal(t, 4, strings.Count(string(b), "<testcase "))
	_, err = os.Stat(filepath.Join(store, nightly.JUnitFile))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestNightlyShardFlag(t *testing.T) {
	withRunner(t, verdictRunner{}) // never called
	matrix := writeMatrix(t, cmdMatrix)
	for _, v := range []string{"3", "0/4", "5/4", "x/4", "1/0", "2/1"} {
		code, _, errOut := runCaptured(t, "nightly", "-f", matrix, "--store", t.TempDir(), "--shard", v)
		assert.Equal(t, exitCannotRun, code, v)
		assert.Contains(t, errOut, "--shard: want K/N", v)
		assert.Contains(t, errOut, fmt.Sprintf("got %q", v), v)
	}
	code, _, errOut := runCaptured(t, "nightly", "-f", matrix, "--store", t.TempDir(), "--shard", "1/2", "--require-found")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "--require-found judges the whole matrix; with --shard 1/2 give it to splitbrain nightly merge")

	code, out, errOut := runCaptured(t, "nightly", "-f", matrix, "--store", t.TempDir(), "--shard", "2/3", "--dry-run")
	require.Equal(t, exitValid, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1+2*1, out)
	assert.Contains(t, lines[0], "shard 2/3: 1 of 4 runs into")
	assert.Regexp(t, `^  1  nightly-\d{8}-electd-raft-none-partition-s2$`, lines[1], "the second run of the matrix")
}

// TestNightlyShardsAndMerge: two shards, each exits on its own runs, and
// merge judges the whole: a bug found only on the other shard's seed is
// found.
func TestNightlyShardsAndMerge(t *testing.T) {
	matrix := writeMatrix(t, cmdMatrix)
	// raft.local-read is found with seed 1 only, which is on shard 1 (runs
	// are dealt round robin: s1, s2, s1, s2).
	withRunner(t, seedRunner{1: {"raft.local-read": {"linearizable": checker.Invalid}}})
	tmp := t.TempDir()
	var stores []string
	for k := 1; k <= 2; k++ {
		store := filepath.Join(tmp, fmt.Sprintf("shard-%d", k))
		code, out, errOut := runCaptured(t, "nightly", "-f", matrix, "--store", store, "--shard", fmt.Sprintf("%d/2", k))
		require.Equal(t, exitValid, code, "%s\n%s", out, errOut)
		assert.FileExists(t, filepath.Join(store, nightly.ManifestFile))
		stores = append(stores, store)
	}
	merged := filepath.Join(tmp, "merged")
	code, out, errOut := runCaptured(t, append([]string{"nightly", "merge", "--store", merged, "--require-found"}, stores...)...)
	require.Equal(t, exitValid, code, "%s\n%s", out, errOut)
	assert.Contains(t, out, "merged:   2 of 2 faithful runs valid; 1 of 1 planted bugs found")
	assert.Contains(t, out, "1 of 2")
	assert.Contains(t, out, "summary:  "+filepath.Join(merged, nightly.SummaryFile))
	b, err := os.ReadFile(filepath.Join(merged, nightly.JUnitFile))
	require.NoError(t, err)
	assert.Equal(t, 4, strings.Count(string(b), "<testcase "))

	// Shard 2 alone: shard 1's runs are missing, the night is incomplete.
	code, out, _ = runCaptured(t, "nightly", "merge", "--store", filepath.Join(tmp, "half"), stores[1])
	assert.Equal(t, exitCannotRun, code, out)
	assert.Contains(t, out, "2 runs could not run")

	code, _, errOut = runCaptured(t, "nightly", "merge", "--store", filepath.Join(tmp, "bad"), stores[0], t.TempDir())
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "nightly merge: cannot merge: ")
	assert.Contains(t, errOut, "no nightly.json")

	code, _, errOut = runCaptured(t, "nightly", "merge")
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, errOut, "requires at least 1 arg")
}

// seedRunner is verdictRunner by seed.
type seedRunner map[int64]verdictRunner

func (s seedRunner) Run(ctx context.Context, cfg runner.Config) (runner.Result, error) {
	return s[cfg.Seed].Run(ctx, cfg)
}
