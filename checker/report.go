package checker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// Checker names, as results.json and --checkers spell them.
const (
	NameLinearizable   = "linearizable"
	NameElectionSafety = "election-safety"
	NameLeaseSafety    = "lease-safety"
	NameTermMonotonic  = "term-monotonic"
	NameLiveness       = "liveness"
)

// Names lists every checker, in the order a Report gives them.
var Names = []string{NameLinearizable, NameElectionSafety, NameLeaseSafety, NameTermMonotonic, NameLiveness}

// Report is the judgement of one run, stored as results.json.
type Report struct {
	// Verdict combines the checkers that ran (Combine).
	Verdict  Verdict  `json:"verdict"`
	Ops      int      `json:"ops"`    // history entries read
	Events   int      `json:"events"` // node events read
	Warnings []string `json:"warnings,omitempty"`
	Checkers []Result `json:"checkers"`
}

// Checker returns the named checker's result, or nil when it did not run.
func (r *Report) Checker(name string) *Result {
	for i := range r.Checkers {
		if r.Checkers[i].Name == name {
			return &r.Checkers[i]
		}
	}
	return nil
}

// Options tune the checkers.
type Options struct {
	// LinearizableTimeout is the time budget of the linearizability search;
	// running out of it gives unknown. Default 60 s.
	LinearizableTimeout time.Duration
	// LivenessBound is how soon after the last fault heals a leader must be
	// reported. Default 10 s.
	LivenessBound time.Duration
	// VisualizeDir receives a Porcupine visualization per failing key; empty
	// for none.
	VisualizeDir string
	// Checkers names the checkers to run (Names); empty for all.
	Checkers []string
	// NoEvents says the run has no events.jsonl at all (as opposed to one
	// with no role event): the checkers that judge events are skipped.
	// CheckDir sets it.
	NoEvents bool
}

func (o Options) withDefaults() Options {
	if o.LinearizableTimeout <= 0 {
		o.LinearizableTimeout = 60 * time.Second
	}
	if o.LivenessBound <= 0 {
		o.LivenessBound = 10 * time.Second
	}
	return o
}

// ErrNoHistory means the directory holds no history.jsonl.
var ErrNoHistory = errors.New("no " + rundir.HistoryFile + " in the run directory")

// ErrUnknownChecker is returned for a name not in Names.
var ErrUnknownChecker = errors.New("unknown checker")

// CheckNames returns an error naming any of names that is not a checker.
func CheckNames(names []string) error {
	var bad []string
	for _, n := range names {
		if !slices.Contains(Names, n) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s (the checkers are %s)", ErrUnknownChecker, strings.Join(bad, ", "), strings.Join(Names, ", "))
	}
	return nil
}

// CheckDir reads the run in dir and runs the checkers. It writes nothing
// but the visualizations Options asks for. An error means the run could not
// be judged at all (missing or garbage input, an unknown checker name).
func CheckDir(ctx context.Context, dir string, opts Options) (Report, error) {
	if err := CheckNames(opts.Checkers); err != nil {
		return Report{}, err
	}
	path := filepath.Join(dir, rundir.HistoryFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return Report{}, fmt.Errorf("%s: %w", dir, ErrNoHistory)
	}
	ops, warnings, err := history.ReadFile(path)
	if err != nil {
		return Report{}, err
	}
	epath := filepath.Join(dir, rundir.EventsFile)
	if _, err := os.Stat(epath); errors.Is(err, os.ErrNotExist) {
		opts.NoEvents = true
	}
	events, ewarn, err := history.ReadEventsFile(epath)
	if err != nil {
		return Report{}, err
	}
	rep := Check(ctx, ops, events, opts)
	rep.Warnings = append(append(warnings, ewarn...), rep.Warnings...)
	return rep, nil
}

// Check runs the checkers over a history and its events. The leader
// checkers read one timeline.Timeline of them, as the report does.
func Check(ctx context.Context, ops []history.Op, events []history.Event, opts Options) Report {
	opts = opts.withDefaults()
	run := func(name string) bool { return len(opts.Checkers) == 0 || slices.Contains(opts.Checkers, name) }
	tl := timeline.New(ops, events)
	noEvents := func(name string) Result {
		return Result{Name: name, Verdict: Skipped, Summary: "no " + rundir.EventsFile + " in the run directory: nothing to judge it on"}
	}
	var results []Result
	for _, name := range Names {
		if !run(name) {
			continue
		}
		var r Result
		switch {
		case name == NameLinearizable:
			r = Linearizable(ctx, ops, opts)
		case opts.NoEvents:
			r = noEvents(name)
		case name == NameElectionSafety:
			r = ElectionSafety(tl)
		case name == NameLeaseSafety:
			r = LeaseSafety(events)
		case name == NameTermMonotonic:
			r = TermMonotonic(tl)
		case name == NameLiveness:
			r = Liveness(tl, opts.LivenessBound)
		}
		results = append(results, r)
	}
	return Report{Verdict: Combine(results), Ops: len(ops), Events: len(events), Checkers: results}
}

// WriteReport stores rep as dir/results.json, replaced whole.
func WriteReport(dir string, rep Report) error {
	return rundir.WriteJSON(filepath.Join(dir, rundir.ResultsFile), rep)
}

// ReadReport loads dir/results.json, each checker's details decoded into
// its type (see Result.Details).
func ReadReport(dir string) (Report, error) {
	var rep Report
	path := filepath.Join(dir, rundir.ResultsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return rep, fmt.Errorf("read results: %w", err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}
