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
	// Redis Cluster's: the cluster converges after the heal (a verdict),
	// and what it does not promise, measured (information).
	NameConvergence = "convergence"
	NameLostWrites  = "lost-writes"
	NameTwoWriters  = "two-writers"
)

// Names lists the checkers of every run, in the order a Report gives them.
var Names = []string{NameLinearizable, NameElectionSafety, NameLeaseSafety, NameTermMonotonic, NameLiveness}

// RedisNames lists the checkers a Redis Cluster run adds, after Names: a
// run of another system does not list them.
var RedisNames = []string{NameConvergence, NameLostWrites, NameTwoWriters}

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

// Failing names the checkers that said invalid, in the report's order.
func (r *Report) Failing() []string {
	var out []string
	for _, c := range r.Checkers {
		if c.Verdict == Invalid {
			out = append(out, c.Name)
		}
	}
	return out
}

// FailsBy says whether one of the named checkers said invalid: the same
// bug seen again, where any invalid checker might be another one.
func (r *Report) FailsBy(names []string) bool {
	return slices.ContainsFunc(r.Failing(), func(n string) bool { return slices.Contains(names, n) })
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
	// Checkers names the checkers to run (Names, RedisNames); empty for
	// all that apply.
	Checkers []string
	// NoEvents says the run has no events.jsonl at all (as opposed to one
	// with no role event): the checkers that judge events are skipped.
	// CheckDir sets it.
	NoEvents bool
	// System is the system under test as run.json names it, and Expect
	// run.json's expect (CheckDir reads both when they are empty). A Redis
	// Cluster run (rundir.SystemRedis) is judged by what Redis Cluster
	// promises: the convergence, lost-writes and two-writers checkers run,
	// the last two as measures (Info), and linearizability is information
	// unless Expect is rundir.ExpectLinearizable.
	System, Expect string
	// RoleLag is how late the observer may see a node's role change: an
	// operation that ends within it of the end of its node's reign as the
	// slot's master is not taken as served by that node (Redis Cluster
	// runs). Default 1 s.
	RoleLag time.Duration
}

func (o Options) withDefaults() Options {
	if o.LinearizableTimeout <= 0 {
		o.LinearizableTimeout = 60 * time.Second
	}
	if o.LivenessBound <= 0 {
		o.LivenessBound = 10 * time.Second
	}
	if o.RoleLag <= 0 {
		o.RoleLag = time.Second
	}
	return o
}

// ErrNoHistory means the directory holds no history.jsonl.
var ErrNoHistory = errors.New("no " + rundir.HistoryFile + " in the run directory")

// ErrUnknownChecker is returned for a name not in Names or RedisNames.
var ErrUnknownChecker = errors.New("unknown checker")

// CheckNames returns an error naming any of names that is not a checker.
func CheckNames(names []string) error {
	var bad []string
	all := append(slices.Clone(Names), RedisNames...)
	for _, n := range names {
		if !slices.Contains(all, n) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s (the checkers are %s)", ErrUnknownChecker, strings.Join(bad, ", "), strings.Join(all, ", "))
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
	if opts.System == "" {
		// run.json says what system ran, and what it was expected to be;
		// a directory without one (a harness of one's own) is judged by
		// the single-leader checkers.
		if st, err := rundir.ReadSettings(dir); err == nil {
			opts.System = st.System
			if opts.Expect == "" {
				opts.Expect = st.Expect
			}
		} else if !errors.Is(err, rundir.ErrNoSettings) {
			return Report{}, err
		}
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
	for _, name := range append(slices.Clone(Names), RedisNames...) {
		redis := slices.Contains(RedisNames, name)
		if !run(name) || (redis && !opts.isRedis() && len(opts.Checkers) == 0) {
			continue
		}
		var r Result
		switch {
		case redis && !opts.isRedis():
			r = Result{Name: name, Verdict: Skipped, Summary: "applies to Redis Cluster runs (system " + rundir.SystemRedis + ") only"}
		case name == NameLinearizable:
			r = Linearizable(ctx, ops, opts)
			if opts.isRedis() && opts.Expect != rundir.ExpectLinearizable {
				r = asInformation(r, "Redis Cluster does not promise linearizability (--expect "+rundir.ExpectLinearizable+" makes it a verdict)")
			}
		case redis && name == NameLostWrites:
			r = LostWrites(ops, tl, opts)
		case redis && name == NameTwoWriters:
			r = TwoWriters(ops, tl, opts)
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
		case name == NameConvergence:
			r = Convergence(tl, events, opts.LivenessBound)
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
