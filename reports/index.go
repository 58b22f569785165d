package reports

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/checker"
)

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
	for _, f := range []string{settingsFile, resultsFile, historyFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// WriteIndex writes store/index.html listing every run directory in store.
// It reads only each run's run.json and results.json, never a history, so
// it stays quick for a store of many large runs.
func WriteIndex(store string) error {
	b, err := renderIndex(store, time.Now())
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(store, indexFile), b)
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
		v.Runs = append(v.Runs, indexEntry(dir, e.Name()))
	}
	sort.SliceStable(v.Runs, func(i, j int) bool {
		if !v.Runs[i].when.Equal(v.Runs[j].when) {
			return v.Runs[i].when.After(v.Runs[j].when)
		}
		return v.Runs[i].Name > v.Runs[j].Name
	})
	for _, r := range v.Runs {
		switch r.Verdict {
		case "invalid":
			v.Invalid++
		case "valid":
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

// indexEntry summarises one run from its small files.
func indexEntry(dir, base string) indexRow {
	row := indexRow{Name: base, Verdict: "unknown", Href: "./" + url.PathEscape(base) + "/"}
	if st, err := os.Stat(filepath.Join(dir, reportFile)); err == nil && st.Mode().IsRegular() {
		row.HasReport = true
		row.Href += reportFile
	}
	var s settings
	if b, err := os.ReadFile(filepath.Join(dir, settingsFile)); err == nil {
		s, _ = parseSettings(b)
	}
	if n := s.str("name"); n != "" && n != base {
		row.Name = base + " (" + n + ")"
	}
	var sys []string
	for _, k := range []string{"system", "algo", "bug"} {
		if x := s.str(k); x != "" {
			sys = append(sys, x)
		}
	}
	row.System = strings.Join(sys, " / ")
	row.Faults = strings.Join(s.list("nemesis"), ", ")
	if t, err := time.Parse(time.RFC3339Nano, s.str("started")); err == nil {
		row.when = t
		row.Date = t.UTC().Format("2006-01-02 15:04")
	} else if st, err := os.Stat(dir); err == nil {
		// No start time recorded: the directory's age is the best guess.
		row.when = st.ModTime()
		row.Date = st.ModTime().UTC().Format("2006-01-02 15:04") + "?"
	}
	if rep, err := checker.ReadReport(dir); err == nil {
		row.Verdict = orUnknown(string(rep.Verdict))
		row.Ops = fmt.Sprint(rep.Ops)
	}
	return row
}

// Handler serves a run store: the index, rendered afresh on each request
// so that new runs appear, and each run's files, with its report rebuilt
// first when it is missing or older than the run's results or history.
// Only files under store are served.
func Handler(store string) http.Handler {
	h := &storeHandler{store: store, files: http.FileServer(http.Dir(store))}
	return h
}

type storeHandler struct {
	store string
	files http.Handler
	mu    sync.Mutex // one report build at a time: they are CPU-heavy
}

func (h *storeHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p := path.Clean("/" + req.URL.Path)
	if p == "/" || p == "/"+indexFile {
		b, err := renderIndex(h.store, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
		return
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) >= 1 && !strings.HasPrefix(parts[0], ".") {
		dir := filepath.Join(h.store, filepath.FromSlash(parts[0]))
		wantsReport := len(parts) == 1 || (len(parts) == 2 && parts[1] == reportFile)
		if wantsReport && IsRun(dir) {
			if err := h.freshen(dir); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if len(parts) == 1 { // a run's directory: its report
				http.Redirect(w, req, "/"+url.PathEscape(parts[0])+"/"+reportFile, http.StatusFound)
				return
			}
		}
	}
	h.files.ServeHTTP(w, req)
}

// freshen rebuilds a run's report when it is missing or stale.
func (h *storeHandler) freshen(dir string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rep, err := os.Stat(filepath.Join(dir, reportFile))
	if err == nil {
		stale := false
		for _, f := range []string{resultsFile, historyFile, eventsFile, settingsFile} {
			if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.ModTime().After(rep.ModTime()) {
				stale = true
			}
		}
		if !stale {
			return nil
		}
	}
	return Write(dir)
}
