package nightly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/runner"
)

// Files the nightly command writes at the top of the store.
const (
	SummaryFile = "nightly.html"
	JUnitFile   = "nightly-junit.xml"
)

// Runner runs one test. Docker runs it for real; the tests use a fake that
// writes run directories, since a real run takes minutes.
type Runner interface {
	Run(ctx context.Context, cfg runner.Config) (runner.Result, error)
}

// Docker is the Runner that runs for real: runner.Run with Options.
type Docker struct{ Options runner.Options }

// Run runs cfg through runner.Run.
func (d Docker) Run(ctx context.Context, cfg runner.Config) (runner.Result, error) {
	return runner.Run(ctx, cfg, d.Options)
}

// Options are what a nightly needs beyond its matrix.
type Options struct {
	Store        string       // where run directories, the summary and the index go
	JUnit        string       // the JUnit file; store/nightly-junit.xml when empty
	RequireFound bool         // a planted bug found in no seed fails the nightly
	Runner       Runner       // nil: Docker with runner's default options
	Log          *slog.Logger // nil: slog.Default()
	// Out gets a line per finished run; nil for none.
	Out io.Writer
	// Now stamps run names; time.Now when nil.
	Now func() time.Time
}

// Done is one finished (or failed) run, before it is judged.
type Done struct {
	Run
	Err      error // the run could not happen (or not be stored)
	Replay   string
	Duration time.Duration
}

// Stamp picks the date part of the run names: the UTC date, with -2, -3,
// ... when a run of that name is already in the store (a second nightly
// the same day), so that one night's runs share a prefix and no run is
// refused for its name.
func Stamp(m Matrix, store string, now time.Time) (string, error) {
	date := now.UTC().Format("20060102")
	for i := 1; i < 1000; i++ {
		stamp := date
		if i > 1 {
			stamp = fmt.Sprintf("%s-%d", date, i)
		}
		runs, err := Expand(m, stamp, store)
		if err != nil {
			return "", err
		}
		free := true
		for _, r := range runs {
			if _, err := os.Stat(filepath.Join(store, r.Name)); err == nil {
				free = false
				break
			}
		}
		if free {
			return stamp, nil
		}
	}
	return "", fmt.Errorf("%s: no free run name for %s in %s", m.File, date, store)
}

