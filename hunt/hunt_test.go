package hunt

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

func TestBanditPrefersRewardingArms(t *testing.T) {
	b := NewBandit([]string{"a", "b", "c", "d"}, rand.New(rand.NewPCG(1, 2)))
	// Every arm is tried once before any is tried twice.
	first := map[string]bool{}
	for range 4 {
		arm := b.Pick(1)[0]
		first[arm] = true
		b.Reward([]string{arm}, 0)
	}
	assert.Len(t, first, 4)
	for range 200 {
		arm := b.Pick(1)[0]
		r := 0.1
		if arm == "c" {
			r = 0.9
		}
		b.Reward([]string{arm}, r)
	}
	for _, a := range []string{"a", "b", "d"} {
		assert.Greater(t, b.Plays("c"), 3*b.Plays(a), "c pays best: %s played %d, c %d", a, b.Plays(a), b.Plays("c"))
		assert.Positive(t, b.Plays(a), "exploration still tries %s", a)
	}
	assert.InDelta(t, 0.9, b.Mean("c"), 0.01)
	assert.Equal(t, []string{"c"}, b.Pick(1))
	assert.Len(t, b.Pick(10), 4, "never more arms than there are")
}

func TestBanditRewardClamped(t *testing.T) {
	b := NewBandit([]string{"a"}, rand.New(rand.NewPCG(1, 2)))
	b.Reward([]string{"a", "unknown"}, 7)
	assert.Equal(t, 1.0, b.Mean("a"))
	assert.Equal(t, 0, b.Plays("unknown"))
}

func TestTrialSeed(t *testing.T) {
	assert.Equal(t, TrialSeed(5, 1), TrialSeed(5, 1))
	assert.NotEqual(t, TrialSeed(5, 1), TrialSeed(5, 2))
	assert.NotEqual(t, TrialSeed(5, 1), TrialSeed(6, 1))
	assert.GreaterOrEqual(t, TrialSeed(5, 1), int64(0))
}

// fakeClock advances only when a trial runs.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeRunner "runs" a trial in took of the fake clock: verdict says how
// trial n ends (valid when nil), and every call is recorded.
type fakeRunner struct {
	clock   *fakeClock
	took    time.Duration
	verdict func(n int, sched nemesis.Schedule) checker.Verdict
	err     func(n int) error
	during  func(n int) // called while trial n runs
	// prepare is how long Prepare takes on the fake clock, prepareErr
	// what it returns; prepared counts the calls.
	prepare    time.Duration
	prepareErr error
	prepared   int
	calls      []runner.Config
	scheds     []nemesis.Schedule
	cmds       []string
}

func (f *fakeRunner) Prepare(context.Context, runner.Config) error {
	f.prepared++
	f.clock.Add(f.prepare)
	return f.prepareErr
}

