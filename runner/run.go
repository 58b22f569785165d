package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runstore"
	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/workloads"
)

// Bounds of the run's waits.
const (
	startTimeout  = 90 * time.Second // starting the ensemble (the image is built before)
	leaderTimeout = 30 * time.Second // the first leader, before the clients start
	healTimeout   = 30 * time.Second // healing every fault
	agreeTimeout  = 30 * time.Second // the final phase's agreed leader
	finalTries    = 5                // rounds of final reads
	finalBackoff  = 500 * time.Millisecond
)

// ErrCannotRun marks errors that kept the run from happening (no engine,
// a bad setting, a run directory in the way); the command exits 3.
var ErrCannotRun = errors.New("cannot run")

// Options are what a run needs beyond its settings.
type Options struct {
	// Log gets progress messages; slog.Default() when nil.
	Log *slog.Logger
	// Progress receives the live progress line when Live, else nothing
	// (plain log lines go to Log every ProgressEvery).
	Progress io.Writer
	Live     bool
	// ProgressEvery is the period of plain progress lines; 5 s when zero.
	ProgressEvery time.Duration
	// Program is how the replay command names splitbrain; "splitbrain"
	// when empty.
	Program string
	// Backend is where the ensemble runs; DockerBackend when nil.
	Backend Backend
	// LinearizableTimeout bounds the linearizability search at the end.
	LinearizableTimeout time.Duration
	// Schedule, when set, is the run's fault schedule, used instead of one
	// drawn from the seed or read from --replay (hunt's trials, shrink's
	// candidates); it is written to schedule.json as any other.
	Schedule *nemesis.Schedule
	// Command, when set, is run.json's command: what made the run, when
	// the run flags alone would not draw its schedule again.
	Command string
	// Label, when set, begins the live progress line and is added to the
	// plain progress lines: which of a hunt's trials this is.
	Label string
	// ShrunkFrom and FaultsBefore go to run.json (rundir.Settings): the
	// run whose schedule was shrunk to this one, and its fault count.
	ShrunkFrom   string
	FaultsBefore int
}

// Result is a finished run.
type Result struct {
	Dir         string
	Seed        int64
	Report      checker.Report
	Replay      string // the command that replays the run
	ReportFile  string // report.html, when written
	Interrupted bool   // the run was cut short (Ctrl-C)
	Ops         int64  // client operations completed
	Faults      int    // faults applied
	Duration    time.Duration
}

// Verdict is the run's outcome: the report's verdict, except that a run
// cut short is never valid (it did not do what it was asked), but unknown.
func (r Result) Verdict() checker.Verdict {
	if r.Interrupted && r.Report.Verdict == checker.Valid {
		return checker.Unknown
	}
	return r.Report.Verdict
}

// ReadSettings reads a stored run's run.json as a Config: the base of
// --replay, which flags and -f then override. It is checked as flags are.
func ReadSettings(dir string) (Config, error) {
	s, err := rundir.ReadSettings(dir)
	if err != nil {
		return Config{}, fmt.Errorf("--replay: %w", err)
	}
	c := Defaults()
	c.Config = withDefaults(s.Config, c.Config)
	// The stored run says its node count and its faults as they were:
	// no system default replaces them.
	c.SeedSet, c.NodesSet, c.NemesisAll = true, true, false
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("--replay: %s: %w", filepath.Join(dir, rundir.SettingsFile), err)
	}
	return c, nil
}

// withDefaults fills in what a run.json left empty, as older versions may
// have: an empty value there never meant anything but the default.
func withDefaults(c, d rundir.Config) rundir.Config {
	c.System = cmp.Or(c.System, d.System)
	c.Algo = cmp.Or(c.Algo, d.Algo)
	c.Workload = cmp.Or(c.Workload, d.Workload)
	c.Nodes = cmp.Or(c.Nodes, d.Nodes)
	c.Concurrency = cmp.Or(c.Concurrency, d.Concurrency)
	c.Keys = cmp.Or(c.Keys, d.Keys)
	c.NemesisInterval = cmp.Or(c.NemesisInterval, d.NemesisInterval)
	c.TimeLimit = cmp.Or(c.TimeLimit, d.TimeLimit)
	c.OpTimeout = cmp.Or(c.OpTimeout, d.OpTimeout)
	if len(c.Nemesis) == 0 {
		c.Nemesis = nil // "nemesis": [] is no faults, as --nemesis none
	}
	return c
}

