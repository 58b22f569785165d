package runner

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/nemesis"
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
	cfg.TimeLimit = 12 * time.Second
	cfg.NemesisInterval = 2 * time.Second
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
	b, err := os.ReadFile(filepath.Join(dir, SettingsFile))
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
	assert.Equal(t, cfg.Nodes, again.Nodes)
	assert.Equal(t, cfg.Seed, again.Seed)
	s1, err := nemesis.ReadFile(filepath.Join(dir, ScheduleFile))
	require.NoError(t, err)
	assert.Equal(t, nemesis.Generate(11, []string{"n1", "n2", "n3"}, cfg.Nemesis, cfg.NemesisInterval, cfg.TimeLimit), s1)

	// Nothing is left running.
	n, err := clusters.CleanRun(ctx, readEnsemble(t, dir))
	require.NoError(t, err)
	assert.Zero(t, n, "teardown removed the containers and the network")
}

// TestRunInterrupted cancels a run mid-way, as Ctrl-C does: the ensemble
// goes, and what was recorded is judged and stored.
func TestRunInterrupted(t *testing.T) {
	needEngine(t)
	cfg := Defaults()
	cfg.Nodes = 3
	cfg.TimeLimit = time.Minute
	cfg.NemesisInterval = time.Second
	cfg.Nemesis = []string{nemesis.KindKill}
	cfg.Seed, cfg.SeedSet = 5, true
	cfg.Store = t.TempDir()
	cfg.Name = "interrupted"
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(12 * time.Second) // image, ensemble and a few seconds of clients
		cancel()
	}()
	res, err := Run(ctx, cfg, Options{Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	require.NoError(t, err)
	assert.True(t, res.Interrupted)
	assert.NotEqual(t, checker.Verdict(""), res.Report.Verdict)
	assert.FileExists(t, filepath.Join(res.Dir, "results.json"))
	n, err := clusters.CleanRun(context.Background(), readEnsemble(t, res.Dir))
	require.NoError(t, err)
	assert.Zero(t, n)
}

func readEnsemble(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, SettingsFile))
	require.NoError(t, err)
	var s Settings
	require.NoError(t, json.Unmarshal(b, &s))
	require.NotEmpty(t, s.Ensemble)
	return s.Ensemble
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
