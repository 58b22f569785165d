package nightly

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/rundir"
)

const evil = `<script>alert("x")</script>]]><img src=x onerror=alert(1)>`

// sampleSummary is a judged matrix as Summarize hands it over,
// with text from runs (checker summaries, errors) that must be escaped.
func sampleSummary() Summary {
	checks := func(lin string) map[string]Check {
		return map[string]Check{
			"linearizable":    {Verdict: lin, Summary: "lin " + evil},
			"election-safety": {Verdict: "valid", Summary: "one leader per term"},
		}
	}
	return Summary{
		Name: "nightly " + evil, File: "matrix-" + evil + ".yaml",
		Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Duration: 95 * time.Second,
		Status: "1 regression " + evil, Result: ResultFail, ExitCode: 1,
		Checkers: []string{"linearizable", "election-safety", "liveness"},
		Runs: []JudgedRun{
			{Name: "with-report", System: "electd", Algo: "raft", Bug: "none", Nemesis: "all", Seed: 1, Faithful: true,
				Verdict: "invalid", Checkers: checks("invalid"), Outcome: "regression", Result: ResultFail,
				Message: "a faithful build is invalid by linearizable " + evil, Replay: "splitbrain run --replay store/with-report",
				Duration: 61 * time.Second},
			{Name: "dir-only", System: "electd", Algo: "raft", Bug: "raft.local-read", Nemesis: "all", Seed: 2,
				Verdict: "valid", Checkers: checks("valid"), Outcome: "not found", Result: ResultSkip,
				Message: "valid: this seed did not expose the bug", Duration: 1500 * time.Millisecond,
				ExpectedCheckers: []string{"linearizable"}},
			{Name: "never-ran", System: "electd", Algo: "zab", Bug: "none", Nemesis: "partition+kill", Seed: 3, Faithful: true,
				Outcome: "could not run", Result: ResultError, Message: "cannot run: no Docker engine " + evil},
			{Name: "odd-result", System: "mynode", Bug: "none", Nemesis: "none", Seed: 4, Faithful: true,
				Outcome: "pass", Result: "surprise"},
		},
		Bugs: []BugResult{{Bug: "raft.local-read", Algo: "raft", System: "electd", Nemesis: "all", Expected: []string{"linearizable"},
			Runs: 2, Found: 1, By: []string{"linearizable ×1"}, Outcome: "found", Result: ResultPass}},
	}
}

func TestPage(t *testing.T) {
	store := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(store, "with-report"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(store, "with-report", rundir.ReportFile), []byte("r"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(store, "dir-only"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(store, "dir-only", rundir.SettingsFile), []byte("{}"), 0o644))

	require.NoError(t, WritePage(filepath.Join(store, SummaryFile), store, sampleSummary()))
	b, err := os.ReadFile(filepath.Join(store, SummaryFile))
	require.NoError(t, err)
	page := string(b)

	t.Run("escaped", func(t *testing.T) {
		assert.NotContains(t, page, "<script>")
		assert.NotContains(t, page, "<img")
		assert.Contains(t, page, "&lt;script&gt;")
	})
	t.Run("self-contained", func(t *testing.T) {
		assert.NotContains(t, page, "http://")
		assert.NotContains(t, page, "https://")
		assert.NotContains(t, page, "<link")
	})
	t.Run("rows link to their runs", func(t *testing.T) {
		assert.Contains(t, page, `<a href="./with-report/report.html">with-report</a>`)
		assert.Contains(t, page, `<a href="./dir-only/">dir-only</a>`, "a run without a report: its directory")
		assert.NotContains(t, page, `href="./never-ran`)
	})
	t.Run("a column per checker", func(t *testing.T) {
		iLin, iEl, iLive := strings.Index(page, "<th>linearizable</th>"), strings.Index(page, "<th>election-safety</th>"), strings.Index(page, "<th>liveness</th>")
		assert.True(t, iLin > 0 && iLin < iEl && iEl < iLive, "columns in the given order")
		row := page[strings.Index(page, ">with-report<"):]
		row = row[:strings.Index(row, "</tr>")]
		assert.Equal(t, 1, strings.Count(row, `<span class="badge invalid"`), "linearizable invalid")
		assert.Equal(t, 1, strings.Count(row, `<span class="badge valid"`), "election-safety valid")
		assert.Contains(t, row, `<span class="note">–</span>`, "liveness not checked")
		assert.Contains(t, row, "1m1s")
	})
	t.Run("planted bugs", func(t *testing.T) {
		bugs := page[strings.Index(page, `id="bugs"`):]
		assert.Contains(t, bugs, "<code>raft.local-read</code>")
		assert.Contains(t, bugs, "1 of 2")
		assert.Contains(t, bugs, "linearizable ×1")
	})
	t.Run("header", func(t *testing.T) {
		assert.Contains(t, page, "(exit 1)")
		assert.Contains(t, page, "1 regression")
		assert.Contains(t, page, "1 not found")
	})
}

func TestJUnit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.xml")
	require.NoError(t, WriteJUnit(path, sampleSummary()))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Name       string `xml:"name,attr"`
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Time      string `xml:"time,attr"`
				Failure   *struct {
					Type    string `xml:"type,attr"`
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
				Error *struct {
					Type    string `xml:"type,attr"`
					Message string `xml:"message,attr"`
				} `xml:"error"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
				Out string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(b, &doc), "well-formed despite %q", evil)
	assert.Equal(t, 4, doc.Tests)
	assert.Equal(t, 2, doc.Failures, "the regression, and a result nobody knows")
	assert.Equal(t, 1, doc.Errors)
	assert.Equal(t, 1, doc.Skipped)
	require.Len(t, doc.Suites, 1, "a testsuite per matrix")
	s := doc.Suites[0]
	assert.Equal(t, "nightly "+evil, s.Name)
	require.Len(t, s.Cases, 4, "a testcase per run")

	c := s.Cases[0]
	assert.Equal(t, "with-report", c.Name)
	assert.Equal(t, "splitbrain.nightly.electd.raft", c.Classname)
	assert.Equal(t, "61.000", c.Time)
	require.NotNil(t, c.Failure)
	assert.Equal(t, "regression", c.Failure.Type)
	assert.Equal(t, "regression: a faithful build is invalid by linearizable "+evil, c.Failure.Message)
	assert.Contains(t, c.Failure.Body, "linearizable: invalid: lin "+evil, "the text survives CDATA")
	assert.Contains(t, c.Out, "replay: splitbrain run --replay store/with-report")

	require.NotNil(t, s.Cases[1].Skipped)
	assert.Equal(t, "not found: valid: this seed did not expose the bug", s.Cases[1].Skipped.Message)
	assert.Contains(t, s.Cases[1].Out, "expected to be found by: linearizable")
	require.NotNil(t, s.Cases[2].Error)
	assert.Equal(t, "could not run", s.Cases[2].Error.Type)
	require.NotNil(t, s.Cases[3].Failure, "a result this file does not know is no pass")
	assert.Equal(t, "splitbrain.nightly.mynode", s.Cases[3].Classname)
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "", 1500 * time.Millisecond: "1.5s", 60 * time.Second: "1m", 70 * time.Second: "1m10s",
		61*time.Minute + 500*time.Millisecond: "1h1m1s", 2 * time.Hour: "2h0m",
	} {
		assert.Equal(t, want, fmtDuration(d), d.String())
	}
}
