package hunt

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// TestHuntFindsPlantedBug hunts for real: three electd nodes with raft's
// quorum off by one (a single node is a "majority" of three) are found
// invalid within the first trials.
func TestHuntFindsPlantedBug(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Docker hunt")
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := clusters.Ping(pctx); err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	cfg := runner.Defaults()
	cfg.Nodes, cfg.Bug, cfg.Concurrency = 3, "raft.quorum-off-by-one", 6
	cfg.NemesisInterval = rundir.Duration(2 * time.Second)
	cfg.Store = t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := context.WithTimeout(context.Background(), 4*time.Minute)
	defer stop()
	sum, err := Run(ctx, Options{Base: cfg, Budget: 90 * time.Second, Trial: 12 * time.Second, Strategy: Guided, Seed: 1,
		Runner: Docker{Options: runner.Options{Log: log}}, Log: log})
	require.NoError(t, err)
	require.Equal(t, 1, sum.ExitCode, "%s: %+v", sum.Status, sum.Trials)
	found := sum.Trials[sum.Found]
	assert.Equal(t, checker.Invalid, found.Verdict)
	assert.NotEmpty(t, found.FoundBy)
	assert.FileExists(t, found.Report)
	assert.Positive(t, found.Ops)
	assert.FileExists(t, sum.Dir+"/"+PageFile)
}