func (f *fakeRunner) Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, command string) (runner.Result, error) {
	f.calls = append(f.calls, cfg)
	f.scheds = append(f.scheds, sched)
	f.cmds = append(f.cmds, command)
	n := len(f.calls)
	dir := filepath.Join(cfg.Store, cfg.Name)
	if f.err != nil {
		if err := f.err(n); err != nil {
			return runner.Result{}, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return runner.Result{}, err
	}
	if f.during != nil {
		f.during(n)
	}
	f.clock.Add(f.took)
	v := checker.Valid
	if f.verdict != nil {
		v = f.verdict(n, sched)
	}
	res := runner.Result{Dir: dir, Seed: cfg.Seed, Replay: "splitbrain run --replay " + dir, ReportFile: filepath.Join(dir, rundir.ReportFile),
		Ops: 100, Faults: len(sched.Episodes), Interrupted: ctx.Err() != nil,
		Report: checker.Report{Verdict: v, Checkers: []checker.Result{{Name: checker.NameLinearizable, Verdict: v}}}}
	return res, nil
}

func baseConfig(t *testing.T) runner.Config {
	c := runner.Defaults()
	c.Nodes = 3
	c.Bug = "raft.quorum-off-by-one"
	c.NemesisInterval = rundir.Duration(2 * time.Second)
	c.Store = t.TempDir()
	return c
}

func options(t *testing.T, f *fakeRunner, strategy string) Options {
	return Options{Base: baseConfig(t), Log: slog.New(slog.DiscardHandler), Budget: 2 * time.Minute, Trial: 20 * time.Second, Strategy: strategy, Seed: 42,
		Runner: f, Now: f.clock.Now, Observe: func(dir string) (Behaviour, error) {
			return Behaviour{Features: []string{"f:" + filepath.Base(dir)}}, nil
		}}
}

func newFake(took time.Duration) *fakeRunner {
	return &fakeRunner{clock: &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, took: took}
}

func TestHuntPreparesFirst(t *testing.T) {
	// Building the image is not the budget's: a 10-minute build leaves
	// the 2-minute budget its four 30 s trials.
	f := newFake(30 * time.Second)
	f.prepare = 10 * time.Minute
	sum, err := Run(context.Background(), options(t, f, Guided))
	require.NoError(t, err)
	assert.Equal(t, 1, f.prepared)
	assert.Len(t, sum.Trials, 4)
	assert.Equal(t, 0, sum.ExitCode)

	// A build that fails: could not run, and no trial.
	f = newFake(30 * time.Second)
	f.prepareErr = fmt.Errorf("%w: building the node image: no space left", runner.ErrCannotRun)
	sum, err = Run(context.Background(), options(t, f, Guided))
	require.ErrorIs(t, err, runner.ErrCannotRun)
	assert.ErrorContains(t, err, "no space left")
	assert.Equal(t, 3, sum.ExitCode)
	assert.Empty(t, f.calls)
}

func TestHuntExits(t *testing.T) {
	cases := []struct {
		name     string
		verdict  func(n int, _ nemesis.Schedule) checker.Verdict
		err      func(n int) error
		trials   int
		exit     int
		found    int
		contains string
	}{
		{name: "nothing found: the whole budget", trials: 4, exit: 0, found: -1, contains: "nothing found"},
		{name: "stops at the first invalid", trials: 3, exit: 1, found: 2, contains: "found in trial 3",
			verdict: func(n int, _ nemesis.Schedule) checker.Verdict {
				if n >= 3 {
					return checker.Invalid
				}
				return checker.Valid
			}},
		{name: "an unknown, none invalid", trials: 4, exit: 2, found: -1,
			verdict: func(n int, _ nemesis.Schedule) checker.Verdict {
				if n == 2 {
					return checker.Unknown
				}
				return checker.Valid
			}},
		{name: "invalid after an unknown is still found", trials: 2, exit: 1, found: 1,
			verdict: func(n int, _ nemesis.Schedule) checker.Verdict {
				return []checker.Verdict{checker.Unknown, checker.Invalid}[n-1]
			}},
		{name: "a trial that cannot run", trials: 2, exit: 3, found: -1, contains: "could not run",
			err: func(n int) error {
				if n == 2 {
					return fmt.Errorf("%w: no engine", runner.ErrCannotRun)
				}
				return nil
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(30 * time.Second)
			f.verdict, f.err = tc.verdict, tc.err
			sum, err := Run(context.Background(), options(t, f, Guided))
			require.NoError(t, err)
			assert.Len(t, sum.Trials, tc.trials)
			assert.Equal(t, tc.exit, sum.ExitCode)
			assert.Equal(t, tc.found, sum.Found)
			assert.Contains(t, sum.Status, tc.contains)
			assert.LessOrEqual(t, time.Duration(sum.Elapsed), 2*time.Minute, "the budget bounds the hunt")
			if tc.found >= 0 {
				assert.Equal(t, []string{checker.NameLinearizable}, sum.Trials[tc.found].FoundBy)
				assert.Equal(t, time.Duration(tc.trials)*30*time.Second, time.Duration(sum.TimeToFind))
			}
			// The summary is on disk, page and JSON.
			back, err := ReadSummary(sum.Dir)
			require.NoError(t, err)
			assert.Equal(t, sum.ExitCode, back.ExitCode)
			page, err := os.ReadFile(filepath.Join(sum.Dir, PageFile))
			require.NoError(t, err)
			assert.Contains(t, string(page), "t001")
			assert.Contains(t, string(page), "How hard it looked")
			if len(sum.Trials) >= blindEvery {
				assert.Contains(t, string(page), "blind draw", "trial 3 of a guided hunt")
			}
		})
	}
}

func TestHuntBudget(t *testing.T) {
	// Trials of 50 s in a budget of 2 min: after two (100 s) a third would
	// end past the budget, so it does not start.
	f := newFake(50 * time.Second)
	sum, err := Run(context.Background(), options(t, f, Random))
	require.NoError(t, err)
	assert.Len(t, sum.Trials, 2)
	assert.Equal(t, 100*time.Second, time.Duration(sum.Elapsed))
	// The first trial runs even when it alone is longer than the budget.
	f = newFake(5 * time.Minute)
	sum, err = Run(context.Background(), options(t, f, Random))
	require.NoError(t, err)
	assert.Len(t, sum.Trials, 1)
}

func TestHuntInterrupted(t *testing.T) {
	f := newFake(30 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.during = func(n int) {
		if n == 2 {
			cancel() // Ctrl-C while trial 2 runs
		}
	}
	sum, err := Run(ctx, options(t, f, Guided))
	require.NoError(t, err)
	assert.Len(t, sum.Trials, 2, "no trial starts after Ctrl-C")
	assert.True(t, sum.Interrupted)
	assert.Equal(t, 2, sum.ExitCode, "cut short is not 'nothing found'")
	assert.Equal(t, checker.Unknown, sum.Trials[1].Verdict, "a trial cut short is never valid")
}

func TestHuntTrialsAndRepeatability(t *testing.T) {
	run := func(seed int64, strategy string) (*fakeRunner, Summary) {
		f := newFake(30 * time.Second)
		o := options(t, f, strategy)
		o.Seed = seed
		o.Command = "splitbrain hunt --seed 1"
		sum, err := Run(context.Background(), o)
		require.NoError(t, err)
		return f, sum
	}
	f1, s1 := run(7, Guided)
	f2, s2 := run(7, Guided)
	_, s3 := run(8, Guided)
	seeds := func(s Summary) (out []int64) {
		for _, tr := range s.Trials {
			out = append(out, tr.Seed)
		}
		return out
	}
	assert.Equal(t, seeds(s1), seeds(s2), "a hunt repeats from its seed")
	assert.NotEqual(t, seeds(s1), seeds(s3))
	for i := range f1.scheds {
		assert.Equal(t, f1.scheds[i], f2.scheds[i], "trial %d's schedule repeats", i+1)
	}
	for i, c := range f1.calls {
		assert.Equal(t, s1.Trials[i].Seed, c.Seed)
		assert.True(t, c.SeedSet)
		assert.Equal(t, rundir.Duration(20*time.Second), c.TimeLimit, "a trial runs --trial long")
		assert.Equal(t, fmt.Sprintf("t%03d", i+1), c.Name)
		assert.Equal(t, s1.Dir, c.Store, "trials live in the hunt's directory")
		assert.Contains(t, f1.cmds[i], "# trial")
	}
	// Guided trials mix patterns; the guided hunt tries every arm early.
	// Guided trials mix two arms; while untried arms remain, no arm is
	// credited twice (one picked but absent from its schedule stays untried).
	require.Greater(t, len(newHunter(options(t, f1, Guided)).armNames()), 2*len(s1.Trials))
	credited := map[string]int{}
	for i, tr := range s1.Trials {
		if tr.N%blindEvery == 0 {
			assert.Empty(t, tr.Arms, "trial %d is the blind draw", tr.N)
			for _, e := range f1.scheds[i].Episodes {
				assert.Empty(t, e.Pattern)
			}
			continue
		}
		assert.Len(t, tr.Arms, armsPerTrial)
		assert.Subset(t, tr.Arms, tr.Played)
		for _, a := range tr.Played {
			credited[a]++
		}
	}
	assert.NotEmpty(t, credited)
	for a, n := range credited {
		assert.Equal(t, 1, n, a)
	}

	// Random is the blind draw: no pattern in any schedule.
	fr, sr := run(7, Random)
	assert.Equal(t, fr.scheds[blindEvery-1], f1.scheds[blindEvery-1], "a guided hunt's blind trial is the random hunt's")
	for i, s := range fr.scheds {
		assert.Empty(t, sr.Trials[i].Arms)
		for _, e := range s.Episodes {
			assert.Empty(t, e.Pattern)
		}
	}
	assert.NotEmpty(t, sr.Faults)
	assert.Contains(t, sr.Effort(), "4 trials, 400 client operations")
}

func TestHuntValidate(t *testing.T) {
	f := newFake(time.Second)
	for _, mut := range []func(*Options){
		func(o *Options) { o.Budget = 0 },
		func(o *Options) { o.Trial = 0 },
		func(o *Options) { o.Strategy = "clever" },
		func(o *Options) { o.Trial = time.Second },
	} {
		o := options(t, f, Guided)
		mut(&o)
		sum, err := Run(context.Background(), o)
		require.ErrorIs(t, err, runner.ErrCannotRun)
		assert.Equal(t, 3, sum.ExitCode)
	}
	assert.Empty(t, f.calls)
}

// TestGuidedMixKeepsPlain: every guided trial holds the plain draw beside
// the arms it picked (twice the weight when plain is one of them), so that
// the faults of the blind draw are never starved, and every blindEvery-th
// is the blind draw itself; random holds no pattern.
func TestGuidedMixKeepsPlain(t *testing.T) {
	h := newHunter(options(t, newFake(time.Second), Guided))
	for n := 1; n <= 2*len(h.arms.arms); n++ {
		m, arms, compose := h.mix(n)
		if n%blindEvery == 0 {
			assert.Empty(t, arms, "trial %d is blind", n)
			assert.Empty(t, m.Patterns)
			assert.False(t, compose)
			continue
		}
		require.Len(t, arms, armsPerTrial)
		want := map[string]float64{nemesis.PlainDraw: plainWeight}
		for _, a := range arms {
			want[a]++
		}
		assert.Equal(t, want, m.Patterns)
		h.arms.Reward(arms, 0.5)
	}
	m, arms, _ := newHunter(options(t, newFake(time.Second), Random)).mix(1)
	assert.Empty(t, arms)
	assert.Empty(t, m.Patterns)
}

func TestUsablePatterns(t *testing.T) {
	o := options(t, newFake(time.Second), Guided)
	h := newHunter(o)
	all := h.usablePatterns()
	assert.NotEmpty(t, all)
	assert.Subset(t, nemesis.Patterns, all)
	o.Base.Nemesis = []string{rundir.KindNetem}
	h = newHunter(o)
	ps := h.usablePatterns()
	assert.Less(t, len(ps), len(all), "netem alone allows fewer patterns")
	assert.Subset(t, all, ps)
	assert.Equal(t, append(ps, nemesis.PlainDraw), h.arms.arms)
}

func TestFeatures(t *testing.T) {
	ms := func(d time.Duration) int64 { return int64(d) }
	ev := func(tm time.Duration, node string, role rundir.Role, term int64) history.Event {
		return history.Event{Time: ms(tm), Node: node, Event: rundir.EventRole, Role: role, Term: term}
	}
	events := []history.Event{
		ev(100*time.Millisecond, "n1", rundir.RoleLeader, 1),
		ev(100*time.Millisecond, "n2", rundir.RoleFollower, 1),
		ev(2*time.Second, "n1", rundir.RoleFollower, 2),
		ev(2*time.Second, "n2", rundir.RoleCandidate, 2),
		ev(3*time.Second, "n2", rundir.RoleLeader, 2),
		ev(4*time.Second, "n1", rundir.RoleLeader, 2), // two claim term 2
		ev(4500*time.Millisecond, "n1", rundir.RoleFollower, 2),
		{Time: ms(5 * time.Second), Node: "n2", Event: rundir.EventLease, From: ms(5 * time.Second), Until: ms(6 * time.Second)},
		{Time: ms(6 * time.Second), Node: "n1", Event: rundir.EventLease, From: ms(6100 * time.Millisecond), Until: ms(7 * time.Second)},
	}
	ops := []history.Op{
		{Index: 0, Time: ms(time.Second), Process: 0, Type: history.Invoke, F: "write"},
		{Index: 1, Time: ms(2500 * time.Millisecond), Process: 0, Type: history.Info, F: "write"},
	}
	b := BehaviourOf(ops, events)
	fs := b.Features
	assert.Equal(t, 500*time.Millisecond, b.Exposure, "n1 and n2 both led term 2 from 4 s to 4.5 s")
	for _, want := range []string{
		"term:leader>follower:+1", "term:candidate>leader:0", "handover:other:+1",
		"leaderless:<2s", "leaderless-count:1", "contested:2:same:<1s",
		"info:write:1", "lease-gap:<250ms",
	} {
		assert.Contains(t, fs, want)
	}
	assert.True(t, strings.HasPrefix(durBucket(int64(20*time.Second)), ">="))
}

// TestExposureSkipsPaused: a deposed leader counts as exposed only while
// it runs; frozen, it cannot act on its stale claim.
func TestExposureSkipsPaused(t *testing.T) {
	ms := func(d time.Duration) int64 { return int64(d) }
	role := func(tm time.Duration, node string, role rundir.Role, term int64) history.Event {
		return history.Event{Time: ms(tm), Node: node, Event: rundir.EventRole, Role: role, Term: term}
	}
	nem := func(tm time.Duration, f rundir.Fault) history.Op {
		return history.Op{Time: ms(tm), Process: history.Nemesis, Type: history.Info, F: string(f), Node: "n1"}
	}
	events := []history.Event{
		role(100*time.Millisecond, "n1", rundir.RoleLeader, 1),
		role(2*time.Second, "n2", rundir.RoleLeader, 2),
		role(3200*time.Millisecond, "n1", rundir.RoleFollower, 2),
	}
	ops := []history.Op{nem(time.Second, rundir.Pause), nem(3*time.Second, rundir.Resume), {Time: ms(4 * time.Second), Type: history.Invoke, F: "read"}}
	assert.Equal(t, 200*time.Millisecond, BehaviourOf(ops, events).Exposure, "awake and stale from 3 s to 3.2 s")
	assert.Equal(t, 1200*time.Millisecond, BehaviourOf(ops[2:], events).Exposure, "never paused: stale from 2 s")
}

// TestRewardNoveltyOrExposure: a trial scores its new features or its
// exposure, whichever is higher.
func TestRewardNoveltyOrExposure(t *testing.T) {
	tests := []struct {
		name string
		b    Behaviour
		want float64
	}{
		{"nothing new, nothing exposed", Behaviour{Features: []string{"seen"}}, 0},
		{"three new features", Behaviour{Features: []string{"seen", "a", "b", "c"}}, 1 - math.Exp(-1)},
		{"exposed 2 s, nothing new", Behaviour{Features: []string{"seen"}, Exposure: 2 * time.Second}, 1 - math.Exp(-2)},
		{"exposed briefly, three new", Behaviour{Features: []string{"a", "b", "c"}, Exposure: 10 * time.Millisecond}, 1 - math.Exp(-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHunter(options(t, newFake(time.Second), Guided))
			h.seen["seen"] = 1
			h.opts.Observe = func(string) (Behaviour, error) { return tt.b, nil }
			tr := Trial{Dir: "t001", Arms: []string{nemesis.PlainDraw}, Played: []string{nemesis.PlainDraw}}
			h.learn(&tr)
			assert.InDelta(t, tt.want, tr.Reward, 1e-9)
			assert.Equal(t, rundir.Duration(tt.b.Exposure), tr.Exposure)
			assert.InDelta(t, tt.want, h.arms.Mean(nemesis.PlainDraw), 1e-9, "the arm played is credited")
		})
	}
}

func TestBlindTrialCreditsNoArm(t *testing.T) {
	// A blind trial's behaviour is seen (a later trial showing it again
	// has nothing new), but no arm and no compose choice is credited.
	h := newHunter(options(t, newFake(time.Second), Guided))
	h.opts.Observe = func(string) (Behaviour, error) {
		return Behaviour{Features: []string{"a", "b", "c"}, Exposure: 2 * time.Second}, nil
	}
	tr := Trial{Dir: "t003"}
	h.learn(&tr)
	assert.Equal(t, 3, tr.New)
	assert.Positive(t, tr.Reward)
	for _, a := range h.arms.arms {
		assert.Zero(t, h.arms.Plays(a), "arm %s", a)
	}
	for _, a := range h.compose.arms {
		assert.Zero(t, h.compose.Plays(a), "compose arm %s", a)
	}
	tr = Trial{Dir: "t004"}
	h.learn(&tr)
	assert.Zero(t, tr.New, "seen in the blind trial")
}

func TestPlayedArms(t *testing.T) {
	s := nemesis.Schedule{Episodes: []nemesis.Episode{{Pattern: "a"}, {Kind: rundir.KindKill}, {Pattern: "a"}}}
	assert.Equal(t, []string{"a", nemesis.PlainDraw}, played(s, []string{"a", "b", nemesis.PlainDraw}))
	assert.Empty(t, played(nemesis.Schedule{}, []string{"a"}))
}
