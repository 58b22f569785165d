// Package hunt looks for bugs on purpose: short trials back to back, each a
// fresh ensemble with a fresh seed and a fault schedule drawn from a mix of
// attack patterns, until one is invalid or the budget is spent. The guided
// strategy steers the mix with a bandit (UCB1) that rewards behaviour the
// hunt has not seen yet and split-brain exposure (Behaviour); the random
// strategy is the blind draw of a plain run, the baseline to compare
// against. A hunt says how hard it
// looked: trials, client operations and faults of each pattern and kind.
package hunt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// Strategies.
const (
	Guided = "guided" // the bandit over patterns, rewarded by new behaviour
	Random = "random" // the plain run's blind draw of the kinds
)

// Strategies lists them, the default first.
var Strategies = []string{Guided, Random}

// Files a hunt writes into its directory, beside the trials' run directories.
const (
	PageFile    = "hunt.html"
	SummaryFile = "hunt.json"
)

// Defaults.
const (
	DefaultBudget = 5 * time.Minute
	DefaultTrial  = 20 * time.Second
	// armsPerTrial is how many arms (patterns, or the plain draw) a guided
	// trial mixes: two, so that patterns meet in one run.
	armsPerTrial = 2
	// plainWeight is the plain draw's weight in every guided trial, on
	// top of the arms picked (so a third of its episodes, about, when
	// plain is not one of them): novelty starves an arm whose behaviour
	// the hunt has seen, and some bugs need a common fault (a leader cut
	// off with its clock stopped) repeated at many timings more than a
	// new one. What it changed, measured: hunt/README.md.
	plainWeight = 1
	// blindEvery makes every third guided trial the blind draw, the
	// random strategy's own trial n: a hedge against the bandit, which
	// plays each of ten arms about twice in a 5-minute hunt and can
	// steer that little away from a fault the blind draw repeats at many
	// timings. What it changed, measured: hunt/README.md.
	blindEvery = 3
	// exposureScale is the split-brain exposure (Behaviour.Exposure)
	// rewarded 0.63, about an election timeout (electd's is 300 ms,
	// etcd's 1 s): a deposed leader running for that long after another
	// was elected is far from a race of a few milliseconds.
	exposureScale = time.Second
	composeArm    = "compose"
	singleArm     = "single"
)

// Runner runs one trial with the given schedule. Docker runs it for real;
// the tests use a fake that writes run directories.
type Runner interface {
	// Prepare readies what every trial of cfg needs (the node image),
	// before the budget's clock starts.
	Prepare(ctx context.Context, cfg runner.Config) error
	Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, command string) (runner.Result, error)
}

// Docker is the Runner that runs for real: runner.Run with Options.
type Docker struct{ Options runner.Options }

// Prepare builds the node image through runner.Prepare.
func (d Docker) Prepare(ctx context.Context, cfg runner.Config) error {
	return runner.Prepare(ctx, cfg, d.Options)
}

// Run runs cfg with sched through runner.Run.
func (d Docker) Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, command string) (runner.Result, error) {
	o := d.Options
	o.Schedule, o.Command = &sched, command
	o.Label = "hunt " + cfg.Name
	return runner.Run(ctx, cfg, o)
}

// Options are a hunt's settings.
type Options struct {
	// Base is every trial's settings (system, bug, nodes, kinds, ...);
	// each trial gets its own seed, name and TimeLimit (Trial).
	Base     runner.Config
	Budget   time.Duration // no trial starts once it is spent
	Trial    time.Duration // each trial's client phase
	Strategy string
	Seed     int64 // seeds the whole hunt: trial i's seed is derived from it
	// Dir is the hunt's directory: its trials' run directories (it is
	// their store), hunt.html and hunt.json. Base.Store/hunt-... when empty.
	Dir     string
	Runner  Runner       // nil: Docker{}
	Log     *slog.Logger // nil: slog.Default()
	Out     io.Writer    // a line per finished trial; nil for none
	Program string       // how the printed commands name splitbrain
	Command string       // the hunt's command line, for each trial's run.json
	// Observe reads a trial's behaviour; nil: Observe.
	Observe func(dir string) (Behaviour, error)
	// Now is the clock of the budget; time.Now when nil.
	Now func() time.Time
}

