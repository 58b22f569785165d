package reports

import (
	"bytes"
	"encoding/json"
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

// settings is run.json. Every field is optional; raw keeps them all, in
// file order, so that fields this package does not know are shown too.
type settings struct {
	raw   map[string]json.RawMessage
	order []string
}

// str returns a string field, or a number or other JSON value as its text.
func (s settings) str(key string) string {
	v, ok := s.raw[key]
	if !ok {
		return ""
	}
	return jsonText(v)
}

// list returns a field that is a list (of strings or anything) as strings;
// a single value becomes a one-element list.
func (s settings) list(key string) []string {
	v, ok := s.raw[key]
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		if t := jsonText(v); t != "" {
			return []string{t}
		}
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, jsonText(it))
	}
	return out
}

// jsonText renders a JSON value for a person: strings unquoted, null empty,
// anything else compact JSON.
func jsonText(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var s string
	if v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v)
	}
	return buf.String()
}

// parseSettings reads run.json keeping the order of its keys.
func parseSettings(b []byte) (settings, error) {
	s := settings{raw: map[string]json.RawMessage{}}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return s, errors.New("not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return s, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return s, err
		}
		if _, dup := s.raw[key]; !dup {
			s.order = append(s.order, key)
		}
		s.raw[key] = v
	}
	return s, nil
}

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
	Settings    settings
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

	switch b, err := os.ReadFile(filepath.Join(abs, rundir.SettingsFile)); {
	case errors.Is(err, fs.ErrNotExist):
		r.note("no %s: the run's settings are unknown", rundir.SettingsFile)
	case err != nil:
		r.note("cannot read %s: %v", rundir.SettingsFile, err)
	default:
		if s, err := parseSettings(b); err != nil {
			r.note("%s is damaged: %v", rundir.SettingsFile, err)
		} else {
			r.Settings, r.HasSettings = s, true
			if n := s.str("name"); n != "" {
				r.Name = n
			}
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
	s := r.Settings.str("started")
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