func (c Config) defaultName(now time.Time) string {
	parts := []string{c.System}
	switch c.System {
	case SystemContract:
		parts = append(parts, strings.TrimSuffix(filepath.Base(c.Binary), filepath.Ext(c.Binary)))
	case SystemElectd:
		parts = append(parts, c.Algo)
		if c.Bug != "" {
			parts = append(parts, strings.ReplaceAll(c.Bug, ",", "+"))
		}
	default:
		if c.ReadMode != "" {
			parts = append(parts, c.ReadMode)
		}
	}
	parts = append(parts, now.UTC().Format("20060102-150405"))
	return nameRE.FindString(strings.Join(parts, "-")) // keeps it a valid name
}

func cannot(err error) error { return fmt.Errorf("%w: %w", ErrCannotRun, err) }

// Run runs one test with cfg and stores it. The error is non-nil only when
// the run could not happen (wrapping ErrCannotRun) or its files could not be
// written; a run that found bugs returns a Result whose Report says so.
// Cancelling ctx (Ctrl-C) cuts the run short: the nemesis heals, the
// ensemble is torn down, and what was recorded is judged and stored.
//
// The phases: prepare (settings, engine, image, run directory), start
// (records, ensemble, observer, clients), drive (the client phase), settle
// (heal, final reads, teardown) and judge (check and store).
func Run(ctx context.Context, cfg Config, opts Options) (Result, error) {
	r := newRun(cfg, opts)
	defer r.release()
	for _, phase := range []func(context.Context) error{r.prepare, r.start, r.drive, r.settle, r.judge} {
		if err := phase(ctx); err != nil {
			return r.res, err
		}
	}
	if r.engineErr != nil {
		// Judged and stored, but the engine failed the harness at the end:
		// the node logs are missing and the ensemble may still be there.
		// Not a run to take as done.
		return r.res, fmt.Errorf("judged %s, but the Docker engine failed at the end (node logs, teardown; splitbrain clean %s removes what is left once it answers): %w",
			r.res.Report.Verdict, ShellQuote([]string{r.dir}), r.engineErr)
	}
	return r.res, nil
}

// Prepare does once what every run of cfg needs before an ensemble can
// start, and leaves no run directory: an engine that answers, the system
// (for ZooKeeper, etcd and Redis their Debian packages and base image) and
// the node image. Later runs in this process reuse the image it built, so
// a caller that times its runs (hunt's and shrink's budgets) calls it
// first and keeps the build out of its clock. Its error wraps ErrCannotRun.
func Prepare(ctx context.Context, cfg Config, opts Options) error {
	r := newRun(cfg, opts)
	if err := r.checkSettings(); err != nil {
		return err
	}
	if err := r.ready(ctx); err != nil {
		return err
	}
	r.log.Info("prepared", "system", r.sys.Name, "image", r.image, "took", time.Since(r.began).Round(time.Millisecond))
	return nil
}

func newRun(cfg Config, opts Options) *run {
	r := &run{cfg: cfg, opts: opts, log: cmp.Or(opts.Log, slog.Default()), began: time.Now()}
	if r.opts.Backend == nil {
		r.opts.Backend = DockerBackend{}
	}
	return r
}

// run is one run's state, filled in phase by phase.
type run struct {
	cfg   Config
	opts  Options
	log   *slog.Logger
	began time.Time // Run was called

	// prepare
	sys      systems.System
	dial     workloads.Dial // how clients reach a node
	tgt      target         // the rest of what the system brings
	sched    nemesis.Schedule
	nodes    []string // "n1", ...
	noClock  bool     // the system accepts no clock faults
	dir      string
	image    string
	runID    string // the containers' label
	settings rundir.Settings
	res      Result

	// start
	t0      time.Time // the history's time zero
	hist    *history.Writer
	events  *history.EventWriter
	ens     Ensemble
	eps     []workloads.Endpoint
	obs     *workloads.Observer
	stopObs func() // stops the observer, once
	stats   *workloads.Stats
	reg     *workloads.Register
	nem     *nemesis.Nemesis

	// engineErr is the engine failing the teardown: a node's log not
	// read, the ensemble not removed.
	engineErr error
}

