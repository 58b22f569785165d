package nightly

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/runner"
)

// realMatrix is the smallest real matrix with both kinds of run: electd's
// faithful raft, and raft with a single node counted a majority of three,
// which a partition exposes within seconds.
const realMatrix = "name: real\nsystems: [electd]\nalgos: [raft]\nbugs: [none, raft.quorum-off-by-one]\nnemeses: [[partition]]\nseeds: [1]\n" +
	"nodes: 3\ntime_limit: 5s\nnemesis_interval: 1s\nconcurrency: 6\n"

// TestMergeRealRuns runs realMatrix for real, once whole and once in two
// shards merged: the summary's rows and the JUnit cases are the same runs
// with the same outcomes. (Which checkers see the planted bug may differ
// from one run to the next: the runs are real.)
func TestMergeRealRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Docker nightly")
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := clusters.Ping(pctx); err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
	m, err := Parse("real.yaml", []byte(realMatrix))
	require.NoError(t, err)
	ctx, stop := context.WithTimeout(context.Background(), 8*time.Minute)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := Docker{Options: runner.Options{Log: log}}
	tmp := t.TempDir()

	whole := filepath.Join(tmp, "whole")
	sumW, err := Execute(ctx, m, Options{Store: whole, Runner: r, Log: log})
	require.NoError(t, err)
	var shards []string
	for k := 1; k <= 2; k++ {
		store := filepath.Join(tmp, "shard", string(rune('0'+k)))
		sum, err := Execute(ctx, m, Options{Store: store, Runner: r, Log: log, Shard: Shard{Index: k, Count: 2}})
		require.NoError(t, err)
		require.Len(t, sum.Runs, 1)
		shards = append(shards, store)
	}
	out := filepath.Join(tmp, "merged")
	sumM, err := Merge(shards, MergeOptions{Store: out, Log: log})
	require.NoError(t, err)

	require.Len(t, sumW.Runs, 2)
	require.Len(t, sumM.Runs, 2)
	assert.Equal(t, OutcomePass, sumW.Runs[0].Outcome, "the faithful build: %s", sumW.Runs[0].Message)
	assert.Equal(t, OutcomeFound, sumW.Runs[1].Outcome, "the planted bug: %s", sumW.Runs[1].Message)
	for i := range sumW.Runs {
		w, g := sumW.Runs[i], sumM.Runs[i]
		assert.Equal(t, []any{w.Name, w.System, w.Algo, w.Bug, w.Nemesis, w.Seed, w.Faithful, w.Verdict, w.Outcome, w.Result},
			[]any{g.Name, g.System, g.Algo, g.Bug, g.Nemesis, g.Seed, g.Faithful, g.Verdict, g.Outcome, g.Result})
		if w.Faithful {
			for c, v := range w.Checkers {
				assert.Equal(t, v.Verdict, g.Checkers[c].Verdict, "the faithful run's %s", c)
			}
		}
		assert.FileExists(t, filepath.Join(out, g.Name, "report.html"))
	}
	assert.Equal(t, sumW.ExitCode, sumM.ExitCode)
	assert.Equal(t, sumW.Status, sumM.Status)

	wc, mc := junitCases(t, filepath.Join(whole, JUnitFile), whole), junitCases(t, filepath.Join(out, JUnitFile), out)
	require.Len(t, mc, len(wc))
	kind := func(c reports.JUnitCase) string {
		switch {
		case c.Failure != nil:
			return "failure " + c.Failure.Type
		case c.Error != nil:
			return "error " + c.Error.Type
		case c.Skipped != nil:
			return "skipped"
		}
		return "pass"
	}
	for i := range wc {
		assert.Equal(t, []string{wc[i].Name, wc[i].Classname, kind(wc[i])}, []string{mc[i].Name, mc[i].Classname, kind(mc[i])})
	}
	// The merged page: the faithful run's row is the whole run's, verdict
	// by verdict (the checkers' summaries count what each run did), and
	// every row is, byte for byte, the row its shard's own page has.
	untitled := regexp.MustCompile(` title="[^"]*"`)
	wr, mr := pageRows(t, filepath.Join(whole, SummaryFile)), pageRows(t, filepath.Join(out, SummaryFile))
	require.Equal(t, len(wr), len(mr))
	assert.Equal(t, untitled.ReplaceAllString(wr[1], ""), untitled.ReplaceAllString(mr[1], ""))
	for k, store := range shards {
		sr := pageRows(t, filepath.Join(store, SummaryFile))
		assert.Equal(t, sr[1], mr[1+k], "shard %d's run", k+1)
	}
}
