// Package shrink reduces a failing run's fault schedule to its essence:
// delta debugging (DDMin) over the schedule's episodes, each candidate
// replayed a few times (runs are not deterministic, so a candidate fails
// when any of its replays is invalid by one of the checkers that found the
// original), keeping the smallest schedule that still fails, then
// replaying that one a few more times to say how reliably it fails. The
// result is a normal run directory: the failing replay of that schedule,
// whose run.json says what it was shrunk from and whose shrink.json says
// how it was found and confirmed.
package shrink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
	"github.com/splitbrain/splitbrain/runstore"
)

// Defaults.
const (
	DefaultBudget  = 10 * time.Minute
	DefaultReplays = 3
	// DefaultConfirm is how often the smallest schedule is replayed after
	// the search: its reproduction rate, the figure a user replaying it
	// (or the regression corpus) can count on.
	DefaultConfirm = 4
	// originalTries times --replays is how often the original schedule is
	// replayed, until it fails, before shrink gives up on it.
	originalTries = 3
)

// Mark is what a candidate's run.json records of the shrink.
type Mark struct {
	ShrunkFrom   string // the original run directory, absolute
	FaultsBefore int    // its schedule's episodes
	Command      string // what made the replay, for its run.json
}

// Runner runs one replay of a candidate schedule. Docker runs it for real;
// the tests use a fake.
type Runner interface {
	// Prepare readies what every replay of cfg needs (the node image),
	// before the budget's clock starts.
	Prepare(ctx context.Context, cfg runner.Config) error
	Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, mark Mark) (runner.Result, error)
}

// Docker is the Runner that runs for real: runner.Run with Options.
type Docker struct{ Options runner.Options }

// Prepare builds the node image through runner.Prepare.
func (d Docker) Prepare(ctx context.Context, cfg runner.Config) error {
	return runner.Prepare(ctx, cfg, d.Options)
}

// Run runs cfg with sched through runner.Run.
func (d Docker) Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, mark Mark) (runner.Result, error) {
	o := d.Options
	o.Schedule, o.ShrunkFrom, o.FaultsBefore, o.Command = &sched, mark.ShrunkFrom, mark.FaultsBefore, mark.Command
	o.Label = "shrink " + cfg.Name
	return runner.Run(ctx, cfg, o)
}

// Options are a shrink's settings.
type Options struct {
	Dir     string        // the failing run
	Store   string        // where the replays go; the original's store (its parent) when empty
	Budget  time.Duration // no replay starts once it is spent
	Replays int           // replays per candidate
	Confirm int           // replays of the smallest schedule after the search; 0 none
	Runner  Runner        // nil: Docker{}
	Log     *slog.Logger
	Program string           // how run.json's command names splitbrain
	Now     func() time.Time // the budget's clock; time.Now when nil
}

// Result is a finished shrink.
type Result struct {
	Original   int   // episodes in the original schedule
	Kept       []int // the smallest failing schedule's episodes (original indices)
	Reproduced bool  // the original schedule failed again
	// OriginalReplays is how many replays of the original it took to fail
	// again: how reliably the original fails, beside the confirmations.
	OriginalReplays int
	Minimal         bool // ddmin finished (the budget did not cut it short)
	Candidates      int  // schedules tried
	Runs            int  // replays run
	// Best is the failing replay of the smallest schedule: a normal run
	// directory.
	Best runner.Result
	// Checkers are the original's invalid checkers: a replay fails when
	// one of them says invalid (another checker's failure is another bug).
	Checkers []string
	// Confirmations replays of the smallest schedule after the search,
	// Confirmed of them failing.
	Confirmations, Confirmed int
	// Smallest is the smallest failing schedule the search found and
	// SmallestConfirmed of SmallestConfirmations its confirmations; Kept
	// is larger when it failed again in fewer than half and a larger one
	// found on the way failed more often.
	Smallest                                 []int
	SmallestConfirmed, SmallestConfirmations int
	Interrupted                              bool
	Elapsed                                  time.Duration
	// ExitCode: 1 a failing schedule no larger than the original is
	// confirmed; 2 the original failure did not reproduce within the
	// budget; 3 could not run.
	ExitCode int
}

// SetAside is the smallest failing schedule the search found when a
// larger one was kept for failing again more often; nil when Kept is it.
func (r Result) SetAside() *rundir.Smaller {
	if r.Smallest == nil || len(r.Smallest) >= len(r.Kept) {
		return nil
	}
	return &rundir.Smaller{Faults: len(r.Smallest), Confirmations: r.SmallestConfirmations, Confirmed: r.SmallestConfirmed}
}

