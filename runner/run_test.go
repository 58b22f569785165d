package runner

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
)

// needEngine skips the test when no Docker engine answers.
func needEngine(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the Docker pipeline test")
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := clusters.Ping(ctx); err != nil {
		t.Skipf("no Docker engine answers, skipping the pipeline test: %v", err)
	}
}

// TestPipeline runs the whole pipeline on three electd nodes with every
// fault kind, then checks the stored run and that check agrees with run.
func TestPipeline(t *testing.T) {
	needEngine(t)
	store := t.TempDir()
	cfg := Defaults()
	cfg.Nodes = 3
	cfg.TimeLimit = rundir.Duration(12 * time.Second)
	cfg.NemesisInterval = rundir.Duration(2 * time.Second)
	cfg.Concurrency = 6
	cfg.Seed, cfg.SeedSet = 11, true
	cfg.Store = store
	cfg.Name = "pipeline"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg, Options{Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	require.NoError(t, err)
	dir := filepath.Join(store, "pipeline")
	assert.Equal(t, dir, res.Dir)
	assert.False(t, res.Interrupted)
	assert.Equal(t, checker.Valid, res.Report.Verdict, "the faithful build: %+v", res.Report.Checkers)
	assert.Positive(t, res.Ops)
	assert.Positive(t, res.Faults)

	for _, f := range []string{"history.jsonl", "events.jsonl", "run.json", "schedule.json", "results.json", "report.html", "logs/n1.log"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	var st map[string]any
	b, err := os.ReadFile(filepath.Join(dir, rundir.SettingsFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &st))
	for _, k := range []string{"name", "started", "system", "algo", "bug", "nodes", "nemesis", "seed", "time_limit", "concurrency", "keys", "command", "replay"} {
		assert.Contains(t, st, k)
	}
	_, err = time.Parse(time.RFC3339, st["started"].(string))
	assert.NoError(t, err)

	// The history: nemesis entries in start/stop pairs, final reads at the end.
	ops, warnings, err := history.ReadFile(filepath.Join(dir, "history.jsonl"))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	var fs []string
	for _, op := range ops {
		if op.Process == history.Nemesis {
			fs = append(fs, op.F)
		}
	}
	assert.NotEmpty(t, fs)
	assert.Zero(t, len(fs)%2, "every fault has its stop: %v", fs)
	last := ops[len(ops)-1]
	assert.Equal(t, history.FRead, last.F)

	// check agrees with run.
	rep, err := checker.CheckDir(ctx, dir, checker.Options{})
	require.NoError(t, err)
	assert.Equal(t, res.Report.Verdict, rep.Verdict)

	// --replay reads the settings and the same schedule back.
	again, err := ReadSettings(dir)
	require.NoError(t, err)
	assert.Equal(t, cfg.Config, again.Config, "run.json holds the run's settings")
	s1, err := nemesis.ReadFile(filepath.Join(dir, rundir.ScheduleFile))
	require.NoError(t, err)
	assert.Equal(t, nemesis.Generate(11, []string{"n1", "n2", "n3"}, cfg.Nemesis,
		time.Duration(cfg.NemesisInterval), time.Duration(cfg.TimeLimit)), s1)

	// Nothing is left on the engine.
	assert.Empty(t, leftOnEngine(t, readEnsemble(t, dir)), "teardown removed the containers and the network")
}

// TestRunInterrupted cancels a run once it is under way (a fault applied,
// client operations done), as Ctrl-C does: the nemesis heals, the ensemble
// goes, what was recorded is judged and stored, and the outcome is never
// valid (the run did not do what it was asked).
func TestRunInterrupted(t *testing.T) {
	needEngine(t)
	cfg := Defaults()
	cfg.Nodes = 3
	cfg.TimeLimit = rundir.Duration(time.Minute)
	cfg.NemesisInterval = rundir.Duration(time.Second)
	cfg.Nemesis = []string{rundir.KindKill}
	cfg.Seed, cfg.SeedSet = 5, true
	cfg.Store = t.TempDir()
	cfg.Name = "interrupted"
	dir := filepath.Join(cfg.Store, cfg.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cancelled atomic.Bool
	go func() {
		// Polls the history the run writes; however long the image build
		// takes, the cancel comes while the clients and the nemesis run.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if underWay(filepath.Join(dir, rundir.HistoryFile)) {
				cancelled.Store(true)
				cancel()
				return
			}
		}
	}()
	res, err := Run(ctx, cfg, Options{Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	require.NoError(t, err)
	require.True(t, cancelled.Load(), "the run ended before it was under way")
	assert.True(t, res.Interrupted)
	assert.Less(t, res.Duration, time.Duration(cfg.TimeLimit), "cut short")
	assert.Positive(t, res.Ops)

	// Judged: results.json holds the verdict of what was recorded, and
	// check says the same of the stored directory.
	require.FileExists(t, filepath.Join(dir, rundir.ResultsFile))
	assert.NotEmpty(t, res.Report.Checkers)
	rep, err := checker.CheckDir(context.Background(), dir, checker.Options{})
	require.NoError(t, err)
	assert.Equal(t, rep.Verdict, res.Report.Verdict)
	// A faithful build: nothing wrong is found in what was recorded, but
	// the run's outcome is unknown, never valid.
	assert.Contains(t, []checker.Verdict{checker.Valid, checker.Unknown}, res.Report.Verdict)
	assert.Equal(t, checker.Unknown, res.Verdict())

	// Every fault healed: each nemesis entry is paired.
	ops, _, err := history.ReadFile(filepath.Join(dir, rundir.HistoryFile))
	require.NoError(t, err)
	var kills, starts int
	for _, op := range ops {
		switch {
		case op.Process == history.Nemesis && op.F == string(rundir.Kill):
			kills++
		case op.Process == history.Nemesis && op.F == string(rundir.Start):
			starts++
		}
	}
	assert.Positive(t, kills)
	assert.Equal(t, kills, starts, "every killed node started again")

	// Torn down: nothing with the run's label is left on the engine.
	assert.Empty(t, leftOnEngine(t, readEnsemble(t, dir)))
	assert.FileExists(t, filepath.Join(dir, rundir.LogsDir, "n1.log"))
}

// underWay says whether the history at path shows a fault applied and a
// client operation completed.
func underWay(path string) bool {
	ops, _, err := history.ReadFile(path)
	if err != nil {
		return false
	}
	fault, client := false, false
	for _, op := range ops {
		fault = fault || op.Process == history.Nemesis
		client = client || (op.Process != history.Nemesis && op.Type == history.OK)
	}
	return fault && client
}

// leftOnEngine lists the containers (running or not) and networks that
// carry the run's label.
func leftOnEngine(t *testing.T, runID string) []string {
	t.Helper()
	cli, err := clusters.Docker()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := make(client.Filters).Add("label", clusters.LabelRun+"="+runID)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	var left []string
	for _, c := range cs.Items {
		left = append(left, "container "+c.ID)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	require.NoError(t, err)
	for _, n := range ns.Items {
		left = append(left, "network "+n.Name)
	}
	return left
}

func readEnsemble(t *testing.T, dir string) string {
	s, err := rundir.ReadSettings(dir)
	require.NoError(t, err)
	require.NotEmpty(t, s.Ensemble)
	return s.Ensemble
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
