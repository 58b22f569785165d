package runstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
)

// testRun describes a small run directory for the store's tests: the store
// reads only run.json and results.json, and a report needs no history.
type testRun struct {
	Name    string // run.json's name, when it differs from the directory's
	Started time.Time
	Verdict checker.Verdict // "": no results.json
	Report  bool            // render report.html
}

func writeRun(t *testing.T, dir string, r testRun) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, rundir.LogsDir), 0o755))
	s := rundir.Settings{Name: r.Name, Config: rundir.Config{System: "electd", Algo: "raft", Bug: "none",
		Nodes: 3, Nemesis: []string{"partition", "kill"}}}
	if !r.Started.IsZero() {
		s.Started = r.Started.UTC().Format(time.RFC3339)
	}
	require.NoError(t, rundir.WriteSettings(dir, s))
	if r.Verdict != "" {
		require.NoError(t, checker.WriteReport(dir, checker.Report{Verdict: r.Verdict, Ops: 42,
			Checkers: []checker.Result{{Name: "linearizable", Verdict: r.Verdict, Summary: "judged by hand"}}}))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.LogsDir, "n1.log"), []byte("n1 became leader\n"), 0o644))
	if r.Report {
		require.NoError(t, reports.Write(dir))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestIsRun(t *testing.T) {
	store := t.TempDir()
	for _, f := range []string{rundir.SettingsFile, rundir.ResultsFile, rundir.HistoryFile} {
		dir := filepath.Join(store, f)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
		assert.True(t, IsRun(dir), "a directory with %s", f)
	}
	empty := filepath.Join(store, "empty")
	require.NoError(t, os.MkdirAll(filepath.Join(empty, rundir.SettingsFile), 0o755))
	assert.False(t, IsRun(empty), "run.json must be a file")
	assert.False(t, IsRun(filepath.Join(store, "absent")))
}

func TestLink(t *testing.T) {
	store := t.TempDir()
	writeRun(t, filepath.Join(store, "with report"), testRun{Verdict: checker.Valid, Report: true})
	writeRun(t, filepath.Join(store, "bare"), testRun{})
	require.NoError(t, os.MkdirAll(filepath.Join(store, "not-a-run"), 0o755))
	for name, want := range map[string]string{
		"with report": "./with%20report/report.html",
		"bare":        "./bare/",
		"not-a-run":   "",
		"absent":      "",
	} {
		assert.Equal(t, want, Link(store, name), name)
	}
}

func TestWriteIndex(t *testing.T) {
	store := t.TempDir()
	day := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	writeRun(t, filepath.Join(store, "older"), testRun{Started: day.Add(-24 * time.Hour), Verdict: checker.Valid, Report: true})
	writeRun(t, filepath.Join(store, "newer-<i>"), testRun{Name: "nightly", Started: day, Verdict: checker.Invalid})
	writeRun(t, filepath.Join(store, "unjudged"), testRun{Started: day.Add(-48 * time.Hour)})
	require.NoError(t, os.MkdirAll(filepath.Join(store, "not-a-run"), 0o755))
	writeRun(t, filepath.Join(store, ".hidden"), testRun{Verdict: checker.Valid})

	require.NoError(t, WriteIndex(store))
	page := readFile(t, filepath.Join(store, rundir.IndexFile))

	iNewer := strings.Index(page, "newer-&lt;i&gt; (nightly)")
	iOlder := strings.Index(page, `href="./older/report.html"`)
	iUnjudged := strings.Index(page, `href="./unjudged/"`)
	require.True(t, iNewer >= 0 && iOlder >= 0 && iUnjudged >= 0, "every run listed")
	assert.True(t, iNewer < iOlder && iOlder < iUnjudged, "newest first")
	assert.NotContains(t, page, "<i>", "a run name is escaped")
	assert.NotContains(t, page, "not-a-run", "a directory that is not a run is not listed")
	assert.NotContains(t, page, ".hidden")
	for _, want := range []string{"electd / raft / none", "partition, kill", "2026-11-23 02:00", "(no report yet)",
		`href="./newer-%3Ci%3E/"`, "3 runs", "1 invalid", "1 unknown"} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "http://", "the index opens offline")
}

func TestWriteIndexNoStore(t *testing.T) {
	assert.Error(t, WriteIndex(filepath.Join(t.TempDir(), "absent")))
}