// prepare checks the settings, draws the seed and the schedule, makes sure
// an engine answers, builds the image and writes run.json and
// schedule.json into a new run directory.
func (r *run) prepare(ctx context.Context) error {
	if err := r.checkSettings(); err != nil {
		return err
	}
	if err := r.loadSchedule(); err != nil {
		return cannot(err)
	}
	var err error
	if r.dir, err = r.pickDir(); err != nil {
		return cannot(err)
	}
	r.log.Info("run", "dir", r.dir, "seed", r.cfg.Seed, "system", r.cfg.System, "nodes", r.cfg.Nodes,
		"faults", len(r.sched.Episodes), "time_limit", r.cfg.TimeLimit)
	if err := r.ready(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(r.dir, rundir.LogsDir), 0o755); err != nil {
		return cannot(err)
	}
	return r.writeSettings()
}

// checkSettings fills in the system's defaults and validates the settings.
func (r *run) checkSettings() error {
	r.cfg.SystemDefaults()
	if err := r.cfg.Validate(); err != nil {
		return cannot(err)
	}
	if r.cfg.System != SystemElectd {
		r.cfg.Algo = "" // electd's alone: run.json must not say another system ran raft
	}
	return nil
}

// ready makes sure an engine answers, describes the system and builds its
// node image: all a run needs before its ensemble can start.
func (r *run) ready(ctx context.Context) error {
	if err := r.checkEngine(ctx); err != nil {
		return cannot(err)
	}
	if err := r.resolveSystem(ctx); err != nil {
		return cannot(err)
	}
	if err := r.buildImage(ctx); err != nil {
		return cannot(err)
	}
	return nil
}

// loadSchedule reads the replayed run's schedule (its seed too, unless one
// was given), or draws one from the seed.
func (r *run) loadSchedule() error {
	r.nodes = make([]string, r.cfg.Nodes)
	for i := range r.nodes {
		r.nodes[i] = fmt.Sprintf("n%d", i+1)
	}
	if r.opts.Schedule != nil {
		s := *r.opts.Schedule
		if len(s.Nodes) != r.cfg.Nodes {
			return fmt.Errorf("the given schedule is for %d nodes, not --nodes %d", len(s.Nodes), r.cfg.Nodes)
		}
		if !r.cfg.SeedSet {
			r.cfg.Seed, r.cfg.SeedSet = s.Seed, true
		}
		r.sched = s
		return nil
	}
	if r.cfg.Replay != "" {
		s, err := nemesis.ReadFile(filepath.Join(r.cfg.Replay, rundir.ScheduleFile))
		if err != nil {
			return fmt.Errorf("--replay: %w", err)
		}
		if len(s.Nodes) != r.cfg.Nodes {
			return fmt.Errorf("--replay: the stored schedule is for %d nodes, not --nodes %d", len(s.Nodes), r.cfg.Nodes)
		}
		if !r.cfg.SeedSet {
			r.cfg.Seed, r.cfg.SeedSet = s.Seed, true
		}
		r.sched = s
		return nil
	}
	if !r.cfg.SeedSet {
		r.cfg.Seed, r.cfg.SeedSet = rand.Int64N(1<<31), true
	}
	r.sched = nemesis.Generate(r.cfg.Seed, r.nodes, r.cfg.Nemesis,
		time.Duration(r.cfg.NemesisInterval), time.Duration(r.cfg.TimeLimit))
	return nil
}