// Run shrinks opts.Dir's schedule. The error is non-nil only when the
// shrink could not run (wrapping runner.ErrCannotRun where it is the
// settings or the engine).
func Run(ctx context.Context, opts Options) (Result, error) {
	log := cmp.Or(opts.Log, slog.Default())
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.Runner == nil {
		opts.Runner = Docker{}
	}
	res := Result{ExitCode: 3}
	if opts.Replays < 1 {
		return res, fmt.Errorf("%w: --replays: want at least 1, got %d", runner.ErrCannotRun, opts.Replays)
	}
	if opts.Confirm < 0 {
		return res, fmt.Errorf("%w: --confirm: want 0 or more, got %d", runner.ErrCannotRun, opts.Confirm)
	}
	if opts.Budget <= 0 {
		return res, fmt.Errorf("%w: --budget: want a positive duration, got %v", runner.ErrCannotRun, opts.Budget)
	}
	cfg, err := runner.ReadSettings(opts.Dir)
	if err != nil {
		return res, fmt.Errorf("%w: %w", runner.ErrCannotRun, err)
	}
	orig, err := nemesis.ReadFile(filepath.Join(opts.Dir, rundir.ScheduleFile))
	if err != nil {
		return res, fmt.Errorf("%w: %w", runner.ErrCannotRun, err)
	}
	rep, err := checker.ReadReport(opts.Dir)
	if err != nil {
		return res, fmt.Errorf("%w: %s has no verdict (run splitbrain check first): %w", runner.ErrCannotRun, opts.Dir, err)
	}
	res.Checkers = rep.Failing()
	if len(res.Checkers) == 0 {
		return res, fmt.Errorf("%w: %s is %s: shrink needs a failing (invalid) run", runner.ErrCannotRun, opts.Dir, rep.Verdict)
	}
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return res, fmt.Errorf("%w: %w", runner.ErrCannotRun, err)
	}
	cfg.Store = cmp.Or(opts.Store, filepath.Dir(abs))
	cfg.Replay = ""
	res.Original = len(orig.Episodes)
	// The budget is for replays: a first replay that builds the image
	// would also inflate the mean replay time the budget is planned with.
	if err := opts.Runner.Prepare(ctx, cfg); err != nil {
		return res, fmt.Errorf("preparing the replays: %w", err)
	}
	s := &shrinker{opts: opts, cfg: cfg, orig: orig, log: log, now: now, began: now(), res: &res,
		mark: Mark{ShrunkFrom: abs, FaultsBefore: len(orig.Episodes)}, base: filepath.Base(abs)}
	log.Info("shrink", "dir", opts.Dir, "faults", len(orig.Episodes), "checkers", res.Checkers,
		"replays", opts.Replays, "confirm", opts.Confirm, "budget", opts.Budget)
	// The search leaves room in the budget for the confirmations.
	s.reserve = opts.Confirm

	all := make([]int, len(orig.Episodes))
	for i := range all {
		all[i] = i
	}
	// The original gets more tries than a candidate: nothing can be
	// shrunk before it fails again, and a rare failure is still a failure.
	fails, err := s.replay(ctx, all, originalTries*opts.Replays)
	switch {
	case errors.Is(err, ErrBudget), err == nil && !fails:
		res.ExitCode = 2
		res.Interrupted = ctx.Err() != nil
		res.Elapsed = now().Sub(s.began)
		return res, nil
	case err != nil && ctx.Err() != nil:
		res.ExitCode, res.Interrupted = 2, true
		res.Elapsed = now().Sub(s.began)
		return res, nil
	case err != nil:
		return res, err
	}
	res.Reproduced = true
	res.OriginalReplays = res.Runs
	res.Kept = all
	best, done, err := DDMin(ctx, len(all), s.test)
	if err != nil && ctx.Err() == nil {
		return res, err
	}
	res.Interrupted = ctx.Err() != nil
	res.Kept = best
	res.Minimal = done && !res.Interrupted
	// ddmin stops at one fault; a bug that needs none says so too.
	if res.Minimal && len(best) == 1 {
		if f, err := s.test(ctx, []int{}); err == nil && f {
			res.Kept = []int{}
		} else if err != nil && !errors.Is(err, ErrBudget) && ctx.Err() == nil {
			return res, err
		}
	}
	if !res.Interrupted {
		if err := s.confirm(ctx); err != nil && ctx.Err() == nil {
			return res, err
		}
		res.Interrupted = ctx.Err() != nil
	}
	res.ExitCode = 1
	res.Elapsed = now().Sub(s.began)
	if err := s.record(); err != nil {
		return res, err
	}
	if err := runstore.WriteIndex(cfg.Store); err != nil {
		log.Debug("writing the store index", "err", err)
	}
	return res, nil
}