// Execute runs every run of m, one after another (a run wants the machine
// to itself: its timings are part of what it tests), then writes the
// summary page, the JUnit file and the store's index. A cancelled ctx stops
// after the run under way (which runner judges as far as it got); the runs
// left are reported as not run. The error is about writing the summary;
// the verdict is in the returned Matrix (ExitCode).
func Execute(ctx context.Context, m Matrix, opts Options) (reports.Matrix, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.Runner == nil {
		opts.Runner = Docker{}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if err := os.MkdirAll(opts.Store, 0o755); err != nil {
		return reports.Matrix{}, fmt.Errorf("store: %w", err)
	}
	started := now()
	stamp, err := Stamp(m, opts.Store, started)
	if err != nil {
		return reports.Matrix{}, err
	}
	runs, err := Expand(m, stamp, opts.Store)
	if err != nil {
		return reports.Matrix{}, err
	}
	var done []Done
	for i, r := range runs {
		d := Done{Run: r}
		if ctx.Err() != nil {
			d.Err = fmt.Errorf("not run: the nightly was interrupted")
			done = append(done, d)
			continue
		}
		log.Info("nightly run", "n", fmt.Sprintf("%d/%d", i+1, len(runs)), "name", r.Name)
		t0 := time.Now()
		res, err := opts.Runner.Run(ctx, r.Config)
		d.Duration, d.Err, d.Replay = time.Since(t0), err, res.Replay
		if res.Interrupted && err == nil {
			// Judged, but on part of its time: not a run of the matrix.
			d.Err = errors.New("interrupted: judged on what was recorded until then")
		}
		done = append(done, d)
		if opts.Out != nil {
			rr, _ := judge(opts.Store, d)
			fmt.Fprintf(opts.Out, "[%d/%d] %-10s %s", i+1, len(runs), rr.Outcome, r.Name)
			if rr.Message != "" {
				fmt.Fprintf(opts.Out, ": %s", rr.Message)
			}
			fmt.Fprintf(opts.Out, " (%s)\n", d.Duration.Round(time.Second))
		}
	}
	sum := Summarize(m, opts.Store, done, opts.RequireFound)
	sum.Started, sum.Duration = started, now().Sub(started)
	junit := opts.JUnit
	if junit == "" {
		junit = filepath.Join(opts.Store, JUnitFile)
	}
	var errs []error
	if err := reports.WriteMatrix(filepath.Join(opts.Store, SummaryFile), opts.Store, sum); err != nil {
		errs = append(errs, err)
	}
	if err := reports.WriteMatrixJUnit(junit, sum); err != nil {
		errs = append(errs, err)
	}
	if err := reports.WriteIndex(opts.Store); err != nil {
		errs = append(errs, err)
	}
	return sum, errors.Join(errs...)
}

// Summarize judges finished runs against what the matrix expects, reading
// each run's results.json from the store (the stored verdict is the one
// the reports show, so the summary cannot disagree with them).
func Summarize(m Matrix, store string, done []Done, requireFound bool) reports.Matrix {
	sum := reports.Matrix{Name: m.Name, File: m.File}
	for _, d := range done {
		r, names := judge(store, d)
		for _, c := range names {
			if !contains(sum.Checkers, c) {
				sum.Checkers = append(sum.Checkers, c)
			}
		}
		sum.Runs = append(sum.Runs, r)
	}
	sum.Bugs = bugTable(sum.Runs, requireFound)
	// A bug run that did not find its bug fails only when finding it is
	// required, and then only when no seed found it: one seed missing a
	// bug another found is the nemesis's luck, not a weaker suite.
	for i, r := range sum.Runs {
		if r.Faithful || r.Outcome == OutcomeCouldNotRun || r.Outcome == OutcomeFound {
			continue
		}
		b := findBug(sum.Bugs, r)
		if requireFound && b != nil && b.Found == 0 {
			sum.Runs[i].Result = reports.MatrixFail
			sum.Runs[i].Message += " (--require-found: no seed found it)"
		}
	}
	sum.ExitCode, sum.Status = exitCode(sum, requireFound)
	switch sum.ExitCode {
	case 0:
		sum.Result = reports.MatrixPass
	case 3:
		sum.Result = reports.MatrixError
	default:
		sum.Result = reports.MatrixFail
	}
	return sum
}

// Outcomes of one run.
const (
	OutcomePass        = "pass"          // faithful and valid
	OutcomeRegression  = "regression"    // faithful and invalid
	OutcomeUnknown     = "unknown"       // the run proved nothing
	OutcomeFound       = "found"         // planted bug, run invalid
	OutcomeNotFound    = "not found"     // planted bug, run valid
	OutcomeCouldNotRun = "could not run" // no verdict at all
)

// judge reads one run's verdict and says what it means for the matrix. It
// also returns the run's checkers in their results.json order, the order of
// the page's columns.
func judge(store string, d Done) (reports.MatrixRun, []string) {
	r := reports.MatrixRun{
		Name: d.Name, System: d.System, Algo: d.Algo, Bug: d.Bug, Nemesis: d.Nemesis, Seed: d.Seed,
		Faithful: d.Faithful(), Replay: d.Replay, Duration: d.Duration, ExpectedCheckers: d.ExpectedCheckers(),
	}
	if d.Err != nil {
		r.Outcome, r.Result, r.Message = OutcomeCouldNotRun, reports.MatrixError, d.Err.Error()
		return r, nil
	}
	rep, err := checker.ReadReport(filepath.Join(store, d.Name))
	if err != nil {
		r.Outcome, r.Result, r.Message = OutcomeCouldNotRun, reports.MatrixError, "no verdict: "+err.Error()
		return r, nil
	}
	r.Verdict = string(rep.Verdict)
	r.Checkers = map[string]reports.MatrixCheck{}
	var names []string
	for _, c := range rep.Checkers {
		names = append(names, c.Name)
		r.Checkers[c.Name] = reports.MatrixCheck{Verdict: string(c.Verdict), Summary: c.Summary}
		if c.Verdict == checker.Invalid {
			r.FoundBy = append(r.FoundBy, c.Name)
		}
	}
	var unknownBy []string
	for _, c := range rep.Checkers {
		if c.Verdict != checker.Valid && c.Verdict != checker.Invalid {
			unknownBy = append(unknownBy, c.Name)
		}
	}
	switch {
	case r.Faithful && rep.Verdict == checker.Valid:
		r.Outcome, r.Result = OutcomePass, reports.MatrixPass
	case r.Faithful && rep.Verdict == checker.Invalid:
		r.Outcome, r.Result = OutcomeRegression, reports.MatrixFail
		r.Message = "a faithful build is invalid by " + join(r.FoundBy)
	case r.Faithful:
		// Unknown never passes: the run proved nothing.
		r.Outcome, r.Result = OutcomeUnknown, reports.MatrixFail
		r.Message = "the run proved nothing: unknown by " + join(unknownBy)
	case rep.Verdict == checker.Invalid:
		r.Outcome, r.Result = OutcomeFound, reports.MatrixPass
		for _, c := range r.FoundBy {
			r.ExpectedFound = r.ExpectedFound || contains(r.ExpectedCheckers, c)
		}
		r.Message = "by " + join(r.FoundBy)
		if !r.ExpectedFound {
			r.Message += "; the registry expects " + join(r.ExpectedCheckers)
		}
	case rep.Verdict == checker.Valid:
		r.Outcome, r.Result = OutcomeNotFound, reports.MatrixSkip
		r.Message = "valid: this seed did not expose the bug"
	default:
		// Not a pass either: a skip with its reason (Summarize makes it a
		// failure under --require-found when no seed found the bug).
		r.Outcome, r.Result = OutcomeUnknown, reports.MatrixSkip
		r.Message = "the run proved nothing: unknown by " + join(unknownBy)
	}
	return r, names
}

// bugTable is a row per planted bug, system and fault set: found in k of
// n seeds, and by which checkers.
func bugTable(runs []reports.MatrixRun, requireFound bool) []reports.MatrixBug {
	var out []reports.MatrixBug
	by := map[int]map[string]int{}
	for _, r := range runs {
		if r.Faithful {
			continue
		}
		i := -1
		for j, b := range out {
			if b.Bug == r.Bug && b.System == r.System && b.Nemesis == r.Nemesis {
				i = j
			}
		}
		if i < 0 {
			out = append(out, reports.MatrixBug{Bug: r.Bug, Algo: r.Algo, System: r.System, Nemesis: r.Nemesis, Expected: r.ExpectedCheckers})
			i = len(out) - 1
			by[i] = map[string]int{}
		}
		b := &out[i]
		b.Runs++
		switch r.Outcome {
		case OutcomeCouldNotRun:
			b.NotRun++
		case OutcomeFound:
			b.Found++
			for _, c := range r.FoundBy {
				if by[i][c] == 0 {
					b.By = append(b.By, c)
				}
				by[i][c]++
			}
		}
	}
	for i := range out {
		b := &out[i]
		expectedHit := false
		for j, c := range b.By {
			expectedHit = expectedHit || contains(b.Expected, c)
			b.By[j] = fmt.Sprintf("%s ×%d", c, by[i][c])
		}
		switch {
		case b.Found > 0 && expectedHit:
			b.Outcome, b.Result = "found", reports.MatrixPass
		case b.Found > 0:
			b.Outcome, b.Result = "found by another checker", reports.MatrixPass
		case b.NotRun == b.Runs:
			b.Outcome, b.Result = "not run", reports.MatrixError
		case requireFound:
			b.Outcome, b.Result = "not found", reports.MatrixFail
		default:
			b.Outcome, b.Result = "not found", reports.MatrixSkip
		}
	}
	return out
}

func findBug(bs []reports.MatrixBug, r reports.MatrixRun) *reports.MatrixBug {
	for i := range bs {
		if bs[i].Bug == r.Bug && bs[i].System == r.System && bs[i].Nemesis == r.Nemesis {
			return &bs[i]
		}
	}
	return nil
}

// ExitCode of a nightly, and a one-line status. In order of what matters
// most: a faithful build judged invalid is a regression (1); a run that
// could not happen leaves the matrix incomplete (3, as for splitbrain
// run); a faithful run that proved nothing is unknown (2); with
// requireFound, a planted bug no seed found fails (1). Planted bugs not
// found are otherwise reported, not failed: whether a seed exposes a bug is
// partly luck, and a nightly that fails on luck gets ignored.
func exitCode(m reports.Matrix, requireFound bool) (int, string) {
	var regress, unknown, cannot, notFound, found, faithful, pass, planted int
	for _, r := range m.Runs {
		if r.Faithful {
			faithful++
			switch r.Outcome {
			case OutcomePass:
				pass++
			case OutcomeRegression:
				regress++
			case OutcomeUnknown:
				unknown++
			}
		}
		if r.Outcome == OutcomeCouldNotRun {
			cannot++
		}
	}
	for _, b := range m.Bugs {
		planted++
		switch {
		case b.Found > 0:
			found++
		case b.NotRun < b.Runs:
			notFound++
		}
	}
	status := fmt.Sprintf("%d of %d faithful runs valid", pass, faithful)
	if planted > 0 {
		status += fmt.Sprintf("; %d of %d planted bugs found", found, planted)
	}
	var why []string
	if regress > 0 {
		why = append(why, plural(regress, "regression"))
	}
	if cannot > 0 {
		why = append(why, plural(cannot, "run")+" could not run")
	}
	if unknown > 0 {
		why = append(why, plural(unknown, "faithful run")+" unknown")
	}
	if notFound > 0 {
		why = append(why, plural(notFound, "planted bug")+" not found")
	}
	if len(why) > 0 {
		status += " (" + join(why) + ")"
	}
	switch {
	case regress > 0:
		return 1, status
	case cannot > 0:
		return 3, status
	case unknown > 0:
		return 2, status
	case requireFound && notFound > 0:
		return 1, status
	}
	return 0, status
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func join(xs []string) string {
	if len(xs) == 0 {
		return "no checker"
	}
	out := xs[0]
	for _, x := range xs[1:] {
		out += ", " + x
	}
	return out
}