// Trial is one finished (or failed) trial.
type Trial struct {
	N        int             `json:"n"` // from 1
	Name     string          `json:"name"`
	Seed     int64           `json:"seed"`
	Arms     []string        `json:"arms,omitempty"`   // guided: the arms picked
	Played   []string        `json:"played,omitempty"` // those the schedule holds: the arms credited
	Compose  bool            `json:"compose,omitempty"`
	Faults   map[string]int  `json:"faults"` // scheduled episodes by pattern, or by kind when plain
	Verdict  checker.Verdict `json:"verdict,omitempty"`
	FoundBy  []string        `json:"found_by,omitempty"` // the checkers that said invalid
	Ops      int64           `json:"ops"`
	Applied  int             `json:"applied"`      // faults the nemesis applied
	New      int             `json:"new_features"` // behaviour not seen earlier in the hunt
	Exposure rundir.Duration `json:"exposure"`     // Behaviour.Exposure
	Reward   float64         `json:"reward"`
	Dir      string          `json:"dir,omitempty"`
	Report   string          `json:"report,omitempty"`
	Replay   string          `json:"replay,omitempty"`
	Duration rundir.Duration `json:"duration"`
	Error    string          `json:"error,omitempty"` // could not run, or interrupted
}

// Summary is a hunt: what it tried and what it found.
type Summary struct {
	Name     string          `json:"name"`
	Dir      string          `json:"dir"`
	System   string          `json:"system"`
	Algo     string          `json:"algo,omitempty"`
	Bug      string          `json:"bug,omitempty"`
	Nodes    int             `json:"nodes"`
	Strategy string          `json:"strategy"`
	Seed     int64           `json:"seed"`
	Budget   rundir.Duration `json:"budget"`
	Trial    rundir.Duration `json:"trial"`
	Started  time.Time       `json:"started"`
	Elapsed  rundir.Duration `json:"elapsed"`
	Trials   []Trial         `json:"trials"`
	Ops      int64           `json:"ops"`
	Faults   map[string]int  `json:"faults"`   // scheduled episodes by pattern or kind, over every trial
	Features int             `json:"features"` // distinct behaviours seen
	// Found is the invalid trial's index in Trials, -1 for none; TimeToFind
	// the hunt's elapsed time when it ended.
	Found       int             `json:"found"`
	TimeToFind  rundir.Duration `json:"time_to_find,omitempty"`
	Interrupted bool            `json:"interrupted,omitempty"`
	// ExitCode is 1 found, 0 the whole budget found nothing, 2 a trial was
	// unknown (or the hunt cut short) and none invalid, 3 could not run.
	ExitCode int    `json:"exit_code"`
	Status   string `json:"status"`
	// FoundResult is the invalid trial's result, for the command to print.
	FoundResult runner.Result `json:"-"`
}

// Effort is the "how hard it looked" line.
func (s Summary) Effort() string {
	total, list := faultList(s.Faults)
	e := fmt.Sprintf("%d trials, %d client operations, %d faults scheduled", len(s.Trials), s.Ops, total)
	if list != "" {
		e += " (" + list + ")"
	}
	return e + " in " + time.Duration(s.Elapsed).Round(time.Second).String()
}

// FaultsText is "5 (pattern a ×3, kill ×2)", largest first.
func FaultsText(m map[string]int) string {
	total, list := faultList(m)
	if list == "" {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, list)
}

func faultList(m map[string]int) (int, string) {
	type kv struct {
		k string
		n int
	}
	var kvs []kv
	total := 0
	for k, n := range m {
		kvs = append(kvs, kv{k, n})
		total += n
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].n > kvs[j].n || kvs[i].n == kvs[j].n && kvs[i].k < kvs[j].k })
	parts := make([]string, len(kvs))
	for i, e := range kvs {
		parts[i] = fmt.Sprintf("%s ×%d", e.k, e.n)
	}
	return total, strings.Join(parts, ", ")
}

// TrialSeed is trial n's seed in a hunt seeded with seed: a hash of both,
// so that neighbouring hunts do not share trials.
func TrialSeed(seed int64, n int) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "hunt %d trial %d", seed, n)
	return int64(h.Sum64() & (1<<31 - 1))
}

