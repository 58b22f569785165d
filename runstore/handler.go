package runstore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
)

// Handler serves the run store in dir: the index, rendered afresh on each
// request so that new runs appear, and each run's files, with its report
// rebuilt first when it is missing or older than the run's results,
// history, events or settings.
//
// Only files inside dir are served: names are read through an os.Root, so
// neither ".." nor a symbolic link leads out of the store, and no name
// starting with "." is served (the temporary files of atomic writes,
// version-control directories).
func Handler(dir string) http.Handler {
	h := &handler{dir: dir}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.index)
	mux.HandleFunc("GET /"+rundir.IndexFile, h.index)
	mux.HandleFunc("GET /{name}", h.top)
	mux.HandleFunc("GET /{run}/{file...}", h.run)
	return mux
}

type handler struct {
	dir string
	mu  sync.Mutex // one report build at a time: they are CPU-heavy
}

func (h *handler) index(w http.ResponseWriter, req *http.Request) {
	b, err := renderIndex(h.dir, time.Now())
	if err != nil {
		h.fail(w, req, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

// top serves a file beside the runs (the nightly page, its JUnit file), or
// sends a run's directory to its trailing-slash form.
func (h *handler) top(w http.ResponseWriter, req *http.Request) {
	h.serve(w, req, req.PathValue("name"))
}

// run serves a run's files. The run's directory itself, and its report,
// are answered with the report, (re)built first when it is stale.
func (h *handler) run(w http.ResponseWriter, req *http.Request) {
	run, file := req.PathValue("run"), req.PathValue("file")
	if !safeName(run) {
		http.NotFound(w, req)
		return
	}
	if (file == "" || file == rundir.ReportFile) && h.isRunDir(run) {
		if err := h.freshen(filepath.Join(h.dir, run)); err != nil {
			h.fail(w, req, err)
			return
		}
		if file == "" {
			http.Redirect(w, req, "/"+url.PathEscape(run)+"/"+rundir.ReportFile, http.StatusFound)
			return
		}
	}
	h.serve(w, req, run+"/"+file)
}

// serve serves name, a slash-separated path inside the store, or a 404
// when a part of it is not a name the store serves.
func (h *handler) serve(w http.ResponseWriter, req *http.Request, name string) {
	for _, part := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if !safeName(part) {
			http.NotFound(w, req)
			return
		}
	}
	root, err := os.OpenRoot(h.dir)
	if err != nil {
		h.fail(w, req, fmt.Errorf("run store: %w", err))
		return
	}
	defer root.Close()
	http.ServeFileFS(w, req, root.FS(), strings.TrimSuffix(name, "/"))
}

// safeName reports whether part may name a file or directory of the store:
// one path element, not "." or "..", not hidden.
func safeName(part string) bool {
	return part != "" && !strings.HasPrefix(part, ".") && !strings.ContainsAny(part, `/\`) && fs.ValidPath(part)
}

// isRunDir reports whether the store's entry run is a run directory in
// the store itself, not a link to one elsewhere: the handler writes
// reports into it.
func (h *handler) isRunDir(run string) bool {
	st, err := os.Lstat(filepath.Join(h.dir, run))
	return err == nil && st.IsDir() && IsRun(filepath.Join(h.dir, run))
}

// freshen rebuilds a run's report when it is missing or stale.
func (h *handler) freshen(dir string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rep, err := os.Stat(filepath.Join(dir, rundir.ReportFile))
	if err == nil {
		stale := false
		for _, f := range []string{rundir.ResultsFile, rundir.HistoryFile, rundir.EventsFile, rundir.SettingsFile} {
			if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.ModTime().After(rep.ModTime()) {
				stale = true
			}
		}
		if !stale {
			return nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("report of %s: %w", filepath.Base(dir), err)
	}
	if err := reports.Write(dir); err != nil {
		return fmt.Errorf("report of %s: %w", filepath.Base(dir), err)
	}
	return nil
}

func (h *handler) fail(w http.ResponseWriter, req *http.Request, err error) {
	slog.Error("serve", "path", req.URL.Path, "err", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}