// resolveSystem describes the system under test; a contract binary is
// stored absolute, so that the replay command works from anywhere.
func (r *run) resolveSystem(ctx context.Context) error {
	if r.cfg.Binary != "" {
		if abs, err := filepath.Abs(r.cfg.Binary); err == nil {
			r.cfg.Binary = abs
		}
	}
	t, err := r.cfg.target(ctx, r.log)
	if err != nil {
		return err
	}
	t.sys.Seed = r.cfg.Seed // {seed}: loadSchedule has drawn or read it
	r.sys, r.dial, r.tgt, r.noClock = t.sys, t.dial, t, t.sys.Clock == systems.ClockNone
	return nil
}

// checkEngine makes sure an engine answers and removes what killed runs
// left behind.
func (r *run) checkEngine(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.opts.Backend.Ping(pctx); err != nil {
		return fmt.Errorf("%w; start one, or set DOCKER_HOST", err)
	}
	if n, err := r.opts.Backend.Clean(ctx); err != nil {
		r.log.Warn("could not remove what earlier runs left behind", "err", err)
	} else if n > 0 {
		r.log.Info("removed containers and networks of runs that died", "count", n)
	}
	return nil
}

// pickDir names the run directory: --name, which must be new, or a drawn
// name, numbered when taken.
func (r *run) pickDir() (string, error) {
	name := cmp.Or(r.cfg.Name, r.cfg.defaultName(r.began))
	dir := filepath.Join(r.cfg.Store, name)
	if _, err := os.Stat(dir); err != nil {
		return dir, nil
	}
	if r.cfg.Name != "" {
		return "", fmt.Errorf("--name %s: %s already exists; pick another name", r.cfg.Name, dir)
	}
	for i := 2; ; i++ {
		d := fmt.Sprintf("%s-%d", dir, i)
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			return d, nil
		}
	}
}

// buildImage builds the node image first, so that the run's clock starts
// with the ensemble.
func (r *run) buildImage(ctx context.Context) error {
	img, err := r.opts.Backend.Image(ctx, r.sys)
	if err != nil && ctx.Err() == nil {
		// A concurrent image clean-up can remove a layer mid-build; once more.
		r.log.Warn("building the node image failed; trying once more", "err", err)
		img, err = r.opts.Backend.Image(ctx, r.sys)
	}
	if err != nil {
		return fmt.Errorf("building the node image: %w", err)
	}
	r.image = img
	return nil
}

// writeSettings writes run.json and schedule.json; from here on the
// Result names the run directory.
func (r *run) writeSettings() error {
	program := cmp.Or(r.opts.Program, "splitbrain")
	r.res = Result{Dir: r.dir, Seed: r.cfg.Seed, Replay: program + " run --replay " + ShellQuote([]string{r.dir})}
	r.runID = fmt.Sprintf("%x", rand.Uint64()&0xffffffffffff)
	r.settings = rundir.Settings{
		Name:     filepath.Base(r.dir),
		Started:  r.began.UTC().Format(time.RFC3339),
		Config:   r.cfg.Config,
		Command:  cmp.Or(r.opts.Command, program+" run "+ShellQuote(append(r.cfg.Flags(), "--store", r.cfg.Store))),
		Replay:   r.res.Replay,
		ReplayOf: r.cfg.Replay,
		Ensemble: r.runID,

		ShrunkFrom:   r.opts.ShrunkFrom,
		FaultsBefore: r.opts.FaultsBefore,
	}
	r.settings.Unsupported = r.unsupported()
	if err := rundir.WriteSettings(r.dir, r.settings); err != nil {
		return err
	}
	return r.sched.WriteFile(filepath.Join(r.dir, rundir.ScheduleFile))
}

// unsupported are the fault kinds asked for that the system cannot have:
// clock faults without a clock to skew, a takeover without a way to
// promote a follower without the vote.
func (r *run) unsupported() []string {
	var out []string
	if r.noClock && slices.Contains(r.cfg.Nemesis, rundir.KindClock) {
		out = append(out, rundir.KindClock)
	}
	if r.tgt.promote == nil && slices.Contains(r.cfg.Nemesis, rundir.KindTakeover) {
		out = append(out, rundir.KindTakeover)
	}
	return out
}

