package nightly

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
)

// WriteJUnit writes the matrix's JUnit file to path.
func WriteJUnit(path string, m Summary) error {
	b, err := JUnit(m)
	if err != nil {
		return err
	}
	return rundir.WriteFile(path, b)
}

// JUnit renders the matrix as JUnit XML. A run whose Result is
// ResultFail is a failure typed by its outcome ("regression", "unknown",
// "not found"), ResultError an error, ResultSkip a skipped case carrying
// its message; every case's system-out lists each checker's verdict and
// the replay command, so a CI page alone says what happened.
func JUnit(m Summary) ([]byte, error) {
	secs := func(d float64) string { return fmt.Sprintf("%.3f", d) }
	suite := reports.JUnitSuite{Name: m.Name, Time: secs(m.Duration.Seconds())}
	if !m.Started.IsZero() {
		suite.Timestamp = m.Started.UTC().Format("2006-01-02T15:04:05")
	}
	suite.Properties = []reports.JUnitProperty{{Name: "file", Value: m.File}, {Name: "status", Value: m.Status}}
	for _, r := range m.Runs {
		class := "splitbrain.nightly." + r.System
		if r.Algo != "" {
			class += "." + r.Algo
		}
		out := caseOut(m, r)
		c := reports.JUnitCase{Name: r.Name, Classname: class, Time: secs(r.Duration.Seconds()), SystemOut: &reports.JUnitText{Text: out}}
		msg := r.Outcome
		if r.Message != "" {
			msg += ": " + r.Message
		}
		switch r.Result {
		case ResultFail:
			c.Failure = &reports.JUnitFailure{Type: r.Outcome, Message: msg, Body: out}
			suite.Failures++
		case ResultError:
			c.Error = &reports.JUnitFailure{Type: r.Outcome, Message: msg, Body: out}
			suite.Errors++
		case ResultSkip:
			c.Skipped = &reports.JUnitSkip{Message: msg}
			suite.Skipped++
		case ResultPass:
		default:
			// A result this file does not know is not a pass: it says so.
			c.Failure = &reports.JUnitFailure{Type: "unknown", Message: "unknown result " + r.Result + ": " + msg, Body: out}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	for _, r := range m.Corpus {
		// The corpus was replayed first; its cases come after the runs so
		// that a run's case keeps its place whether or not there is one.
		out := corpusOut(r)
		c := reports.JUnitCase{Name: "corpus " + r.Entry, Classname: "splitbrain.corpus", Time: "0", SystemOut: &reports.JUnitText{Text: out}}
		msg := r.Outcome + ": " + r.Message
		switch r.Class {
		case regress.ClassPass:
		case regress.ClassSkip:
			c.Skipped = &reports.JUnitSkip{Message: msg}
			suite.Skipped++
		case regress.ClassError:
			c.Error = &reports.JUnitFailure{Type: r.Outcome, Message: msg, Body: out}
			suite.Errors++
		default: // fail, unknown, and a class this file does not know
			c.Failure = &reports.JUnitFailure{Type: r.Outcome, Message: msg, Body: out}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	doc := reports.JUnitSuites{Name: "splitbrain nightly", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []reports.JUnitSuite{suite}}
	return reports.MarshalJUnit(doc)
}

// corpusOut is a corpus entry's case text.
func corpusOut(r regress.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "entry %s (%s), system %s", r.Entry, r.File, r.System)
	if r.Bug != "" {
		fmt.Fprintf(&b, ", bug %s", r.Bug)
	}
	fmt.Fprintf(&b, "\nexpect %s (invalid by %s); %d of %d replays\n", r.Expect, strings.Join(r.Checkers, " or "), r.Replays, r.Of)
	fmt.Fprintf(&b, "%s: %s\n", r.Outcome, r.Message)
	if r.Replay != "" {
		fmt.Fprintf(&b, "replay: %s\n", r.Replay)
	}
	if r.Decided != "" {
		fmt.Fprintf(&b, "report: %s/%s in the store\n", r.Decided, rundir.ReportFile)
	}
	return b.String()
}

// caseOut is a run's case text: its settings, each checker's verdict and
// summary, and how to replay it.
func caseOut(m Summary, r JudgedRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "system %s", r.System)
	if r.Algo != "" {
		fmt.Fprintf(&b, ", algo %s", r.Algo)
	}
	fmt.Fprintf(&b, ", bug %s, nemesis %s, seed %d\n", r.Bug, r.Nemesis, r.Seed)
	if r.Verdict != "" {
		fmt.Fprintf(&b, "verdict: %s\n", r.Verdict)
	}
	if len(r.ExpectedCheckers) > 0 {
		fmt.Fprintf(&b, "expected to be found by: %s\n", strings.Join(r.ExpectedCheckers, ", "))
	}
	// The page's column order first, then any checker it does not show.
	names := append([]string(nil), m.Checkers...)
	var extra []string
	for n := range r.Checkers {
		if !slices.Contains(names, n) {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	for _, n := range append(names, extra...) {
		if c, ok := r.Checkers[n]; ok {
			fmt.Fprintf(&b, "%s: %s: %s\n", n, c.Verdict, c.Summary)
		}
	}
	if r.Replay != "" {
		fmt.Fprintf(&b, "replay: %s\n", r.Replay)
	}
	if r.Name != "" {
		fmt.Fprintf(&b, "report: %s/%s in the store\n", r.Name, rundir.ReportFile)
	}
	return b.String()
}