// Validate checks the hunt's own settings (Base is checked as run's flags are).
func (o Options) Validate() error {
	var errs []error
	if o.Budget <= 0 {
		errs = append(errs, fmt.Errorf("--budget: want a positive duration, got %v", o.Budget))
	}
	if o.Trial < time.Second {
		errs = append(errs, fmt.Errorf("--trial: want at least 1s, got %v", o.Trial))
	}
	if !slices.Contains(Strategies, o.Strategy) {
		errs = append(errs, fmt.Errorf("--strategy: want one of %s, got %q", strings.Join(Strategies, ", "), o.Strategy))
	}
	if time.Duration(o.Base.NemesisInterval) > o.Trial && len(o.Base.Nemesis) > 0 {
		errs = append(errs, fmt.Errorf("--nemesis-interval %v is longer than --trial %v: no fault would fit", o.Base.NemesisInterval, o.Trial))
	}
	return errors.Join(errs...)
}

// Run hunts with opts. The error is non-nil only when the hunt could not
// start or its summary could not be written; the outcome is in Summary
// (ExitCode). Cancelling ctx (Ctrl-C) stops the trial in flight (runner
// heals, tears it down and judges what it recorded) and starts no other.
func Run(ctx context.Context, opts Options) (Summary, error) {
	log := cmp.Or(opts.Log, slog.Default())
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.Runner == nil {
		opts.Runner = Docker{}
	}
	if opts.Observe == nil {
		opts.Observe = Observe
	}
	if err := opts.Validate(); err != nil {
		return Summary{ExitCode: 3, Found: -1}, fmt.Errorf("%w: %w", runner.ErrCannotRun, err)
	}
	// The budget is for trials: building the image (minutes on a fresh
	// machine, for a real system its packages too) would otherwise eat it,
	// and the first trial's length would stop the hunt early.
	if err := opts.Runner.Prepare(ctx, opts.Base); err != nil {
		return Summary{ExitCode: 3, Found: -1}, fmt.Errorf("preparing the trials: %w", err)
	}
	started := now()
	b := opts.Base
	if opts.Dir == "" {
		opts.Dir = filepath.Join(b.Store, huntName(b, started))
	}
	sum := Summary{Name: filepath.Base(opts.Dir), Dir: opts.Dir, System: b.System, Algo: b.Algo, Bug: b.Bug,
		Nodes: b.Nodes, Strategy: opts.Strategy, Seed: opts.Seed, Budget: rundir.Duration(opts.Budget), Trial: rundir.Duration(opts.Trial),
		Started: started, Faults: map[string]int{}, Found: -1}
	if b.System != runner.SystemElectd {
		sum.Algo = ""
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		sum.ExitCode = 3
		return sum, fmt.Errorf("%w: hunt directory: %w", runner.ErrCannotRun, err)
	}
	h := newHunter(opts)
	h.now = now
	log.Info("hunt", "dir", opts.Dir, "strategy", opts.Strategy, "seed", opts.Seed, "budget", opts.Budget,
		"trial", opts.Trial, "arms", h.armNames())

	var unknown, cannot bool
	var spent time.Duration // wall time of finished trials, for the next one's estimate
	for n := 1; ; n++ {
		el := now().Sub(started)
		if ctx.Err() != nil {
			sum.Interrupted = true
			break
		}
		// A trial starts only when one of the mean length so far fits in
		// what is left: the budget bounds the hunt, not just its starts.
		// The first always runs: a hunt that tried nothing says nothing.
		if n > 1 && el+spent/time.Duration(n-1) > opts.Budget {
			break
		}
		t, res := h.trial(ctx, n)
		spent += time.Duration(t.Duration)
		sum.Trials = append(sum.Trials, t)
		sum.Ops += t.Ops
		for k, c := range t.Faults {
			sum.Faults[k] += c
		}
		sum.Features = len(h.seen)
		if opts.Out != nil {
			fmt.Fprintln(opts.Out, trialLine(t, now().Sub(started), opts.Budget))
		}
		if t.Error != "" && t.Verdict == "" {
			if ctx.Err() != nil { // Ctrl-C before the trial got going
				sum.Interrupted = true
				break
			}
			cannot = true
			log.Error("trial could not run", "n", n, "err", t.Error)
			break
		}
		if t.Verdict == checker.Invalid {
			sum.Found, sum.TimeToFind, sum.FoundResult = len(sum.Trials)-1, rundir.Duration(now().Sub(started)), res
			break
		}
		if t.Verdict != checker.Valid {
			unknown = true
		}
		if ctx.Err() != nil {
			sum.Interrupted = true
			break
		}
	}
	sum.Elapsed = rundir.Duration(now().Sub(started))
	switch {
	case sum.Found >= 0:
		sum.ExitCode = 1
		t := sum.Trials[sum.Found]
		sum.Status = fmt.Sprintf("found in trial %d after %s (%s)", t.N, time.Duration(sum.TimeToFind).Round(time.Second), strings.Join(t.FoundBy, ", "))
	case cannot:
		sum.ExitCode = 3
		sum.Status = "a trial could not run: " + sum.Trials[len(sum.Trials)-1].Error
	case unknown || sum.Interrupted:
		sum.ExitCode = 2
		sum.Status = "nothing invalid, but not every trial was judged valid"
		if sum.Interrupted {
			sum.Status = "interrupted before the budget was spent; nothing invalid so far"
		}
	default:
		sum.Status = "nothing found within the budget"
	}
	if err := writeSummaryArms(sum, h.armRows()); err != nil {
		return sum, err
	}
	return sum, nil
}