// start opens the history and the events, starts the ensemble (and makes
// one system of it, for Redis Cluster) and the observer, waits (bounded)
// for a leader and makes the clients and the nemesis.
func (r *run) start(ctx context.Context) error {
	if err := r.openRecords(); err != nil {
		return err
	}
	if err := r.startEnsemble(ctx); err != nil {
		return cannot(fmt.Errorf("starting the ensemble: %w", err))
	}
	if r.tgt.setup != nil {
		sctx, cancel := context.WithTimeout(ctx, startTimeout)
		err := r.tgt.setup(sctx, r.eps)
		cancel()
		if err != nil {
			return cannot(fmt.Errorf("forming the cluster: %w", err))
		}
		r.log.Info("cluster formed", "after", time.Since(r.t0).Round(time.Millisecond))
	}
	r.startObserver(ctx)
	r.waitLeader(ctx)
	return r.newClients()
}

// newClients makes the register workload's clients and the nemesis.
func (r *run) newClients() error {
	r.stats = &workloads.Stats{}
	reg, err := workloads.NewRegister(workloads.RegisterConfig{
		Nodes: r.eps, Concurrency: r.cfg.Concurrency, Keys: r.cfg.Keys, Rate: r.cfg.Rate,
		Timeout: time.Duration(r.cfg.OpTimeout), Seed: r.cfg.Seed, History: r.hist, Stats: r.stats,
		Dial: r.dial,
	})
	if err != nil {
		return cannot(err)
	}
	r.reg = reg
	// Acked triggers isolate-after-ack. The register counts every
	// operation completed ok, reads too: the leader acknowledged each one.
	ncfg := nemesis.Config{Cluster: r.ens, History: r.hist, Leader: r.obs.Leader, NoClock: r.noClock, Log: r.log,
		Acked: r.stats.OK.Load}
	if r.tgt.promote != nil {
		ncfg.Takeover = &nemesis.Takeover{Followers: r.obs.Followers, Promote: func(ctx context.Context, node string) error {
			i := slices.IndexFunc(r.eps, func(e workloads.Endpoint) bool { return e.Node == node })
			if i < 0 {
				return fmt.Errorf("no node %s", node)
			}
			return r.tgt.promote(ctx, r.eps[i])
		}}
	}
	r.nem = nemesis.New(ncfg)
	for _, k := range r.settings.Unsupported {
		switch k {
		case rundir.KindClock:
			r.log.Warn("clock faults are unsupported: the system has no clock the agent can skew; none will be injected", "system", r.sys.Name)
		case rundir.KindTakeover:
			r.log.Warn("takeover faults are unsupported: the system cannot promote a follower without the vote; none will be injected", "system", r.sys.Name)
		}
	}
	return nil
}

// openRecords creates history.jsonl, whose time zero is now, and
// events.jsonl.
func (r *run) openRecords() error {
	r.t0 = time.Now()
	hist, err := history.Create(filepath.Join(r.dir, rundir.HistoryFile), r.t0)
	if err != nil {
		return err
	}
	r.hist = hist
	events, err := history.CreateEvents(filepath.Join(r.dir, rundir.EventsFile))
	if err != nil {
		return err
	}
	r.events = events
	return nil
}

// startEnsemble starts the nodes, their events going to events.jsonl.
func (r *run) startEnsemble(ctx context.Context) error {
	var once sync.Once
	onEvent := func(ev clusters.Event) {
		if err := r.events.Append(clusters.HistoryEvent(ev, r.t0)); err != nil {
			once.Do(func() { r.log.Error("writing events", "err", err) })
		}
	}
	// Bounded: a server that never listens (a bad flag, a crash at start)
	// must not hang the run.
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	ens, err := r.opts.Backend.Start(sctx, r.sys, r.cfg.Nodes, clusters.Options{Image: r.image, RunID: r.runID, OnEvent: onEvent,
		Logf: func(f string, a ...any) { r.log.Debug(fmt.Sprintf(f, a...)) }})
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("the nodes' servers did not accept connections within %v (%w); does %q start by hand?",
				startTimeout, err, strings.Join(r.sys.Args, " "))
		}
		return err
	}
	r.ens = ens
	for _, nd := range ens.Nodes() {
		r.eps = append(r.eps, workloads.Endpoint{Node: nd.ID, Addr: nd.Addr})
	}
	return nil
}

