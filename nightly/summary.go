package nightly

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/election/bugs"
	"github.com/splitbrain/splitbrain/regress"
)

// The judgement of a nightly: what each finished run means for the matrix
// (Summarize), which the page (page.go) and the JUnit file (junit.go) only
// show.

// Results of a matrix run as JUnit sees them.
const (
	ResultPass  = "pass"  // as expected
	ResultFail  = "fail"  // a JUnit failure: a regression, an unknown, a required bug not found
	ResultError = "error" // a JUnit error: the run could not happen
	ResultSkip  = "skip"  // a JUnit skip: a planted bug this run did not find, not required
)

// Summary is a judged nightly matrix.
type Summary struct {
	Name     string // the suite name
	File     string // the matrix file
	Started  time.Time
	Duration time.Duration
	// Status is the one-line conclusion ("2 regressions, 1 bug not found")
	// and Result its class (a Result* constant) for the page's badge.
	Status, Result string
	ExitCode       int
	Checkers       []string // the checker columns, in order
	Runs           []JudgedRun
	Bugs           []BugResult
	// Shard is the slice of the matrix these runs are (the whole matrix
	// when zero), MatrixRuns the runs of the whole matrix, and Merged the
	// shard stores a merged night was put together from.
	Shard      Shard
	MatrixRuns int
	Merged     []string
	// Corpus is the corpus entries replayed, judged (regress.Replay).
	Corpus []regress.Result
}

// JudgedRun is one run of a matrix, judged against what the matrix expects.
type JudgedRun struct {
	Name                       string // its directory under the store
	System, Algo, Bug, Nemesis string
	Seed                       int64
	Faithful                   bool
	Verdict                    string // the run's verdict; "" when it did not run
	Checkers                   map[string]Check
	Outcome                    string // what it means: "pass", "regression", "found", "not found", ...
	Result                     string // a Result* constant
	Message                    string // why, one line
	Replay                     string // the command that replays it, when known
	Duration                   time.Duration
	ExpectedCheckers           []string // the checkers the bug registry names
	FoundBy                    []string // the checkers that said invalid
	ExpectedFound              bool     // one of FoundBy is expected
}

// Check is one checker's verdict on one run.
type Check struct {
	Verdict, Summary string
}

// BugResult is one planted bug under one system and fault set, over the
// matrix's seeds.
type BugResult struct {
	Bug, Algo, System, Nemesis string
	Expected                   []string // the checkers the registry names
	Runs, Found                int      // runs, and runs that found it
	NotRun                     int      // runs that could not happen
	By                         []string // the checkers that found it, with counts: "linearizable ×2"
	// Tries is how many of its runs, in the matrix's order, it took to
	// find it (the first that found it included), and TimeToFind their
	// run time together: the scoreboard's figures (splitbrain hunt's
	// trials and time to find) for a nightly. Zero when not found.
	Tries      int
	TimeToFind time.Duration
	Outcome    string // "found", "found by another checker", "not found", "not found (scripted only)", "not run"
	Result     string // a Result* constant
	// Scripted: no fault is known to reach the bug (bugs.Bug.Scripted),
	// so not finding it is reported but never fails the nightly.
	Scripted bool
}