func huntName(c runner.Config, now time.Time) string {
	parts := []string{"hunt", c.System}
	if c.System == runner.SystemElectd {
		parts = append(parts, c.Algo)
		if c.Bug != "" {
			parts = append(parts, strings.ReplaceAll(c.Bug, ",", "+"))
		}
	}
	parts = append(parts, now.UTC().Format("20060102-150405"))
	return strings.Join(parts, "-")
}

func trialLine(t Trial, el, budget time.Duration) string {
	v := string(t.Verdict)
	if v == "" {
		v = "error"
	}
	what := FaultsText(t.Faults)
	line := fmt.Sprintf("[trial %d %s/%s] %-7s seed %d, %s faults, %d ops, %d new behaviours",
		t.N, el.Round(time.Second), budget, v, t.Seed, what, t.Ops, t.New)
	if len(t.FoundBy) > 0 {
		line += " (" + strings.Join(t.FoundBy, ", ") + ")"
	}
	if t.Error != "" {
		line += ": " + t.Error
	}
	return line
}

// hunter is the state of a hunt between trials.
type hunter struct {
	opts    Options
	nodes   []string
	rng     *rand.Rand
	arms    *Bandit // patterns and the plain draw
	compose *Bandit // composing faults or not
	seen    map[string]int
	log     *slog.Logger
	now     func() time.Time
}

func newHunter(opts Options) *hunter {
	h := &hunter{opts: opts, rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x4a11)), seen: map[string]int{},
		log: cmp.Or(opts.Log, slog.Default()), now: time.Now}
	h.nodes = make([]string, opts.Base.Nodes)
	for i := range h.nodes {
		h.nodes[i] = fmt.Sprintf("n%d", i+1)
	}
	if opts.Strategy == Guided {
		h.arms = NewBandit(append(h.usablePatterns(), nemesis.PlainDraw), h.rng)
		h.compose = NewBandit([]string{composeArm, singleArm}, h.rng)
	}
	return h
}

func (h *hunter) armRows() []armRow {
	if h.arms == nil {
		return nil
	}
	var out []armRow
	for _, a := range h.arms.arms {
		out = append(out, armRow{Name: a, Plays: h.arms.Plays(a), Mean: fmt.Sprintf("%.2f", h.arms.Mean(a))})
	}
	return out
}

func (h *hunter) armNames() []string {
	if h.arms == nil {
		return nil
	}
	return h.arms.arms
}

// usablePatterns are the patterns the kinds allow: those a schedule drawn
// with that pattern alone actually holds (a pattern needing a kind not
// asked for is never drawn, and would only waste the bandit's plays). The
// probe's schedule is long, so that the kinds decide, not the timing.
func (h *hunter) usablePatterns() []string {
	var out []string
	for _, p := range nemesis.Patterns {
		s := nemesis.GenerateMix(1, h.nodes, nemesis.Mix{Kinds: h.opts.Base.Nemesis, Patterns: map[string]float64{p: 1}},
			time.Duration(h.opts.Base.NemesisInterval), 100*time.Duration(h.opts.Base.NemesisInterval))
		if slices.ContainsFunc(s.Episodes, func(e nemesis.Episode) bool { return e.Pattern == p }) {
			out = append(out, p)
		}
	}
	return out
}

