package regress

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// FromRun makes an entry of the failing run in dir: its settings
// (run.json), its schedule (schedule.json) and the checkers that said
// invalid (results.json). A run that is not invalid is refused: the
// corpus keeps failures. expect is what replays of it must show
// (ExpectInvalid: still failing; ExpectValid: the bug has been fixed).
func FromRun(dir string, expect checker.Verdict) (Entry, error) {
	if expect != ExpectInvalid && expect != ExpectValid {
		return Entry{}, fmt.Errorf("--expect: want invalid or valid, got %q", expect)
	}
	cfg, err := runner.ReadSettings(dir)
	if err != nil {
		return Entry{}, err
	}
	st, err := rundir.ReadSettings(dir)
	if err != nil {
		return Entry{}, err
	}
	sched, err := nemesis.ReadFile(filepath.Join(dir, rundir.ScheduleFile))
	if err != nil {
		return Entry{}, err
	}
	rep, err := checker.ReadReport(dir)
	if err != nil {
		return Entry{}, fmt.Errorf("%s: no verdict (run splitbrain check first): %w", dir, err)
	}
	if rep.Verdict != checker.Invalid {
		return Entry{}, fmt.Errorf("%s is %s: the corpus keeps runs that failed (invalid)", dir, rep.Verdict)
	}
	e := Entry{System: cfg.System, Algo: cfg.Algo, Bug: cfg.Bug, ReadMode: cfg.ReadMode, Nodes: cfg.Nodes,
		Seed: sched.Seed, Expect: expect, ShrunkFrom: st.ShrunkFrom, FaultsBefore: st.FaultsBefore}
	if cfg.System != runner.SystemElectd {
		e.Algo = ""
	}
	e.Checkers = rep.Failing()
	if sh, err := rundir.ReadShrink(dir); err == nil && e.Expect == ExpectInvalid {
		e.Replays = ReplaysFor(sh.Confirmed, sh.Confirmations)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		e.Source = abs
	}
	if t, err := time.Parse(time.RFC3339, st.Started); err == nil {
		e.Found = t.UTC().Format(time.DateOnly)
	}
	// The settings that are not the defaults (and not the entry's own).
	d := runner.Defaults()
	for _, f := range runner.Fields {
		if slices.Contains(owned, f.Name) || f.Get(&cfg) == f.Get(&d) {
			continue
		}
		e.Settings = append(e.Settings, Setting{Key: f.Name, Value: f.Get(&cfg)})
	}
	if len(sched.Nodes) != cfg.Nodes {
		return Entry{}, fmt.Errorf("%s: the schedule is for %d nodes, run.json says %d", dir, len(sched.Nodes), cfg.Nodes)
	}
	e.Schedule = sched
	if _, err := e.Config(); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", dir, err)
	}
	return e, nil
}

// DefaultName is an entry's name when none is given: its planted bug, or
// the system (with its read mode), then the date it was found.
func DefaultName(e Entry) string {
	parts := []string{e.System}
	switch {
	case e.Bug != "":
		parts = []string{strings.ReplaceAll(e.Bug, ",", "+")}
	case e.System == runner.SystemElectd:
		parts = append(parts, e.Algo)
	case e.ReadMode != "":
		parts = append(parts, e.ReadMode)
	}
	if e.Found != "" {
		parts = append(parts, strings.ReplaceAll(e.Found, "-", ""))
	}
	return strings.Join(parts, "-")
}

// Add writes e into the corpus folder as NAME.yaml: name, or DefaultName
// numbered -2, -3, ... when taken (a name given is never overwritten). It
// returns the file written.
func Add(folder, name string, e Entry) (string, error) {
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", fmt.Errorf("corpus folder: %w", err)
	}
	given := name != ""
	if !given {
		name = DefaultName(e)
	}
	if !ValidName(name) {
		return "", fmt.Errorf("--name: %q: want up to 64 letters, digits, '.', '_' and '-'", name)
	}
	path := filepath.Join(folder, name+Ext)
	for i := 2; ; i++ {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		if given {
			return "", fmt.Errorf("--name %s: %s exists; pick another name", name, path)
		}
		path = filepath.Join(folder, fmt.Sprintf("%s-%d%s", name, i, Ext))
	}
	e.File, e.Name = path, strings.TrimSuffix(filepath.Base(path), Ext)
	b, err := Format(e)
	if err != nil {
		return "", err
	}
	// What is written must read back as the same entry.
	back, err := Parse(path, b)
	if err != nil {
		return "", fmt.Errorf("the entry does not read back (a bug in splitbrain): %w", err)
	}
	if _, err := back.Config(); err != nil {
		return "", err
	}
	if err := rundir.WriteFile(path, b); err != nil {
		return "", err
	}
	return path, nil
}

// Load reads every entry (*.yaml) of a corpus folder, in name order. An
// entry that does not parse is an error naming its file and line; a
// folder with no entry is no error (an empty corpus).
func Load(folder string) ([]Entry, error) {
	st, err := os.Stat(folder)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("corpus: %s is not a folder", folder)
	}
	files, err := filepath.Glob(filepath.Join(folder, "*"+Ext))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var out []Entry
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e, err := Parse(f, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

// MaxReplays bounds an entry's replays.
const MaxReplays = 10

// ReplaysFor is how many replays give a schedule that failed again in k
// of n replays a 95% chance to fail at least once more (at most
// MaxReplays), or 0 when the default is enough (it always failed) or
// nothing is known (no replays).
func ReplaysFor(k, n int) int {
	switch {
	case n <= 0, k >= n:
		return 0
	case k <= 0:
		return MaxReplays // it never failed again: as many as an entry gets
	}
	p := float64(k) / float64(n)
	r := int(math.Ceil(math.Log(0.05) / math.Log(1-p)))
	return min(max(r, DefaultReplays), MaxReplays)
}