// startObserver polls every node's status into events.jsonl until settle
// stops it; an interrupt does not stop it, so that the heal is observed.
func (r *run) startObserver(ctx context.Context) {
	r.obs = workloads.NewObserver(r.eps, r.dial, workloads.DefaultPoll, r.events, r.hist.Since)
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- r.obs.Run(octx) }()
	r.stopObs = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			r.log.Warn("observer", "err", err)
		}
	})
}

// waitLeader waits for a first leader before the clients start (bounded: a
// system that never elects one still gets its run, and the liveness
// checker says so).
func (r *run) waitLeader(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, leaderTimeout)
	defer cancel()
	if waitFor(wctx, 50*time.Millisecond, func() bool { return r.obs.Leader() != "" }) {
		r.log.Info("ensemble up", "leader", r.obs.Leader(), "after", time.Since(r.t0).Round(time.Millisecond))
	} else if ctx.Err() == nil {
		r.log.Warn("no leader after 30s; running the clients anyway")
	}
}

// drive is the client phase: the clients and the nemesis for the time
// limit, or until ctx is cancelled.
func (r *run) drive(ctx context.Context) error {
	limit := time.Duration(r.cfg.TimeLimit)
	phase, end := context.WithTimeout(ctx, limit)
	defer end()
	began := time.Now()
	var wg sync.WaitGroup
	var regErr, nemErr error
	wg.Go(func() { regErr = r.reg.Run(phase) })
	wg.Go(func() { nemErr = r.nem.Run(phase, r.sched, began) })
	progDone := make(chan struct{})
	go func() {
		defer close(progDone)
		progress(phase, r.opts, r.log, began, limit, r.stats, r.nem, r.obs)
	}()
	wg.Wait()
	end()
	<-progDone
	if err := errors.Join(regErr, nemErr); err != nil {
		return fmt.Errorf("recording the history: %w", err)
	}
	r.res.Interrupted = ctx.Err() != nil
	return nil
}

// settle ends the run on the engine: the final phase (or, when
// interrupted, only the heal), then the ensemble's logs and teardown, and
// the history closed.
func (r *run) settle(ctx context.Context) error {
	if !r.res.Interrupted {
		if err := r.finalPhase(ctx); err != nil {
			return err
		}
	} else {
		r.log.Warn("interrupted: healing, tearing down and judging what was recorded")
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healTimeout)
		if err := nemesis.HealAll(hctx, r.ens, r.nodes, r.noClock); err != nil {
			r.log.Debug("heal", "err", err)
		}
		cancel()
	}
	r.res.Ops = r.stats.OK.Load() + r.stats.Fail.Load() + r.stats.Info.Load()
	r.res.Faults = r.nem.Applied()
	return r.release()
}

// finalPhase heals every fault, waits (bounded) for a leader every node
// agrees on and reads every key through it. A sharded cluster waits
// instead for every node to say the cluster is ok with one slot map, and
// reads every key through each master.
func (r *run) finalPhase(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, healTimeout)
	err := nemesis.HealAll(hctx, r.ens, r.nodes, r.noClock)
	cancel()
	if err != nil {
		r.log.Warn("final phase: healing", "err", err)
	}
	if r.tgt.views != nil {
		return r.finalPhaseSharded(ctx)
	}
	lctx, cancel := context.WithTimeout(ctx, agreeTimeout)
	leader, err := workloads.AgreedLeader(lctx, r.eps, r.dial, 100*time.Millisecond)
	cancel()
	if err != nil {
		r.log.Warn("final phase: no leader all nodes agree on within 30s; no final reads", "why", err)
		return nil
	}
	r.log.Info("final phase: reading every key", "leader", leader)
	i := slices.IndexFunc(r.eps, func(e workloads.Endpoint) bool { return e.Node == leader })
	return r.finalReads(ctx, r.eps[max(i, 0)])
}