// mix draws trial n's mix: the arms the bandit picks and the plain draw
// besides, or the blind draw (the random strategy, and every blindEvery-th
// guided trial).
func (h *hunter) mix(n int) (nemesis.Mix, []string, bool) {
	m := nemesis.Mix{Kinds: h.opts.Base.Nemesis}
	if h.arms == nil || n%blindEvery == 0 {
		return m, nil, false
	}
	arms := h.arms.Pick(armsPerTrial)
	m.Patterns = map[string]float64{nemesis.PlainDraw: plainWeight}
	for _, a := range arms {
		m.Patterns[a]++
	}
	m.Compose = h.compose.Pick(1)[0] == composeArm
	return m, arms, m.Compose
}

// trial runs trial n and learns from it.
func (h *hunter) trial(ctx context.Context, n int) (Trial, runner.Result) {
	o := h.opts
	seed := TrialSeed(o.Seed, n)
	mix, arms, compose := h.mix(n)
	sched := nemesis.GenerateMix(seed, h.nodes, mix, time.Duration(o.Base.NemesisInterval), o.Trial)
	t := Trial{N: n, Name: fmt.Sprintf("t%03d", n), Seed: seed, Arms: arms, Compose: compose, Faults: map[string]int{}}
	for _, e := range sched.Episodes {
		t.Faults[cmp.Or(e.Pattern, e.Kind)]++
	}
	cfg := o.Base
	cfg.Seed, cfg.SeedSet = seed, true
	cfg.TimeLimit = rundir.Duration(o.Trial)
	cfg.Store, cfg.Name, cfg.Replay = o.Dir, t.Name, ""
	command := o.Command
	if command != "" {
		command = fmt.Sprintf("%s  # trial %d", command, n)
	}
	h.log.Info("trial", "n", n, "seed", seed, "arms", arms, "compose", compose, "faults", len(sched.Episodes))
	began := h.now()
	res, err := o.Runner.Run(ctx, cfg, sched, command)
	t.Duration = rundir.Duration(h.now().Sub(began))
	t.Dir, t.Replay, t.Report, t.Ops, t.Applied = res.Dir, res.Replay, res.ReportFile, res.Ops, res.Faults
	if err != nil {
		t.Error = err.Error()
		return t, res
	}
	t.Verdict = res.Verdict()
	if res.Interrupted {
		t.Error = "interrupted: judged on what was recorded until then"
	}
	t.FoundBy = res.Report.Failing()
	t.Played = played(sched, arms)
	h.learn(&t)
	return t, res
}

// played are the arms whose episodes sched holds: a pattern is drawn per
// episode, so an arm picked may not come up in a short trial, and an arm
// that did not play must not be credited (it stays untried, and is picked
// again).
func played(sched nemesis.Schedule, arms []string) []string {
	var out []string
	for _, a := range arms {
		if slices.ContainsFunc(sched.Episodes, func(e nemesis.Episode) bool {
			return e.Pattern == a || a == nemesis.PlainDraw && e.Pattern == ""
		}) {
			out = append(out, a)
		}
	}
	return out
}

// learn scores the trial's behaviour, as a reward in [0, 1) for the arms it
// played (t.Played) and its compose choice: the features new to the hunt,
// or its split-brain exposure, whichever scores higher. A blind trial
// (no t.Arms) credits no arm, but what it showed is seen: novelty is new
// to the hunt.
func (h *hunter) learn(t *Trial) {
	b, err := h.opts.Observe(t.Dir)
	if err != nil {
		h.log.Warn("reading the trial's behaviour", "dir", t.Dir, "err", err)
	}
	for _, f := range b.Features {
		if h.seen[f] == 0 {
			t.New++
		}
		h.seen[f]++
	}
	t.Exposure = rundir.Duration(b.Exposure)
	novelty := 1 - math.Exp(-float64(t.New)/3)
	risk := 1 - math.Exp(-float64(b.Exposure)/float64(exposureScale))
	t.Reward = max(novelty, risk)
	if h.arms != nil && len(t.Arms) > 0 {
		h.arms.Reward(t.Played, t.Reward)
		c := singleArm
		if t.Compose {
			c = composeArm
		}
		h.compose.Reward([]string{c}, t.Reward)
	}
}