// Summarize judges finished runs against what the matrix expects, reading
// each run's results.json from the store (the stored verdict is the one
// the reports show, so the summary cannot disagree with them).
func Summarize(m Matrix, store string, done []Done, requireFound bool, corpus []regress.Result) Summary {
	sum := Summary{Name: m.Name, File: m.File, Corpus: corpus}
	for _, d := range done {
		r, names := judge(store, d)
		for _, c := range names {
			if !slices.Contains(sum.Checkers, c) {
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
		if requireFound && b != nil && b.Found == 0 && !b.Scripted {
			sum.Runs[i].Result = ResultFail
			sum.Runs[i].Message += " (--require-found: no seed found it)"
		}
	}
	sum.ExitCode, sum.Status = exitCode(sum, requireFound)
	switch sum.ExitCode {
	case 0:
		sum.Result = ResultPass
	case 3:
		sum.Result = ResultError
	default:
		sum.Result = ResultFail
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
func judge(store string, d Done) (JudgedRun, []string) {
	r := JudgedRun{
		Name: d.Name, System: d.System, Algo: d.Algo, Bug: d.Bug, Nemesis: d.Nemesis, Seed: d.Seed,
		Faithful: d.Faithful(), Replay: d.Replay, Duration: d.Duration, ExpectedCheckers: d.ExpectedCheckers(),
	}
	if d.Err != nil {
		r.Outcome, r.Result, r.Message = OutcomeCouldNotRun, ResultError, d.Err.Error()
		return r, nil
	}
	rep, err := checker.ReadReport(filepath.Join(store, d.Name))
	if err != nil {
		r.Outcome, r.Result, r.Message = OutcomeCouldNotRun, ResultError, "no verdict: "+err.Error()
		return r, nil
	}
	r.Verdict = string(rep.Verdict)
	r.Checkers = map[string]Check{}
	var names []string
	for _, c := range rep.Checkers {
		names = append(names, c.Name)
		v := c.Verdict
		if v == "" {
			v = checker.Unknown // a verdict left out proved nothing
		}
		r.Checkers[c.Name] = Check{Verdict: string(v), Summary: c.Summary}
	}
	r.FoundBy = rep.Failing()
	var unknownBy []string
	for _, c := range rep.Checkers {
		// A skipped checker did not apply to the run: it is no reason for
		// an unknown verdict, so it is not named as one.
		if c.Verdict != checker.Valid && c.Verdict != checker.Invalid && c.Verdict != checker.Skipped {
			unknownBy = append(unknownBy, c.Name)
		}
	}
	switch {
	case r.Faithful && rep.Verdict == checker.Valid:
		r.Outcome, r.Result = OutcomePass, ResultPass
	case r.Faithful && rep.Verdict == checker.Invalid:
		r.Outcome, r.Result = OutcomeRegression, ResultFail
		r.Message = "a faithful build is invalid by " + join(r.FoundBy)
	case r.Faithful:
		// Unknown never passes: the run proved nothing.
		r.Outcome, r.Result = OutcomeUnknown, ResultFail
		r.Message = "the run proved nothing: unknown by " + join(unknownBy)
	case rep.Verdict == checker.Invalid:
		r.Outcome, r.Result = OutcomeFound, ResultPass
		r.ExpectedFound = rep.FailsBy(r.ExpectedCheckers)
		r.Message = "by " + join(r.FoundBy)
		if !r.ExpectedFound {
			r.Message += "; the registry expects " + join(r.ExpectedCheckers)
		}
	case rep.Verdict == checker.Valid:
		r.Outcome, r.Result = OutcomeNotFound, ResultSkip
		r.Message = "valid: this seed did not expose the bug"
	default:
		// Not a pass either: a skip with its reason (Summarize makes it a
		// failure under --require-found when no seed found the bug).
		r.Outcome, r.Result = OutcomeUnknown, ResultSkip
		r.Message = "the run proved nothing: unknown by " + join(unknownBy)
	}
	return r, names
}

// bugTable is a row per planted bug, system and fault set: found in k of
// n seeds, and by which checkers.
func bugTable(runs []JudgedRun, requireFound bool) []BugResult {
	var out []BugResult
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
			out = append(out, BugResult{Bug: r.Bug, Algo: r.Algo, System: r.System, Nemesis: r.Nemesis, Expected: r.ExpectedCheckers,
				Scripted: bugs.Scripted(r.Bug)})
			i = len(out) - 1
			by[i] = map[string]int{}
		}
		b := &out[i]
		b.Runs++
		if b.Found == 0 {
			b.TimeToFind += r.Duration
		}
		switch r.Outcome {
		case OutcomeCouldNotRun:
			b.NotRun++
		case OutcomeFound:
			if b.Found == 0 {
				b.Tries = b.Runs
			}
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
		if b.Found == 0 {
			b.TimeToFind = 0
		}
		b.TimeToFind = b.TimeToFind.Round(time.Second)
		expectedHit := false
		for j, c := range b.By {
			expectedHit = expectedHit || slices.Contains(b.Expected, c)
			b.By[j] = fmt.Sprintf("%s ×%d", c, by[i][c])
		}
		switch {
		case b.Found > 0 && expectedHit:
			b.Outcome, b.Result = "found", ResultPass
		case b.Found > 0:
			b.Outcome, b.Result = "found by another checker", ResultPass
		case b.NotRun == b.Runs:
			b.Outcome, b.Result = "not run", ResultError
		case b.Scripted:
			b.Outcome, b.Result = "not found (scripted only)", ResultSkip
		case requireFound:
			b.Outcome, b.Result = "not found", ResultFail
		default:
			b.Outcome, b.Result = "not found", ResultSkip
		}
	}
	return out
}

func findBug(bs []BugResult, r JudgedRun) *BugResult {
	for i := range bs {
		if bs[i].Bug == r.Bug && bs[i].System == r.System && bs[i].Nemesis == r.Nemesis {
			return &bs[i]
		}
	}
	return nil
}

// ExitCode of a nightly, and a one-line status. In order of what matters
// most: a faithful build judged invalid is a regression (1), and so is a
// corpus entry not as it expects (regress.Judge); a run (or an entry) that
// could not happen leaves the matrix incomplete (3, as for splitbrain
// run); a faithful run that proved nothing is unknown (2); with
// requireFound, a planted bug no seed found fails (1), unless it is
// scripted only (no fault is known to reach it). Planted bugs not
// found are otherwise reported, not failed: whether a seed exposes a bug is
// partly luck, and a nightly that fails on luck gets ignored.
func exitCode(m Summary, requireFound bool) (int, string) {
	var regressions, unknown, cannot, notFound, scripted, found, faithful, pass, planted int
	for _, r := range m.Runs {
		if r.Faithful {
			faithful++
			switch r.Outcome {
			case OutcomePass:
				pass++
			case OutcomeRegression:
				regressions++
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
		case b.NotRun < b.Runs && b.Scripted:
			scripted++
		case b.NotRun < b.Runs:
			notFound++
		}
	}
	status := fmt.Sprintf("%d of %d faithful runs valid", pass, faithful)
	if planted > 0 {
		status += fmt.Sprintf("; %d of %d planted bugs found", found, planted)
	}
	corpusCode := 0
	if len(m.Corpus) > 0 {
		var corpusStatus string
		corpusCode, corpusStatus = regress.Judge(m.Corpus)
		status += "; corpus: " + corpusStatus
	}
	var why []string
	if regressions > 0 {
		why = append(why, plural(regressions, "regression"))
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
	if scripted > 0 {
		why = append(why, plural(scripted, "scripted-only bug")+" not found, as expected")
	}
	if len(why) > 0 {
		status += " (" + join(why) + ")"
	}
	switch {
	case regressions > 0 || corpusCode == 1:
		return 1, status
	case cannot > 0 || corpusCode == 3:
		return 3, status
	case unknown > 0 || corpusCode == 2:
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