// finalPhaseSharded polls every node's view of the cluster into
// events.jsonl (each view when it changes) until every node says ok with
// one slot map, or agreeTimeout, and then reads every key through each
// master of that map: the read of a key through its own master is the one
// the lost-writes checker can judge.
func (r *run) finalPhaseSharded(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, agreeTimeout)
	defer cancel()
	last := map[string]clusterView{}
	var masters []string
	why := "no view yet"
	agreed := waitFor(wctx, 100*time.Millisecond, func() bool {
		vs := r.tgt.views(wctx, r.eps)
		now := r.hist.Since(time.Now())
		for _, v := range vs {
			prev, seen := last[v.Node]
			if v.Err == nil && (!seen || prev.Err != nil || prev.State != v.State || prev.SlotMap != v.SlotMap) {
				ev := history.Event{Time: now, Node: v.Node, Event: rundir.EventCluster, State: v.State, SlotMap: v.SlotMap,
					Source: rundir.SourceObserver}
				if err := r.events.Append(ev); err != nil {
					r.log.Warn("writing events", "err", err)
				}
			}
			last[v.Node] = v
		}
		var ok bool
		masters, why, ok = agreedMasters(vs)
		return ok
	})
	if !agreed {
		r.log.Warn("final phase: the nodes did not all report the cluster ok with one slot map within 30s; no final reads", "why", why)
		return nil
	}
	r.log.Info("final phase: the cluster is ok; reading every key through each master", "masters", masters)
	for _, m := range masters {
		i := slices.IndexFunc(r.eps, func(e workloads.Endpoint) bool { return e.Node == m })
		if i < 0 {
			continue
		}
		if err := r.finalReads(ctx, r.eps[i]); err != nil {
			return err
		}
	}
	return nil
}

// agreedMasters is the masters of the slot map every view gives, when
// every node answered ok with the same one; else why not.
func agreedMasters(vs []clusterView) ([]string, string, bool) {
	if len(vs) == 0 {
		return nil, "no node", false
	}
	for _, v := range vs {
		switch {
		case v.Err != nil:
			return nil, v.Err.Error(), false
		case v.State != rundir.ClusterOK:
			return nil, v.Node + " says cluster_state " + v.State, false
		case v.SlotMap != vs[0].SlotMap:
			return nil, fmt.Sprintf("%s and %s see different slot maps", vs[0].Node, v.Node), false
		}
	}
	var masters []string
	for _, part := range strings.Fields(vs[0].SlotMap) {
		_, m, _ := strings.Cut(part, "=")
		if !slices.Contains(masters, m) {
			masters = append(masters, m)
		}
	}
	return masters, "", true
}

// errNotAllOK is a round of final reads in which some read failed.
var errNotAllOK = errors.New("some final reads did not succeed")

// finalReads reads every key through ep, a few rounds until every read
// succeeds. Only the history's errors are errors.
func (r *run) finalReads(ctx context.Context, ep workloads.Endpoint) error {
	var histErr error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		outs, err := r.reg.FinalReads(ctx, ep)
		if err != nil {
			histErr = err
			return struct{}{}, backoff.Permanent(err)
		}
		for _, o := range outs {
			if o.Type != history.OK {
				return struct{}{}, errNotAllOK
			}
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(backoff.NewConstantBackOff(finalBackoff)), backoff.WithMaxTries(finalTries))
	switch {
	case histErr != nil:
		return fmt.Errorf("recording the history: %w", histErr)
	case errors.Is(err, errNotAllOK):
		r.log.Warn("final phase: " + errNotAllOK.Error())
	}
	return nil // done, or cut short by ctx
}

// release stops what the run started, in order, each once: the observer,
// the ensemble (its logs saved first), the events and the history. Run
// defers it too, so that an error on the way leaves nothing running.
func (r *run) release() error {
	if r.stopObs != nil {
		r.stopObs()
		r.stopObs = nil
	}
	if r.ens != nil {
		r.teardown(context.Background())
		r.ens = nil
	}
	if r.events != nil {
		if err := r.events.Close(); err != nil {
			r.log.Warn("closing events", "err", err)
		}
		r.events = nil
	}
	if r.hist == nil {
		return nil
	}
	err := r.hist.Close()
	r.hist = nil
	return err
}