// shrinker is a shrink's state between candidates.
type shrinker struct {
	opts  Options
	cfg   runner.Config
	orig  nemesis.Schedule
	mark  Mark
	base  string // the original's directory name, the replays' prefix
	log   *slog.Logger
	now   func() time.Time
	began time.Time
	res   *Result
	spent time.Duration // wall time of the replays so far
	// reserve is how many replays' time the search leaves in the budget:
	// the confirmations'.
	reserve int
	// chain is every failing schedule, in the order found (each no larger
	// than the one before; the last is the smallest so far, whose failing
	// replay is res.Best): the fall-backs of confirm.
	chain [][]int
}

// Schedule is orig cut down to the episodes kept, at their own offsets
// and with the original's time limit. The limit is not cut to the last
// kept fault: a fault's effect can come well after its scheduled end (a
// killed node's container takes seconds to come back under load, a deposed
// leader acts when it wakes), and a shorter run missed it.
func Schedule(orig nemesis.Schedule, keep []int) nemesis.Schedule {
	s := orig
	s.Episodes = []nemesis.Episode{}
	for _, i := range keep {
		if i >= 0 && i < len(orig.Episodes) {
			s.Episodes = append(s.Episodes, orig.Episodes[i])
		}
	}
	return s
}

// test replays the candidate keep up to Replays times; it fails when a
// replay is invalid by one of the original's checkers. A failing replay's run directory is kept while its
// candidate is the smallest failing one; every other replay's is removed.
func (s *shrinker) test(ctx context.Context, keep []int) (bool, error) {
	return s.replay(ctx, keep, s.opts.Replays)
}

// replay is test with n replays.
func (s *shrinker) replay(ctx context.Context, keep []int, n int) (bool, error) {
	s.res.Candidates++
	k := s.res.Candidates
	sched := Schedule(s.orig, keep)
	for j := 1; j <= n; j++ {
		if err := s.room(ctx, s.reserve); err != nil {
			return false, err
		}
		cfg := s.cfg
		cfg.TimeLimit = sched.TimeLimit
		cfg.Name = fmt.Sprintf("%s-shrink-c%02d-r%d", s.base, k, j)
		if _, err := os.Stat(filepath.Join(cfg.Store, cfg.Name)); err == nil {
			cfg.Name = "" // a name taken by an earlier shrink: runner numbers it
		}
		s.log.Info("shrink candidate", "candidate", k, "faults", len(keep), "of", len(s.orig.Episodes), "replay", j)
		t0 := s.now()
		mark := s.mark
		mark.Command = fmt.Sprintf("%s shrink %s  # candidate %d (%d of %d faults), replay %d",
			cmp.Or(s.opts.Program, "splitbrain"), runner.ShellQuote([]string{s.opts.Dir}), k, len(keep), len(s.orig.Episodes), j)
		r, err := s.opts.Runner.Run(ctx, cfg, sched, mark)
		s.spent += s.now().Sub(t0)
		s.res.Runs++
		if err != nil {
			return false, fmt.Errorf("replaying candidate %d: %w", k, err)
		}
		invalid := r.Verdict() == checker.Invalid
		if invalid && !r.Report.FailsBy(s.res.Checkers) {
			s.log.Info("candidate fails differently: not counted", "candidate", k, "by", r.Report.Failing(), "want", s.res.Checkers)
		}
		if invalid && r.Report.FailsBy(s.res.Checkers) {
			s.log.Info("candidate fails", "candidate", k, "faults", len(keep), "dir", r.Dir)
			if len(s.chain) == 0 || len(keep) <= len(s.chain[len(s.chain)-1]) {
				if s.res.Best.Dir != "" {
					s.remove(s.res.Best.Dir)
				}
				s.res.Best = r
				s.chain = append(s.chain, slices.Clone(keep))
			} else {
				s.remove(r.Dir)
			}
			return true, nil
		}
		s.remove(r.Dir)
		if r.Interrupted {
			return false, ctx.Err()
		}
	}
	return false, nil
}

// remove deletes a replay that is not the answer: the store keeps the
// shrunk run, not every attempt on the way.
func (s *shrinker) remove(dir string) {
	if dir == "" || filepath.Dir(dir) != filepath.Clean(s.cfg.Store) {
		return // only what this shrink put into the store
	}
	if err := os.RemoveAll(dir); err != nil {
		s.log.Warn("removing a replay", "dir", dir, "err", err)
	}
}

// room says whether one more replay fits in the budget with reserve
// replays after it, at the mean replay time so far: ErrBudget when not.
func (s *shrinker) room(ctx context.Context, reserve int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	el := s.now().Sub(s.began)
	if el >= s.opts.Budget {
		return ErrBudget
	}
	if s.res.Runs > 0 && el+time.Duration(1+reserve)*(s.spent/time.Duration(s.res.Runs)) > s.opts.Budget {
		return ErrBudget
	}
	return nil
}

