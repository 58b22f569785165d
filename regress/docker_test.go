package regress

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// TestAddAndReplayRealRun: a real failing run (three electd nodes, raft
// with a single node counted a majority, the leader's half partitioned
// off) is kept as an entry, which replays as still showing; on the
// faithful build the same schedule is valid.
func TestAddAndReplayRealRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Docker corpus test")
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := clusters.Ping(pctx); err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := context.WithTimeout(context.Background(), 8*time.Minute)
	defer stop()

	cfg := runner.Defaults()
	cfg.Nodes, cfg.NodesSet, cfg.Bug, cfg.Concurrency = 3, true, "raft.quorum-off-by-one", 6
	cfg.Nemesis = []string{rundir.KindPartition}
	cfg.TimeLimit, cfg.NemesisInterval = rundir.Duration(5*time.Second), rundir.Duration(time.Second)
	cfg.Seed, cfg.SeedSet = 1, true
	cfg.Store, cfg.Name = t.TempDir(), "found"
	res, err := runner.Run(ctx, cfg, runner.Options{Log: log})
	require.NoError(t, err)
	require.Equal(t, checker.Invalid, res.Verdict(), "the planted bug fails the run: %+v", res.Report.Checkers)

	e, err := FromRun(res.Dir, ExpectInvalid)
	require.NoError(t, err)
	folder := filepath.Join(t.TempDir(), "corpus")
	path, err := Add(folder, "", e)
	require.NoError(t, err)
	entries, err := Load(folder)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	got := entries[0]
	assert.Equal(t, path, got.File)
	assert.Equal(t, "raft.quorum-off-by-one", got.Bug)
	assert.Equal(t, res.Dir, got.Source, "where it came from")
	assert.NotEmpty(t, got.Checkers)
	for _, c := range got.Checkers {
		assert.Equal(t, checker.Invalid, res.Report.Checker(c).Verdict, c)
	}

	store := t.TempDir()
	r := Docker{Options: runner.Options{Log: log}}
	sum := Replay(ctx, entries, Options{Store: store, Replays: 3, Runner: r, Log: log})
	require.Len(t, sum.Results, 1)
	assert.Equal(t, Shows, sum.Results[0].Outcome, sum.Results[0].Message)
	assert.Equal(t, 0, sum.ExitCode)
	assert.FileExists(t, sum.Results[0].ReportOf(store))
	sched, err := os.ReadFile(filepath.Join(store, sum.Results[0].Decided, rundir.ScheduleFile))
	require.NoError(t, err)
	orig, err := os.ReadFile(filepath.Join(res.Dir, rundir.ScheduleFile))
	require.NoError(t, err)
	assert.JSONEq(t, string(orig), string(sched), "the replay ran the entry's schedule")

	faithful := Replay(ctx, entries, Options{Store: store, Replays: 1, Runner: r, Log: log, Faithful: true})
	assert.Equal(t, StaysFixed, faithful.Results[0].Outcome, "the faithful build under the same faults: %s", faithful.Results[0].Message)
	assert.Equal(t, 0, faithful.ExitCode)
}
