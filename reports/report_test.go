package reports

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-1")
	genRun(t, dir, genConfig{Ops: 3000, Seed: 1, Bug: true})
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	page := readFile(t, filepath.Join(dir, rundir.ReportFile))
	for _, want := range []string{
		`id="verdict">invalid<`,
		`id="timeline-svg"`, `id="latency-svg"`,
		"election-safety", "linearizable", "liveness",
		"yes: split brain",              // the same-term window is called out
		`href="./linearizable-k5.html"`, // the Porcupine link
		`href="./logs/n1.html"`,
		"--replay",
		"<td>kill n", // a kill in the fault table
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Self-contained: nothing is fetched from anywhere.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`).FindString(page); m != "" {
		t.Errorf("report refers to an external resource: %s", m)
	}
	if strings.Contains(page, "<script") {
		t.Error("report carries a script; it needs none")
	}
	if _, err := os.Stat(filepath.Join(dir, rundir.LogsDir, "n1.html")); err != nil {
		t.Errorf("node log page: %v", err)
	}
}

func TestEscaping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "evil")
	genRun(t, dir, genConfig{Ops: 400, Seed: 2, Evil: true})
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	page := readFile(t, filepath.Join(dir, rundir.ReportFile))
	logPage := readFile(t, filepath.Join(dir, rundir.LogsDir, "n1.html"))
	for name, s := range map[string]string{"report": page, "log page": logPage} {
		if strings.Contains(s, "<script") || strings.Contains(s, "<img") || strings.Contains(s, "<b>not") {
			t.Errorf("%s holds unescaped markup from the run", name)
		}
	}
	if !strings.Contains(logPage, "&lt;script&gt;window.__pwned=1&lt;/script&gt; &amp; &lt;b&gt;not bold&lt;/b&gt;") {
		t.Error("log page does not show the log line, escaped")
	}
	if !strings.Contains(page, "k]]&gt;&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;") {
		t.Error("report does not show the evil key, escaped")
	}
	if !strings.Contains(page, "&lt;script&gt;window.__pwned=3&lt;/script&gt;") {
		t.Error("report does not show the evil error, escaped")
	}
}

func TestBareAndEmptyDirectories(t *testing.T) {
	bare := filepath.Join(t.TempDir(), "bare")
	genRun(t, bare, genConfig{Ops: 200, Seed: 3, Bare: true})
	if err := Write(bare); err != nil {
		t.Fatal(err)
	}
	page := readFile(t, filepath.Join(bare, rundir.ReportFile))
	for _, want := range []string{"no run.json", "no results.json", `id="timeline-svg"`, `id="verdict">unknown<`} {
		if !strings.Contains(page, want) {
			t.Errorf("bare report lacks %q", want)
		}
	}
	empty := t.TempDir()
	if err := Write(empty); err != nil {
		t.Fatal(err)
	}
	page = readFile(t, filepath.Join(empty, rundir.ReportFile))
	if !strings.Contains(page, "no history.jsonl") {
		t.Error("empty report does not say the history is missing")
	}
	if err := Write(filepath.Join(empty, "nope")); err == nil {
		t.Error("Write of a missing directory succeeded")
	}
}

func TestJUnit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-j")
	genRun(t, dir, genConfig{Ops: 300, Seed: 4, Bug: true, Evil: true})
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal([]byte(readFile(t, filepath.Join(dir, rundir.JUnitFile))), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites, want 1", len(doc.Suites))
	}
	s := doc.Suites[0]
	got := map[string]string{}
	for _, c := range s.Cases {
		got[c.Name] = "pass"
		if c.Failure != nil {
			got[c.Name] = c.Failure.Type
			if c.Name == "linearizable" && !strings.Contains(c.Failure.Body, evilKey) {
				t.Error("the failure body lost the key holding ]]> on its way through CDATA")
			}
			if !strings.Contains(c.Failure.Body, "replay:") {
				t.Errorf("%s: failure body lacks the replay command", c.Name)
			}
		}
	}
	// The cases say what results.json says, which the checkers wrote.
	rep, err := checker.ReadReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	failures := 0
	for _, c := range rep.Checkers {
		want := "pass"
		if c.Verdict != checker.Valid {
			want = string(c.Verdict)
			failures++
		}
		if got[c.Name] != want {
			t.Errorf("case %s: %s, want %s", c.Name, got[c.Name], want)
		}
	}
	for _, name := range []string{"linearizable", "election-safety"} {
		if got[name] != "invalid" {
			t.Errorf("case %s: %s, want invalid (the generated run has a stale read and a split brain)", name, got[name])
		}
	}
	if s.Tests != len(rep.Checkers) || s.Failures != failures || doc.Failures != failures {
		t.Errorf("counts: tests %d failures %d/%d, want %d and %d", s.Tests, s.Failures, doc.Failures, len(rep.Checkers), failures)
	}

	// Without events.jsonl the leader checkers are skipped, and say why.
	histOnly := t.TempDir()
	genRun(t, histOnly, genConfig{Ops: 100, Seed: 5})
	if err := os.Remove(filepath.Join(histOnly, rundir.EventsFile)); err != nil {
		t.Fatal(err)
	}
	rep, err = checker.CheckDir(t.Context(), histOnly, checker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checker.WriteReport(histOnly, rep); err != nil {
		t.Fatal(err)
	}
	if err := Write(histOnly); err != nil {
		t.Fatal(err)
	}
	doc = JUnitSuites{}
	if err := xml.Unmarshal([]byte(readFile(t, filepath.Join(histOnly, rundir.JUnitFile))), &doc); err != nil {
		t.Fatal(err)
	}
	skipped := 0
	for _, c := range doc.Suites[0].Cases {
		if c.Skipped != nil {
			skipped++
			if !strings.Contains(c.Skipped.Message, rundir.EventsFile) || c.Failure != nil {
				t.Errorf("skipped case %s: %+v", c.Name, c)
			}
		}
	}
	if skipped != 4 || doc.Suites[0].Skipped != 4 || doc.Skipped != 4 {
		t.Errorf("%d skipped cases (suite %d, file %d), want 4", skipped, doc.Suites[0].Skipped, doc.Skipped)
	}

	// No results at all: one failing case, never a pass.
	empty := t.TempDir()
	if err := Write(empty); err != nil {
		t.Fatal(err)
	}
	doc = JUnitSuites{}
	if err := xml.Unmarshal([]byte(readFile(t, filepath.Join(empty, rundir.JUnitFile))), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Failures != 1 || doc.Suites[0].Cases[0].Failure.Type != "unknown" {
		t.Errorf("unchecked run: %+v", doc)
	}
}

// The report's leaderless windows are the liveness checker's: both read
// the run's timeline.
func TestReportAndLivenessAgree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-agree")
	genRun(t, dir, genConfig{Ops: 300, Seed: 6, Bug: true})
	r, err := loadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := r.checker(checker.NameLiveness).Details.(checker.LivenessDetails)
	if !ok {
		t.Fatalf("liveness details: %T", r.checker(checker.NameLiveness).Details)
	}
	v := buildView(r, time.Now())
	if len(v.Leaderless) != len(d.Windows) || len(d.Windows) == 0 {
		t.Fatalf("report shows %d leaderless windows, liveness found %d", len(v.Leaderless), len(d.Windows))
	}
	for i, w := range d.Windows {
		if v.Leaderless[i].From != fmtTime(w.From) || v.Leaderless[i].To != fmtTime(w.To) {
			t.Errorf("window %d: report %s–%s, liveness %s–%s", i, v.Leaderless[i].From, v.Leaderless[i].To, fmtTime(w.From), fmtTime(w.To))
		}
	}
	if v.Violating == 0 {
		t.Error("the same-term split brain the generator planted is not among the report's windows")
	}
	if r.checker(checker.NameElectionSafety).Verdict != checker.Invalid {
		t.Error("election-safety does not see the planted split brain")
	}
}

// A fault kind the system could not have is said on the report, not
// silently missing from it.
func TestUnsupportedFaultsNoted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	genRun(t, dir, genConfig{Ops: 200, Seed: 7})
	st, err := rundir.ReadSettings(dir)
	require.NoError(t, err)
	st.Unsupported = []string{rundir.KindClock}
	require.NoError(t, rundir.WriteSettings(dir, st))
	require.NoError(t, Write(dir))
	page := readFile(t, filepath.Join(dir, rundir.ReportFile))
	assert.Contains(t, page, "unsupported by this system, never injected: clock")
}