// confirm replays the smallest failing schedule opts.Confirm times, as far
// as the budget goes, and counts the replays that fail as the original
// did. While the kept schedule fails again in fewer than half of them, the
// next larger failing schedule found on the way is confirmed too, and
// whichever fails more often is kept (the smaller on a tie): a search that
// keeps any schedule failing once can end on a lucky one, as the empty
// schedule of a bug that shows without faults once in a while, under load.
func (s *shrinker) confirm(ctx context.Context) error {
	k, n, _, err := s.confirmOne(ctx, s.res.Kept, false)
	s.res.Confirmed, s.res.Confirmations = k, n
	s.res.Smallest, s.res.SmallestConfirmed, s.res.SmallestConfirmations = slices.Clone(s.res.Kept), k, n
	for i := len(s.chain) - 2; i >= 0 && err == nil && 2*s.res.Confirmed < s.res.Confirmations; i-- {
		cand := s.chain[i]
		if len(cand) <= len(s.res.Kept) {
			continue
		}
		var kc, nc int
		var failed runner.Result
		kc, nc, failed, err = s.confirmOne(ctx, cand, true)
		if nc == 0 {
			break // the budget is spent
		}
		if kc*s.res.Confirmations > s.res.Confirmed*nc {
			s.log.Info("a larger schedule fails again more often: kept", "faults", len(cand), "failed", kc, "of", nc,
				"smallest", len(s.res.Kept), "smallest_failed", s.res.Confirmed)
			s.remove(s.res.Best.Dir)
			s.res.Kept, s.res.Best, s.res.Confirmed, s.res.Confirmations = slices.Clone(cand), failed, kc, nc
		} else {
			s.remove(failed.Dir)
		}
	}
	return err
}

// confirmOne replays keep opts.Confirm times (as far as the budget goes):
// k of the n replays failed as the original did. With keepFailed, the
// first failing replay's run is kept and returned; every other replay's
// is removed.
func (s *shrinker) confirmOne(ctx context.Context, keep []int, keepFailed bool) (k, n int, failed runner.Result, err error) {
	sched := Schedule(s.orig, keep)
	for j := 1; j <= s.opts.Confirm; j++ {
		if err := s.room(ctx, 0); err != nil {
			if errors.Is(err, ErrBudget) {
				s.log.Warn("the budget ran out before the confirmations", "faults", len(keep), "done", n, "of", s.opts.Confirm)
				return k, n, failed, nil
			}
			return k, n, failed, err
		}
		cfg := s.cfg
		cfg.TimeLimit = sched.TimeLimit
		cfg.Name = fmt.Sprintf("%s-shrink-confirm-f%d-r%d", s.base, len(keep), j)
		if _, err := os.Stat(filepath.Join(cfg.Store, cfg.Name)); err == nil {
			cfg.Name = ""
		}
		s.log.Info("shrink confirmation", "faults", len(keep), "replay", j, "of", s.opts.Confirm)
		mark := s.mark
		mark.Command = fmt.Sprintf("%s shrink %s  # confirmation %d of %d (%d of %d faults)",
			cmp.Or(s.opts.Program, "splitbrain"), runner.ShellQuote([]string{s.opts.Dir}), j, s.opts.Confirm, len(keep), len(s.orig.Episodes))
		t0 := s.now()
		r, err := s.opts.Runner.Run(ctx, cfg, sched, mark)
		s.spent += s.now().Sub(t0)
		s.res.Runs++
		if err != nil {
			return k, n, failed, fmt.Errorf("confirming a schedule of %d faults: %w", len(keep), err)
		}
		if r.Interrupted {
			s.remove(r.Dir)
			return k, n, failed, ctx.Err()
		}
		n++
		fails := r.Verdict() == checker.Invalid && r.Report.FailsBy(s.res.Checkers)
		if fails {
			k++
		}
		if fails && keepFailed && failed.Dir == "" {
			failed = r
		} else {
			s.remove(r.Dir)
		}
	}
	return k, n, failed, nil
}

// record writes shrink.json into the answer's run directory and renders
// its report again, which shows it.
func (s *shrinker) record() error {
	dir := s.res.Best.Dir
	if dir == "" {
		return nil
	}
	sh := rundir.Shrink{ShrunkFrom: s.mark.ShrunkFrom, FaultsBefore: s.res.Original, FaultsAfter: len(s.res.Kept),
		Checkers: s.res.Checkers, Minimal: s.res.Minimal, Candidates: s.res.Candidates, Replays: s.res.Runs, OriginalReplays: s.res.OriginalReplays,
		Confirmations: s.res.Confirmations, Confirmed: s.res.Confirmed}
	sh.Smaller = s.res.SetAside()
	err := rundir.WriteShrink(dir, sh)
	if err != nil {
		return fmt.Errorf("recording the shrink: %w", err)
	}
	if err := reports.Write(dir); err != nil {
		return fmt.Errorf("rendering the shrunk run's report: %w", err)
	}
	return nil
}
