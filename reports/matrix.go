package reports

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The summary of a nightly matrix (splitbrain nightly): one page with a row
// per run and a column per checker, a table of the planted bugs and whether
// they were found, and one JUnit file with a test case per run. The nightly
// package judges the runs; this file only shows what it decided, so the
// rules live in one place.

var matrixTmpl = mustParse("matrix.html")

// Results of a matrix run as JUnit sees them.
const (
	MatrixPass  = "pass"  // as expected
	MatrixFail  = "fail"  // a JUnit failure: a regression, an unknown, a required bug not found
	MatrixError = "error" // a JUnit error: the run could not happen
	MatrixSkip  = "skip"  // a JUnit skip: a planted bug this run did not find, not required
)

// Matrix is a judged nightly matrix.
type Matrix struct {
	Name     string // the suite name
	File     string // the matrix file
	Started  time.Time
	Duration time.Duration
	// Status is the one-line conclusion ("2 regressions, 1 bug not found")
	// and Result its class (a Matrix* result) for the page's badge.
	Status, Result string
	ExitCode       int
	Checkers       []string // the checker columns, in order
	Runs           []MatrixRun
	Bugs           []MatrixBug
}

// MatrixRun is one run of a matrix.
type MatrixRun struct {
	Name                       string // its directory under the store
	System, Algo, Bug, Nemesis string
	Seed                       int64
	Faithful                   bool
	Verdict                    string // the run's verdict; "" when it did not run
	Checkers                   map[string]MatrixCheck
	Outcome                    string // what it means: "pass", "regression", "found", "not found", ...
	Result                     string // a Matrix* result
	Message                    string // why, one line
	Replay                     string // the command that replays it, when known
	Duration                   time.Duration
	ExpectedCheckers           []string // the checkers the bug registry names
	FoundBy                    []string // the checkers that said invalid
	ExpectedFound              bool     // one of FoundBy is expected
}

// MatrixCheck is one checker's verdict on one run.
type MatrixCheck struct {
	Verdict, Summary string
}

// MatrixBug is one planted bug under one system and fault set, over the
// matrix's seeds.
type MatrixBug struct {
	Bug, Algo, System, Nemesis string
	Expected                   []string // the checkers the registry names
	Runs, Found                int      // runs, and runs that found it
	NotRun                     int      // runs that could not happen
	By                         []string // the checkers that found it, with counts: "linearizable ×2"
	Outcome                    string   // "found", "found by another checker", "not found", "not run"
	Result                     string   // a Matrix* result
}

type matrixRow struct {
	MatrixRun
	Href, Seed, Duration string
	Cells                []matrixCell
}

type matrixCell struct {
	Verdict, Title string
}

type matrixView struct {
	Matrix
	Rows                                  []matrixRow
	Generated, Started, Duration, Summary string
	Counts                                []matrixCount
}

type matrixCount struct {
	Label string
	N     int
	Class string
}

// WriteMatrix writes the matrix's summary page to path. Runs link to
// their reports relative to the page, so it belongs in the store's top
// directory (store holds the run directories).
func WriteMatrix(path, store string, m Matrix) error {
	b, err := renderMatrix(store, m, time.Now())
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

func renderMatrix(store string, m Matrix, now time.Time) ([]byte, error) {
	v := matrixView{Matrix: m, Generated: now.UTC().Format(time.RFC3339)}
	if !m.Started.IsZero() {
		v.Started = m.Started.UTC().Format("2006-01-02 15:04 MST")
	}
	v.Duration = fmtDuration(m.Duration)
	outcomes := map[string]int{}
	var order []string
	for _, r := range m.Runs {
		row := matrixRow{MatrixRun: r, Seed: fmt.Sprint(r.Seed), Duration: fmtDuration(r.Duration)}
		if r.Name != "" {
			dir := filepath.Join(store, r.Name)
			if st, err := os.Stat(filepath.Join(dir, reportFile)); err == nil && st.Mode().IsRegular() {
				row.Href = "./" + url.PathEscape(r.Name) + "/" + reportFile
			} else if IsRun(dir) {
				row.Href = "./" + url.PathEscape(r.Name) + "/"
			}
		}
		for _, c := range m.Checkers {
			cell := matrixCell{Verdict: "", Title: "not checked"}
			if ch, ok := r.Checkers[c]; ok {
				cell = matrixCell{Verdict: orUnknown(ch.Verdict), Title: ch.Summary}
			}
			row.Cells = append(row.Cells, cell)
		}
		v.Rows = append(v.Rows, row)
		if _, ok := outcomes[r.Outcome]; !ok {
			order = append(order, r.Outcome)
		}
		outcomes[r.Outcome]++
	}
	for _, o := range order {
		class := "valid"
		switch o {
		case "regression", "could not run":
			class = "invalid"
		case "unknown", "not found":
			class = "unknown"
		}
		v.Counts = append(v.Counts, matrixCount{Label: o, N: outcomes[o], Class: class})
	}
	var buf bytes.Buffer
	if err := matrixTmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render matrix summary: %w", err)
	}
	return buf.Bytes(), nil
}

// fmtDuration rounds a duration for a table: seconds, or minutes and
// seconds.
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}
