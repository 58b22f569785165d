package splitbraintest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/runner"
	"github.com/splitbrain/splitbrain/splitbraintest"
)

func TestParse(t *testing.T) {
	cfg, err := splitbraintest.Parse("--nodes", "3", "--nemesis=partition,kill", "--time-limit", "5s", "--bug", "raft.local-read", "--seed", "7")
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.Nodes)
	assert.Equal(t, []string{"partition", "kill"}, cfg.Nemesis)
	assert.Equal(t, 5*time.Second, time.Duration(cfg.TimeLimit))
	assert.Equal(t, "raft.local-read", cfg.Bug)
	assert.True(t, cfg.SeedSet)
	assert.Equal(t, int64(7), cfg.Seed)
	assert.Equal(t, runner.Defaults().Store, cfg.Store, "the rest as splitbrain run has it")

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "2"}, "--nodes: want 3 to 9, got 2"},
		{[]string{"--nodes"}, "--nodes: wants a value"},
		{[]string{"nodes", "3"}, `"nodes": want a flag of splitbrain run`},
		{[]string{"--replay", "x"}, "--replay: not a flag of splitbrain run"},
		{[]string{"--time_limit", "5s"}, "--time_limit: not a flag"},
		{[]string{"--algo", "paxos"}, "--algo: want one of raft, zab"},
		{[]string{"--algo", "zab", "--bug", "raft.local-read"}, "--bug: "},
	} {
		_, err := splitbraintest.Parse(tt.args...)
		require.Error(t, err, tt.args)
		assert.Contains(t, err.Error(), tt.want, tt.args)
	}
}

// tbRecorder is a testing.TB whose Fatalf is only recorded.
type tbRecorder struct {
	testing.TB
	fatal string
}

func (r *tbRecorder) Helper() {}
func (r *tbRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
}

func TestCheckAndRequire(t *testing.T) {
	valid := splitbraintest.Result{Verdict: checker.Valid, Dir: "store/r", Report: "store/r/report.html",
		Checkers: []checker.Result{{Name: "linearizable", Verdict: checker.Valid, Summary: "fine"}}}
	invalid := splitbraintest.Result{Verdict: checker.Invalid, Dir: "store/r", Report: "store/r/report.html", Replay: "splitbrain run --replay store/r",
		Checkers: []checker.Result{{Name: "linearizable", Verdict: checker.Valid, Summary: "fine"},
			{Name: "election-safety", Verdict: checker.Invalid, Summary: "term 3 led by n1 and n2"}}}
	unknown := splitbraintest.Result{Verdict: checker.Unknown, Dir: "store/r", Report: "store/r/report.html",
		Checkers: []checker.Result{{Name: "linearizable", Verdict: checker.Unknown, Summary: "out of time after 60s"}}}
	cannot := fmt.Errorf("%w: no Docker engine answers", runner.ErrCannotRun)
	tests := []struct {
		name string
		res  splitbraintest.Result
		err  error
		is   error
		want []string
	}{
		{"valid", valid, nil, nil, nil},
		{"invalid", invalid, nil, splitbraintest.ErrInvalid,
			[]string{"splitbrain: invalid: election-safety: term 3 led by n1 and n2", "report: store/r/report.html", "replay: splitbrain run --replay store/r"}},
		{"unknown", unknown, nil, splitbraintest.ErrUnknown,
			[]string{"splitbrain: unknown: linearizable: out of time after 60s", "report: store/r/report.html"}},
		{"could not run", splitbraintest.Result{}, cannot, splitbraintest.ErrCannotRun,
			[]string{"splitbrain: could not run: cannot run: no Docker engine answers"}},
		{"could not finish", splitbraintest.Result{Dir: "store/r"}, cannot, splitbraintest.ErrCannotRun,
			[]string{"splitbrain: could not run (run directory store/r)"}},
		{"no verdict", splitbraintest.Result{}, nil, nil, []string{"splitbrain: no verdict"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := splitbraintest.Check(tt.res, tt.err)
			rec := &tbRecorder{TB: t}
			splitbraintest.Require(rec, tt.res, tt.err)
			if tt.want == nil {
				assert.NoError(t, err)
				assert.Empty(t, rec.fatal, "a valid run does not fail the test")
				return
			}
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
				for _, other := range []error{splitbraintest.ErrInvalid, splitbraintest.ErrUnknown, splitbraintest.ErrCannotRun} {
					if other != tt.is {
						assert.NotErrorIs(t, err, other, "each way of failing is its own")
					}
				}
			}
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
				assert.Contains(t, rec.fatal, w)
			}
		})
	}
}

// TestRunCannotRun: the harness's own failures are ErrCannotRun, for real:
// a setting runner refuses, and a run directory in the way (or, with no
// engine, the engine missing).
func TestRunCannotRun(t *testing.T) {
	cfg := splitbraintest.Defaults()
	cfg.Nodes, cfg.NodesSet = 12, true
	_, err := splitbraintest.Run(context.Background(), cfg, splitbraintest.Options{})
	require.ErrorIs(t, err, splitbraintest.ErrCannotRun)
	assert.Contains(t, err.Error(), "nodes: want 3 to 9")

	cfg = splitbraintest.Defaults()
	cfg.Store, cfg.Name = t.TempDir(), "taken"
	require.NoError(t, os.Mkdir(filepath.Join(cfg.Store, "taken"), 0o755))
	res, err := splitbraintest.Run(context.Background(), cfg, splitbraintest.Options{})
	require.ErrorIs(t, err, splitbraintest.ErrCannotRun)
	assert.Empty(t, res.Dir, "no run directory for a run that never started")
	check := splitbraintest.Check(res, err)
	assert.True(t, errors.Is(check, splitbraintest.ErrCannotRun) && !errors.Is(check, splitbraintest.ErrInvalid))
	assert.Contains(t, check.Error(), "splitbrain: could not run: ")
}
