package nightly

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runstore"
)

// The summary page of a nightly matrix: a row per run and a column per
// checker, and a table of the planted bugs and whether they were found.
// Summarize judges the runs; this file only shows what it decided, so the
// rules live in one place.

//go:embed templates
var templateFS embed.FS

// pageTmpl is parsed once, with the style the run reports use.
var pageTmpl = template.Must(reports.ParsePage(templateFS, "templates/page.html"))

type matrixRow struct {
	JudgedRun
	Href, Seed, Duration string
	Cells                []matrixCell
}

type matrixCell struct {
	Verdict, Title string
}

type corpusRow struct {
	regress.Result
	Href, By string
}

type matrixView struct {
	Summary
	CorpusRows                   []corpusRow
	Rows                         []matrixRow
	Generated, Started, Duration string
	Counts                       []matrixCount
	ShardNote                    string // which shard, or what was merged
}

type matrixCount struct {
	Label string
	N     int
	Class string
}

// WritePage writes the matrix's summary page to path. Runs link to
// their reports relative to the page, so it belongs in the store's top
// directory (storeDir holds the run directories).
func WritePage(path, storeDir string, m Summary) error {
	b, err := renderPage(storeDir, m, time.Now())
	if err != nil {
		return err
	}
	return rundir.WriteFile(path, b)
}

func renderPage(storeDir string, m Summary, now time.Time) ([]byte, error) {
	v := matrixView{Summary: m, Generated: now.UTC().Format(time.RFC3339)}
	if !m.Started.IsZero() {
		v.Started = m.Started.UTC().Format("2006-01-02 15:04 MST")
	}
	v.Duration = fmtDuration(m.Duration)
	switch {
	case !m.Shard.Whole():
		v.ShardNote = fmt.Sprintf("shard %s: %d of the matrix's %d runs", m.Shard, len(m.Runs), m.MatrixRuns)
	case len(m.Merged) > 0:
		v.ShardNote = fmt.Sprintf("merged from %s", plural(len(m.Merged), "shard store"))
	}
	for _, r := range m.Corpus {
		row := corpusRow{Result: r, By: strings.Join(r.By, ", ")}
		if r.Decided != "" {
			row.Href = runstore.Link(storeDir, r.Decided)
		}
		v.CorpusRows = append(v.CorpusRows, row)
	}
	outcomes := map[string]int{}
	var order []string
	for _, r := range m.Runs {
		row := matrixRow{JudgedRun: r, Seed: fmt.Sprint(r.Seed), Duration: fmtDuration(r.Duration)}
		if r.Name != "" {
			row.Href = runstore.Link(storeDir, r.Name)
		}
		for _, c := range m.Checkers {
			cell := matrixCell{Verdict: "", Title: "not checked"}
			if ch, ok := r.Checkers[c]; ok {
				cell = matrixCell{Verdict: ch.Verdict, Title: ch.Summary}
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
	if err := pageTmpl.Execute(&buf, v); err != nil {
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