// teardown saves every node's log and removes the ensemble, whatever
// happened to the run's context.
func (r *run) teardown(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	for _, nd := range r.ens.Nodes() {
		b, err := r.ens.Logs(lctx, nd.ID)
		if err != nil {
			r.log.Warn("node log", "node", nd.ID, "err", err)
			errs = append(errs, err)
		}
		if len(b) > 0 {
			_ = os.WriteFile(filepath.Join(r.dir, rundir.LogsDir, nd.ID+".log"), b, 0o644)
		}
	}
	tctx, cancel2 := context.WithTimeout(ctx, 60*time.Second)
	defer cancel2()
	if err := r.ens.Teardown(tctx); err != nil {
		r.log.Warn("teardown", "err", err)
		errs = append(errs, err)
	}
	r.engineErr = errors.Join(errs...)
}

// judge checks the stored history and events, writes results.json and the
// report, and updates the store's index. It runs even when interrupted.
func (r *run) judge(ctx context.Context) error {
	if r.nem != nil && len(r.nem.Unsupported()) > 0 {
		found := r.nem.Unsupported()
		// Found out on the way (netem on a kernel without it): run.json says so too.
		for _, k := range found {
			if !slices.Contains(r.settings.Unsupported, k) {
				r.settings.Unsupported = append(r.settings.Unsupported, k)
			}
		}
		if err := rundir.WriteSettings(r.dir, r.settings); err != nil {
			return err
		}
	}
	r.log.Info("checking", "dir", r.dir)
	copts := checker.Options{VisualizeDir: r.dir, LinearizableTimeout: r.opts.LinearizableTimeout}
	rep, err := checker.CheckDir(context.WithoutCancel(ctx), r.dir, copts)
	if err != nil {
		return fmt.Errorf("checking %s: %w", r.dir, err)
	}
	r.res.Report = rep
	if err := checker.WriteReport(r.dir, rep); err != nil {
		return err
	}
	if err := reports.Write(r.dir); err != nil {
		r.log.Warn("writing the report", "err", err)
	} else {
		r.res.ReportFile = filepath.Join(r.dir, rundir.ReportFile)
	}
	if err := runstore.WriteIndex(r.cfg.Store); err != nil {
		r.log.Debug("writing the store index", "err", err)
	}
	r.res.Duration = time.Since(r.began)
	return nil
}

// waitFor polls cond every period until it holds (true) or ctx is done
// (false).
func waitFor(ctx context.Context, every time.Duration, cond func() bool) bool {
	t := time.NewTicker(every)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
	return true
}

// progress reports the run as it goes: a live line on a terminal, plain log
// lines otherwise.
func progress(ctx context.Context, opts Options, log *slog.Logger, start time.Time, limit time.Duration, st *workloads.Stats, nem *nemesis.Nemesis, obs *workloads.Observer) {
	every := opts.ProgressEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	live := opts.Live && opts.Progress != nil
	if live {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if live {
				fmt.Fprintln(opts.Progress)
			}
			return
		case <-t.C:
		}
		el := min(time.Since(start), limit).Truncate(time.Second)
		fault, leader := cmp.Or(nem.Active(), "none"), cmp.Or(obs.Leader(), "none")
		if live {
			label := ""
			if opts.Label != "" {
				label = opts.Label + "  "
			}
			fmt.Fprintf(opts.Progress, "\r\033[K%s%v/%v  ops ok %d fail %d info %d  fault: %s  leader: %s",
				label, el, limit, st.OK.Load(), st.Fail.Load(), st.Info.Load(), fault, leader)
			continue
		}
		attrs := []any{"elapsed", el, "limit", limit, "ok", st.OK.Load(), "fail", st.Fail.Load(),
			"info", st.Info.Load(), "fault", fault, "leader", leader}
		if opts.Label != "" {
			attrs = append([]any{"of", opts.Label}, attrs...)
		}
		log.Info("progress", attrs...)
	}
}
