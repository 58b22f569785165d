package regress

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// DefaultReplays is how often an entry is replayed at most: runs are not
// deterministic, so a bug that shows one replay in two still shows.
const DefaultReplays = 3

// Runner runs one replay of an entry. Docker runs it for real; the tests
// use a fake.
type Runner interface {
	Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, label string) (runner.Result, error)
}

// Docker is the Runner that runs for real: runner.Run with the entry's
// schedule.
type Docker struct{ Options runner.Options }

// Run runs cfg with sched through runner.Run.
func (d Docker) Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, label string) (runner.Result, error) {
	o := d.Options
	o.Schedule, o.Label = &sched, label
	o.Command = cmp.Or(o.Program, "splitbrain") + " corpus run  # " + label
	return runner.Run(ctx, cfg, o)
}

// Outcomes of an entry.
const (
	Shows            = "shows"             // expect invalid: a replay was invalid by one of its checkers
	NoLongerShows    = "no longer shows"   // expect invalid: every replay was valid
	ShowsDifferently = "shows differently" // expect invalid: invalid, but by other checkers only
	StaysFixed       = "stays fixed"       // expect valid: every replay was valid
	Regressed        = "regressed"         // expect valid: a replay was invalid
	Unknown          = "unknown"           // a replay proved nothing and none decided the entry
	CouldNotRun      = "could not run"     // a replay could not run (or the entry is not runnable)
	Skipped          = "skipped"           // not replayed (--faithful and no planted bug)
)

// Classes of an outcome, as JUnit sees them.
const (
	ClassPass    = "pass"
	ClassFail    = "fail"    // the entry is not as it expects: exit 1
	ClassError   = "error"   // could not run: exit 3
	ClassUnknown = "unknown" // proved nothing: exit 2
	ClassSkip    = "skip"
)

// Options are a corpus replay's settings.
type Options struct {
	Store   string // where the replays go
	Prefix  string // begins every replay's run name ("" none)
	Replays int    // replays of an entry at most; DefaultReplays when 0
	// Faithful replays each planted-bug entry on electd's faithful build,
	// which must be valid every time (the schedule that exposes the bug
	// must not fail a correct build); entries with no planted bug are
	// skipped.
	Faithful bool
	Runner   Runner // nil: Docker{}
	Log      *slog.Logger
	// Done, when set, is called after each entry (a line of progress).
	Done func(Result)
}

// Result is one entry's replays, judged.
type Result struct {
	Entry    string          `json:"entry"` // its name
	File     string          `json:"file"`
	System   string          `json:"system"`
	Bug      string          `json:"bug,omitempty"`
	Expect   checker.Verdict `json:"expect"`   // what was expected of this replay (valid with Faithful)
	Checkers []string        `json:"checkers"` // the entry's checkers
	Outcome  string          `json:"outcome"`
	Class    string          `json:"class"`
	Message  string          `json:"message"`
	Replays  int             `json:"replays"`           // replays run
	Of       int             `json:"of"`                // replays allowed
	By       []string        `json:"by,omitempty"`      // the checkers that said invalid, over all replays
	Runs     []string        `json:"runs,omitempty"`    // the replays' run directories' names, in the store
	Decided  string          `json:"decided,omitempty"` // the run that decided the outcome (its name), "" none
	Replay   string          `json:"replay,omitempty"`  // the command that replays the deciding run
}

// Summary is a replayed corpus.
type Summary struct {
	Results  []Result
	ExitCode int
	Status   string
}

// Replay replays each entry up to opts.Replays times, one after another,
// into opts.Store, and judges it against what it expects. An entry that
// expects invalid stops at the first replay invalid by one of its
// checkers; one that expects valid runs every replay (each must be
// valid). A cancelled ctx stops after the replay under way; the entries
// left are could not run.
func Replay(ctx context.Context, entries []Entry, opts Options) Summary {
	log := cmp.Or(opts.Log, slog.Default())
	if opts.Runner == nil {
		opts.Runner = Docker{}
	}
	k := cmp.Or(opts.Replays, DefaultReplays)
	var sum Summary
	for i, e := range entries {
		n := k
		if e.Expect == ExpectInvalid {
			n = max(k, e.Replays) // a flaky schedule needs more tries to show
		}
		r := replayEntry(ctx, e, n, opts, log, fmt.Sprintf("%d/%d", i+1, len(entries)))
		sum.Results = append(sum.Results, r)
		if opts.Done != nil {
			opts.Done(r)
		}
	}
	sum.ExitCode, sum.Status = Judge(sum.Results)
	return sum
}

