package runstore

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
)

//go:embed templates
var templateFS embed.FS

// indexTmpl is parsed once, with the style the report uses.
var indexTmpl = template.Must(reports.ParsePage(templateFS, "templates/index.html"))

// indexRow is one run in the store's index.
type indexRow struct {
	Name, Href, Date, System, Faults, Verdict string
	Ops                                       string
	HasReport                                 bool
	when                                      time.Time
}

type indexView struct {
	Runs             []indexRow
	Invalid, Unknown int
	Generated        string
}

// IsRun reports whether dir looks like a run directory: it holds run.json,
// results.json or history.jsonl.
func IsRun(dir string) bool {
	for _, f := range []string{rundir.SettingsFile, rundir.ResultsFile, rundir.HistoryFile} {
		if isFile(filepath.Join(dir, f)) {
			return true
		}
	}
	return false
}

// Link is the link, relative to the store's top directory, to the run
// named name: its report when it has one, else its directory when it is a
// run, else "" (nothing to link to). The index and the nightly page link
// runs this way.
func Link(store, name string) string {
	dir := filepath.Join(store, name)
	href := "./" + url.PathEscape(name) + "/"
	switch {
	case isFile(filepath.Join(dir, rundir.ReportFile)):
		return href + rundir.ReportFile
	case IsRun(dir):
		return href
	}
	return ""
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// WriteIndex writes store/index.html listing every run directory in store.
// It reads only each run's run.json and results.json, never a history, so
// it stays quick for a store of many large runs.
func WriteIndex(store string) error {
	b, err := renderIndex(store, time.Now())
	if err != nil {
		return err
	}
	return rundir.WriteFile(filepath.Join(store, rundir.IndexFile), b)
}

func renderIndex(store string, now time.Time) ([]byte, error) {
	ents, err := os.ReadDir(store)
	if err != nil {
		return nil, fmt.Errorf("run store: %w", err)
	}
	v := indexView{Generated: now.UTC().Format(time.RFC3339)}
	for _, e := range ents {
		dir := filepath.Join(store, e.Name())
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || !IsRun(dir) {
			continue
		}
		v.Runs = append(v.Runs, indexEntry(store, e.Name()))
	}
	sort.SliceStable(v.Runs, func(i, j int) bool {
		if !v.Runs[i].when.Equal(v.Runs[j].when) {
			return v.Runs[i].when.After(v.Runs[j].when)
		}
		return v.Runs[i].Name > v.Runs[j].Name
	})
	for _, r := range v.Runs {
		switch checker.Verdict(r.Verdict) {
		case checker.Invalid:
			v.Invalid++
		case checker.Valid:
		default:
			v.Unknown++
		}
	}
	var buf bytes.Buffer
	if err := indexTmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render index: %w", err)
	}
	return buf.Bytes(), nil
}

// indexEntry summarises the run store/base from its small files. What it
// cannot read it leaves blank: one damaged run must not hide the others.
func indexEntry(store, base string) indexRow {
	dir := filepath.Join(store, base)
	row := indexRow{Name: base, Verdict: string(checker.Unknown), Href: Link(store, base)}
	row.HasReport = strings.HasSuffix(row.Href, rundir.ReportFile)
	s, _ := rundir.ReadSettings(dir)
	if s.Name != "" && s.Name != base {
		row.Name = base + " (" + s.Name + ")"
	}
	var sys []string
	for _, x := range []string{s.System, s.Algo, s.Bug} {
		if x != "" {
			sys = append(sys, x)
		}
	}
	row.System = strings.Join(sys, " / ")
	row.Faults = strings.Join(s.Nemesis, ", ")
	if t, err := time.Parse(time.RFC3339Nano, s.Started); err == nil {
		row.when = t
		row.Date = t.UTC().Format("2006-01-02 15:04")
	} else if st, err := os.Stat(dir); err == nil {
		// No start time recorded: the directory's age is the best guess.
		row.when = st.ModTime()
		row.Date = st.ModTime().UTC().Format("2006-01-02 15:04") + "?"
	}
	if rep, err := checker.ReadReport(dir); err == nil {
		if rep.Verdict != "" {
			row.Verdict = string(rep.Verdict)
		}
		row.Ops = fmt.Sprint(rep.Ops)
	}
	return row
}
