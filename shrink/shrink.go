// Package shrink reduces a failing run's fault schedule to its essence:
// delta debugging (DDMin) over the schedule's episodes, each candidate
// replayed a few times (runs are not deterministic, so a candidate fails
// when any of its replays is invalid), keeping the smallest schedule that
// still fails. The result is a normal run directory: the failing replay of
// that schedule, whose run.json says what it was shrunk from.
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
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
	"github.com/splitbrain/splitbrain/runstore"
)

// Defaults.
const (
	DefaultBudget  = 10 * time.Minute
	DefaultReplays = 3
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
	Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, mark Mark) (runner.Result, error)
}

// Docker is the Runner that runs for real: runner.Run with Options.
type Docker struct{ Options runner.Options }

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
	Minimal    bool  // ddmin finished (the budget did not cut it short)
	Candidates int   // schedules tried
	Runs       int   // replays run
	// Best is the failing replay of the smallest schedule: a normal run
	// directory.
	Best        runner.Result
	Interrupted bool
	Elapsed     time.Duration
	// ExitCode: 1 a failing schedule no larger than the original is
	// confirmed; 2 the original failure did not reproduce within the
	// budget; 3 could not run.
	ExitCode int
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
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return res, fmt.Errorf("%w: %w", runner.ErrCannotRun, err)
	}
	cfg.Store = cmp.Or(opts.Store, filepath.Dir(abs))
	cfg.Replay = ""
	res.Original = len(orig.Episodes)
	s := &shrinker{opts: opts, cfg: cfg, orig: orig, log: log, now: now, began: now(), res: &res,
		mark: Mark{ShrunkFrom: abs, FaultsBefore: len(orig.Episodes)}, base: filepath.Base(abs)}
	log.Info("shrink", "dir", opts.Dir, "faults", len(orig.Episodes), "replays", opts.Replays, "budget", opts.Budget)

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
	res.ExitCode = 1
	res.Elapsed = now().Sub(s.began)
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
	best  []int         // the smallest failing candidate so far
}

// Schedule is orig cut down to the episodes kept (at their own offsets),
// with the time limit cut to one interval after the last of them heals
// plus a calm of two, so that a small candidate is a short run.
func Schedule(orig nemesis.Schedule, keep []int) nemesis.Schedule {
	s := orig
	s.Episodes = []nemesis.Episode{}
	var last time.Duration
	for _, i := range keep {
		if i >= 0 && i < len(orig.Episodes) {
			e := orig.Episodes[i]
			s.Episodes = append(s.Episodes, e)
			last = max(last, e.End())
		}
	}
	limit := (max(last, time.Duration(orig.Interval)) + 2*time.Duration(orig.Interval)).Round(time.Second)
	s.TimeLimit = min(orig.TimeLimit, rundir.Duration(limit))
	return s
}

// test replays the candidate keep up to Replays times; it fails when a
// replay is invalid. A failing replay's run directory is kept while its
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
		el := s.now().Sub(s.began)
		if s.res.Runs > 0 && el+s.spent/time.Duration(s.res.Runs) > s.opts.Budget || el >= s.opts.Budget {
			return false, ErrBudget
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		cfg := s.cfg
		cfg.TimeLimit = sched.TimeLimit
		cfg.Name = fmt.Sprintf("%s-shrink-c%02d-r%d", s.base, k, j)
		if _, err := os.Stat(filepath.Join(cfg.Store, cfg.Name)); err == nil {
			cfg.Name = "" // a name taken by an earlier shrink: runner numbers it
		}
		s.log.Info("shrink candidate", "candidate", k, "faults", len(keep), "of", len(s.orig.Episodes), "replay", j)
		t0 := time.Now()
		mark := s.mark
		mark.Command = fmt.Sprintf("%s shrink %s  # candidate %d (%d of %d faults), replay %d",
			cmp.Or(s.opts.Program, "splitbrain"), runner.ShellQuote([]string{s.opts.Dir}), k, len(keep), len(s.orig.Episodes), j)
		r, err := s.opts.Runner.Run(ctx, cfg, sched, mark)
		s.spent += time.Since(t0)
		s.res.Runs++
		if err != nil {
			return false, fmt.Errorf("replaying candidate %d: %w", k, err)
		}
		if r.Verdict() == checker.Invalid {
			s.log.Info("candidate fails", "candidate", k, "faults", len(keep), "dir", r.Dir)
			if s.best == nil || len(keep) <= len(s.best) {
				if s.res.Best.Dir != "" {
					s.remove(s.res.Best.Dir)
				}
				s.best, s.res.Best = slices.Clone(keep), r
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