func replayEntry(ctx context.Context, e Entry, k int, opts Options, log *slog.Logger, nth string) Result {
	r := Result{Entry: e.Name, File: e.File, System: e.System, Bug: e.Bug, Expect: e.Expect, Checkers: e.Checkers, Of: k}
	cfg, err := e.Config()
	if err != nil {
		return r.Set(CouldNotRun, fmt.Sprintf("%s: %v", e.File, err))
	}
	if opts.Faithful {
		if e.System != runner.SystemElectd || e.Bug == "" {
			return r.Set(Skipped, "no planted bug: --faithful replays planted-bug entries on the faithful build")
		}
		cfg.Bug, r.Expect = "", ExpectValid
	}
	cfg.Store = opts.Store
	sawUnknown, sawOther, lastReplay := false, false, ""
	for j := 1; j <= k; j++ {
		if ctx.Err() != nil {
			return r.Set(CouldNotRun, fmt.Sprintf("interrupted after %d of %d replays", j-1, k))
		}
		cfg.Name = fmt.Sprintf("%s%s-r%d", opts.Prefix, e.Name, j)
		if opts.Faithful {
			cfg.Name = fmt.Sprintf("%s%s-faithful-r%d", opts.Prefix, e.Name, j)
		}
		label := fmt.Sprintf("corpus %s %s replay %d/%d", nth, e.Name, j, k)
		log.Info("corpus replay", "entry", e.Name, "replay", j, "of", k, "expect", r.Expect)
		res, err := opts.Runner.Run(ctx, cfg, e.Schedule, label)
		r.Replays, lastReplay = j, res.Replay
		if res.Dir != "" {
			r.Runs = append(r.Runs, filepath.Base(res.Dir))
		}
		if err != nil {
			r.Decided, r.Replay = base(res.Dir), res.Replay
			return r.Set(CouldNotRun, err.Error())
		}
		by := res.Report.Failing()
		for _, c := range by {
			if !slices.Contains(r.By, c) {
				r.By = append(r.By, c)
			}
		}
		switch v := res.Verdict(); {
		case res.Interrupted:
			sawUnknown = true
		case v == checker.Invalid && r.Expect == ExpectValid:
			r.Decided, r.Replay = base(res.Dir), res.Replay
			return r.Set(Regressed, fmt.Sprintf("replay %d of %d is invalid by %s", j, k, strings.Join(by, ", ")))
		case v == checker.Invalid && res.Report.FailsBy(e.Checkers):
			r.Decided, r.Replay = base(res.Dir), res.Replay
			return r.Set(Shows, fmt.Sprintf("replay %d of %d is invalid by %s", j, k, strings.Join(by, ", ")))
		case v == checker.Invalid:
			sawOther = true
			r.Decided, r.Replay = base(res.Dir), res.Replay
		case v != checker.Valid:
			sawUnknown = true
		}
	}
	if r.Decided == "" && len(r.Runs) > 0 {
		// Nothing decided it alone: the last replay stands for them.
		r.Decided, r.Replay = r.Runs[len(r.Runs)-1], lastReplay
	}
	switch {
	case r.Expect == ExpectInvalid && sawOther:
		return r.Set(ShowsDifferently, fmt.Sprintf("invalid, but by %s, not by %s: the bug shows another way (add the checker to the entry if that is expected)",
			strings.Join(r.By, ", "), strings.Join(e.Checkers, " or ")))
	case sawUnknown:
		return r.Set(Unknown, fmt.Sprintf("%d replay(s), none decided: unknown never passes", r.Replays))
	case r.Expect == ExpectInvalid:
		return r.Set(NoLongerShows, fmt.Sprintf("all %d replays valid: the bug no longer shows; if it was fixed, set expect: valid in %s to keep it fixed", r.Replays, e.File))
	}
	return r.Set(StaysFixed, fmt.Sprintf("all %d replays valid", r.Replays))
}

func base(dir string) string {
	if dir == "" {
		return ""
	}
	return filepath.Base(dir)
}

// Set records the outcome, its class (from the outcome) and why.
func (r Result) Set(outcome, msg string) Result {
	r.Outcome, r.Message = outcome, msg
	switch outcome {
	case Shows, StaysFixed:
		r.Class = ClassPass
	case NoLongerShows, ShowsDifferently, Regressed:
		r.Class = ClassFail
	case Unknown:
		r.Class = ClassUnknown
	case Skipped:
		r.Class = ClassSkip
	default:
		r.Class = ClassError
	}
	return r
}

// Judge is the exit code and a status line of judged entries, first match
// wins: 1 an entry is not as it expects (a planted bug no longer shows or
// shows by other checkers only, a fixed bug is back); 3 an entry could not
// run; 2 an entry proved nothing; 0 every entry as expected.
func Judge(rs []Result) (int, string) {
	n := map[string]int{}
	for _, r := range rs {
		n[r.Class]++
	}
	replayed := len(rs) - n[ClassSkip]
	status := fmt.Sprintf("%d of %d entries as expected", n[ClassPass], replayed)
	var why []string
	for _, o := range []string{NoLongerShows, ShowsDifferently, Regressed, CouldNotRun, Unknown} {
		c := 0
		for _, r := range rs {
			if r.Outcome == o {
				c++
			}
		}
		if c > 0 {
			why = append(why, fmt.Sprintf("%d %s", c, o))
		}
	}
	if n[ClassSkip] > 0 {
		why = append(why, fmt.Sprintf("%d skipped", n[ClassSkip]))
	}
	if len(why) > 0 {
		status += " (" + strings.Join(why, ", ") + ")"
	}
	switch {
	case n[ClassFail] > 0:
		return 1, status
	case n[ClassError] > 0:
		return 3, status
	case n[ClassUnknown] > 0:
		return 2, status
	}
	return 0, status
}

// ReportOf is the deciding replay's report (or its directory) in store,
// "" when there is none.
func (r Result) ReportOf(store string) string {
	if r.Decided == "" {
		return ""
	}
	return filepath.Join(store, r.Decided, rundir.ReportFile)
}
