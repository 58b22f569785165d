package reports

import (
	"encoding/xml"
	"fmt"
	"sort"
	"strings"
)

// WriteMatrixJUnit writes the matrix's JUnit file to path.
func WriteMatrixJUnit(path string, m Matrix) error {
	b, err := MatrixJUnit(m)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// MatrixJUnit renders the matrix as JUnit XML. A run whose Result is
// MatrixFail is a failure typed by its outcome ("regression", "unknown",
// "not found"), MatrixError an error, MatrixSkip a skipped case carrying
// its message; every case's system-out lists each checker's verdict and
// the replay command, so a CI page alone says what happened.
func MatrixJUnit(m Matrix) ([]byte, error) {
	secs := func(d float64) string { return fmt.Sprintf("%.3f", d) }
	suite := JUnitSuite{Name: m.Name, Time: secs(m.Duration.Seconds())}
	if !m.Started.IsZero() {
		suite.Timestamp = m.Started.UTC().Format("2006-01-02T15:04:05")
	}
	suite.Properties = []JUnitProperty{{Name: "file", Value: m.File}, {Name: "status", Value: m.Status}}
	for _, r := range m.Runs {
		class := "splitbrain.nightly." + r.System
		if r.Algo != "" {
			class += "." + r.Algo
		}
		out := caseOut(m, r)
		c := JUnitCase{Name: r.Name, Classname: class, Time: secs(r.Duration.Seconds()), SystemOut: &JUnitText{out}}
		msg := r.Outcome
		if r.Message != "" {
			msg += ": " + r.Message
		}
		switch r.Result {
		case MatrixFail:
			c.Failure = &JUnitFailure{Type: r.Outcome, Message: msg, Body: out}
			suite.Failures++
		case MatrixError:
			c.Error = &JUnitFailure{Type: r.Outcome, Message: msg, Body: out}
			suite.Errors++
		case MatrixSkip:
			c.Skipped = &JUnitSkip{Message: msg}
			suite.Skipped++
		case MatrixPass:
		default:
			// A result this file does not know is not a pass: it says so.
			c.Failure = &JUnitFailure{Type: "unknown", Message: "unknown result " + r.Result + ": " + msg, Body: out}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	doc := JUnitSuites{Name: "splitbrain nightly", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []JUnitSuite{suite}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// caseOut is a run's case text: its settings, each checker's verdict and
// summary, and how to replay it.
func caseOut(m Matrix, r MatrixRun) string {
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
		if !contains(names, n) {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	for _, n := range append(names, extra...) {
		if c, ok := r.Checkers[n]; ok {
			fmt.Fprintf(&b, "%s: %s: %s\n", n, orUnknown(c.Verdict), c.Summary)
		}
	}
	if r.Replay != "" {
		fmt.Fprintf(&b, "replay: %s\n", r.Replay)
	}
	if r.Name != "" {
		fmt.Fprintf(&b, "report: %s/%s in the store\n", r.Name, reportFile)
	}
	return b.String()
}
