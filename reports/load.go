package reports

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// logFile is one node's raw log.
type logFile struct {
	Node string
	Path string // absolute
	Size int64
}

// run is everything read from a run directory. Fields for absent files are
// empty and a note says so.
type run struct {
	Dir         string
	Name        string
	Settings    rundir.Settings
	HasSettings bool
	Results     *checker.Report // nil when the run was not checked
	Ops         []history.Op
	HasHistory  bool
	Operations  []history.Operation
	Events      []history.Event
	Timeline    *timeline.Timeline // the replay of Ops and Events
	Logs        []logFile
	Notes       []string // what was missing or damaged, for the reader
	End         int64    // the last time anything happened, ns since start
}

// loadRun reads a run directory. Only an unreadable directory is an error:
// a missing or damaged file becomes a note and the report goes on without
// it, because a half-written run is exactly the one someone wants to look
// at.
func loadRun(dir string) (*run, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("run directory: %s is not a directory", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := &run{Dir: abs, Name: filepath.Base(abs)}

	switch st, err := rundir.ReadSettings(abs); {
	case errors.Is(err, rundir.ErrNoSettings):
		r.note("no %s: the run's settings are unknown", rundir.SettingsFile)
	case err != nil:
		r.note("%s cannot be read: %v", rundir.SettingsFile, err)
	default:
		r.Settings, r.HasSettings = st, true
		if st.Name != "" {
			r.Name = st.Name
		}
		if len(st.Unsupported) > 0 {
			r.note("faults asked for but unsupported by this system, never injected: %s; the run says nothing about them",
				strings.Join(st.Unsupported, ", "))
		}
	}

	switch res, err := checker.ReadReport(abs); {
	case errors.Is(err, fs.ErrNotExist):
		r.note("no %s: the run has not been checked (run `splitbrain check %s`)", rundir.ResultsFile, dir)
	case err != nil:
		r.note("%s cannot be read: %v", rundir.ResultsFile, err)
	default:
		r.Results = &res
	}

	hpath := filepath.Join(abs, rundir.HistoryFile)
	if _, err := os.Stat(hpath); errors.Is(err, fs.ErrNotExist) {
		r.note("no %s: no client operations to show", rundir.HistoryFile)
	} else {
		ops, warns, err := history.ReadFile(hpath)
		if err != nil {
			r.note("%s cannot be read: %v", rundir.HistoryFile, err)
		} else {
			r.Ops, r.HasHistory = ops, true
			r.Operations = history.Operations(ops)
			r.Notes = append(r.Notes, warns...)
		}
	}

	evs, warns, err := history.ReadEventsFile(filepath.Join(abs, rundir.EventsFile))
	if err != nil {
		r.note("%s cannot be read: %v", rundir.EventsFile, err)
	} else {
		r.Events = evs
		r.Notes = append(r.Notes, warns...)
		if len(evs) == 0 {
			r.note("no node events: the leadership timeline is empty")
		}
	}
	// Events are appended as they arrive from several nodes; order them so
	// the timeline can sweep them.
	sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].Time < r.Events[j].Time })

	ents, err := os.ReadDir(filepath.Join(abs, rundir.LogsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.note("cannot list %s: %v", rundir.LogsDir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".log") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		r.Logs = append(r.Logs, logFile{
			Node: strings.TrimSuffix(name, ".log"),
			Path: filepath.Join(abs, rundir.LogsDir, name),
			Size: info.Size(),
		})
	}
	sort.Slice(r.Logs, func(i, j int) bool { return nodeLess(r.Logs[i].Node, r.Logs[j].Node) })

	for _, op := range r.Ops {
		r.End = max(r.End, op.Time)
	}
	for _, ev := range r.Events {
		r.End = max(r.End, ev.Time)
	}
	r.Timeline = timeline.New(r.Ops, r.Events)
	return r, nil
}

func (r *run) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// verdict is the run's overall verdict: results.json's, or unknown when the
// run was not checked.
func (r *run) verdict() string {
	if r.Results == nil || r.Results.Verdict == "" {
		return string(checker.Unknown)
	}
	return string(r.Results.Verdict)
}

// started is run.json's start time, if it parses.
func (r *run) started() (time.Time, bool) {
	s := r.Settings.Started
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// checker returns the named checker's result, or nil.
func (r *run) checker(name string) *checker.Result {
	if r.Results == nil {
		return nil
	}
	return r.Results.Checker(name)
}

// nodeLess orders node names naturally, so n2 comes before n10.
func nodeLess(a, b string) bool {
	pa, na := splitNum(a)
	pb, nb := splitNum(b)
	if pa != pb {
		return pa < pb
	}
	if na != nb {
		return na < nb
	}
	return a < b
}

// splitNum splits a trailing decimal number off a name; -1 when none.
func splitNum(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) || len(s)-i > 9 {
		return s, -1
	}
	n, _ := strconv.Atoi(s[i:])
	return s[:i], n
}
