package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/store"
	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/systems/contract"
	"github.com/splitbrain/splitbrain/systems/electd"
	"github.com/splitbrain/splitbrain/workloads"
)

// Files of a run directory this package writes (the others are the
// checker's and the reports').
const (
	SettingsFile = "run.json"
	ScheduleFile = "schedule.json"
	LogsDir      = "logs"
)

// startTimeout bounds starting the ensemble (the image is built before).
const startTimeout = 90 * time.Second

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
	// LinearizableTimeout bounds the linearizability search at the end.
	LinearizableTimeout time.Duration
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

// Settings is run.json.
type Settings struct {
	Name            string   `json:"name"`
	Started         string   `json:"started"`
	System          string   `json:"system"`
	Algo            string   `json:"algo"`
	Bug             string   `json:"bug"`
	Nodes           int      `json:"nodes"`
	Nemesis         []string `json:"nemesis"`
	Seed            int64    `json:"seed"`
	TimeLimit       string   `json:"time_limit"`
	Concurrency     int      `json:"concurrency"`
	Keys            int      `json:"keys"`
	Command         string   `json:"command"`
	Replay          string   `json:"replay"`
	Workload        string   `json:"workload"`
	NemesisInterval string   `json:"nemesis_interval"`
	Rate            float64  `json:"rate"`
	OpTimeout       string   `json:"op_timeout"`
	ReadMode        string   `json:"read_mode,omitempty"`
	Binary          string   `json:"binary,omitempty"`
	Args            string   `json:"args,omitempty"`
	ReplayOf        string   `json:"replay_of,omitempty"`
	Ensemble        string   `json:"ensemble,omitempty"` // the containers' run label
}

// ReadSettings reads a stored run's run.json as a Config: the base of
// --replay, which flags and -f then override.
func ReadSettings(dir string) (Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, SettingsFile))
	if err != nil {
		return Config{}, fmt.Errorf("--replay: %w", err)
	}
	var s Settings
	if err := json.Unmarshal(b, &s); err != nil {
		return Config{}, fmt.Errorf("--replay: %s: %w", filepath.Join(dir, SettingsFile), err)
	}
	c := Defaults()
	set := func(name, v string) error {
		if v == "" {
			return nil
		}
		f, _ := FieldByName(name)
		if err := f.set(&c, v); err != nil {
			return fmt.Errorf("--replay: %s: %s: %w", filepath.Join(dir, SettingsFile), name, err)
		}
		return nil
	}
	nem := strings.Join(s.Nemesis, ",")
	if nem == "" {
		nem = "none"
	}
	for _, kv := range [][2]string{
		{"system", s.System}, {"algo", s.Algo}, {"bug", s.Bug}, {"nodes", itoa(s.Nodes)}, {"nemesis", nem},
		{"time-limit", s.TimeLimit}, {"concurrency", itoa(s.Concurrency)}, {"keys", itoa(s.Keys)},
		{"workload", s.Workload}, {"nemesis-interval", s.NemesisInterval}, {"op-timeout", s.OpTimeout},
		{"read-mode", s.ReadMode}, {"binary", s.Binary}, {"args", s.Args}, {"seed", fmt.Sprint(s.Seed)},
		{"rate", fmt.Sprint(s.Rate)},
	} {
		if err := set(kv[0], kv[1]); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

// System returns the systems.System the settings describe.
func (c Config) system() (systems.System, error) {
	switch c.System {
	case "contract":
		bin, err := filepath.Abs(c.Binary)
		if err != nil {
			return systems.System{}, err
		}
		if st, err := os.Stat(bin); err != nil || st.IsDir() {
			return systems.System{}, fmt.Errorf("--binary %s: not a file", c.Binary)
		}
		return contract.System(bin, c.Args, 0)
	default:
		var bs []string
		if c.Bug != "" {
			bs = strings.Split(c.Bug, ",")
		}
		return electd.System(electd.Options{Algo: c.Algo, Bugs: bs, ReadMode: c.ReadMode}), nil
	}
}

func (c Config) defaultName(now time.Time) string {
	parts := []string{c.System}
	if c.System == "contract" {
		parts = append(parts, strings.TrimSuffix(filepath.Base(c.Binary), filepath.Ext(c.Binary)))
	} else {
		parts = append(parts, c.Algo)
		if c.Bug != "" {
			parts = append(parts, strings.ReplaceAll(c.Bug, ",", "+"))
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
func Run(ctx context.Context, cfg Config, opts Options) (Result, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return Result{}, cannot(err)
	}
	var sched *nemesis.Schedule
	if cfg.Replay != "" {
		s, err := nemesis.ReadFile(filepath.Join(cfg.Replay, ScheduleFile))
		if err != nil {
			return Result{}, cannot(fmt.Errorf("--replay: %w", err))
		}
		if len(s.Nodes) != cfg.Nodes {
			return Result{}, cannot(fmt.Errorf("--replay: the stored schedule is for %d nodes, not --nodes %d", len(s.Nodes), cfg.Nodes))
		}
		sched = &s
		if !cfg.SeedSet {
			cfg.Seed, cfg.SeedSet = s.Seed, true
		}
	}
	if !cfg.SeedSet {
		cfg.Seed, cfg.SeedSet = rand.Int64N(1<<31), true
	}
	if cfg.Binary != "" {
		// Stored absolute, so that the replay command works from anywhere.
		if abs, err := filepath.Abs(cfg.Binary); err == nil {
			cfg.Binary = abs
		}
	}
	sys, err := cfg.system()
	if err != nil {
		return Result{}, cannot(err)
	}

	// The engine, and what killed runs left behind.
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = clusters.Ping(pctx)
	cancel()
	if err != nil {
		return Result{}, cannot(fmt.Errorf("%w; start one, or set DOCKER_HOST", err))
	}
	if n, err := clusters.Clean(ctx); err != nil {
		log.Warn("could not remove what earlier runs left behind", "err", err)
	} else if n > 0 {
		log.Info("removed containers and networks of runs that died", "count", n)
	}

	now := time.Now()
	name := cfg.Name
	if name == "" {
		name = cfg.defaultName(now)
	}
	dir := filepath.Join(cfg.Store, name)
	if _, err := os.Stat(dir); err == nil {
		if cfg.Name != "" {
			return Result{}, cannot(fmt.Errorf("--name %s: %s already exists; pick another name", cfg.Name, dir))
		}
		for i := 2; ; i++ {
			d := fmt.Sprintf("%s-%d", filepath.Join(cfg.Store, name), i)
			if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
				dir, name = d, filepath.Base(d)
				break
			}
		}
	}
	nodes := make([]string, cfg.Nodes)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("n%d", i+1)
	}
	noClock := sys.Clock == systems.ClockNone
	if sched == nil {
		kinds := cfg.Nemesis
		s := nemesis.Generate(cfg.Seed, nodes, kinds, cfg.NemesisInterval, cfg.TimeLimit)
		sched = &s
	}
	log.Info("run", "dir", dir, "seed", cfg.Seed, "system", sys.Name, "nodes", cfg.Nodes,
		"faults", len(sched.Episodes), "time_limit", cfg.TimeLimit)

	// The image first, so that the run's clock starts with the ensemble.
	img, err := clusters.BuildImage(ctx, sys)
	if err != nil && ctx.Err() == nil {
		// A concurrent image clean-up can remove a layer mid-build; once more.
		log.Warn("building the node image failed; trying once more", "err", err)
		img, err = clusters.BuildImage(ctx, sys)
	}
	if err != nil {
		return Result{}, cannot(fmt.Errorf("building the node image: %w", err))
	}
	if err := os.MkdirAll(filepath.Join(dir, LogsDir), 0o755); err != nil {
		return Result{}, cannot(err)
	}
	program := opts.Program
	if program == "" {
		program = "splitbrain"
	}
	res := Result{Dir: dir, Seed: cfg.Seed, Replay: program + " run --replay " + ShellQuote([]string{dir})}
	runID := fmt.Sprintf("%x", rand.Uint64()&0xffffffffffff)
	st := Settings{
		Name: name, Started: now.UTC().Format(time.RFC3339), System: cfg.System, Algo: cfg.Algo, Bug: cfg.Bug,
		Nodes: cfg.Nodes, Nemesis: cfg.Nemesis, Seed: cfg.Seed, TimeLimit: cfg.TimeLimit.String(),
		Concurrency: cfg.Concurrency, Keys: cfg.Keys,
		Command:  program + " run " + ShellQuote(append(cfg.Flags(), "--store", cfg.Store)),
		Replay:   res.Replay,
		Workload: cfg.Workload, NemesisInterval: cfg.NemesisInterval.String(), Rate: cfg.Rate,
		OpTimeout: cfg.OpTimeout.String(), ReadMode: cfg.ReadMode, Binary: cfg.Binary, Args: cfg.Args,
		ReplayOf: cfg.Replay, Ensemble: runID,
	}
	if st.Nemesis == nil {
		st.Nemesis = []string{}
	}
	if err := writeJSON(filepath.Join(dir, SettingsFile), st); err != nil {
		return res, err
	}
	if err := sched.WriteFile(filepath.Join(dir, ScheduleFile)); err != nil {
		return res, err
	}

	start := time.Now()
	hist, err := history.Create(filepath.Join(dir, checker.HistoryFile), start)
	if err != nil {
		return res, err
	}
	histClosed := false
	defer func() {
		if !histClosed {
			hist.Close()
		}
	}()
	events, err := history.CreateEvents(filepath.Join(dir, checker.EventsFile))
	if err != nil {
		return res, err
	}
	var evErrOnce sync.Once
	onEvent := func(ev clusters.Event) {
		if err := events.Append(clusters.HistoryEvent(ev, start)); err != nil {
			evErrOnce.Do(func() { log.Error("writing events", "err", err) })
		}
	}
	// Bounded: a server that never listens (a bad flag, a crash at start)
	// must not hang the run.
	sctx, cancelStart := context.WithTimeout(ctx, startTimeout)
	ens, err := clusters.Start(sctx, sys, cfg.Nodes, clusters.Options{Image: img.Tag, RunID: runID, OnEvent: onEvent,
		Logf: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }})
	cancelStart()
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("the nodes' servers did not accept connections within %v (%w); does %q start by hand?", startTimeout, err, strings.Join(sys.Args, " "))
		}
		events.Close()
		return res, cannot(fmt.Errorf("starting the ensemble: %w", err))
	}
	bg := context.WithoutCancel(ctx)
	tornDown := false
	teardown := func() {
		if tornDown {
			return
		}
		tornDown = true
		lctx, cancel := context.WithTimeout(bg, 30*time.Second)
		defer cancel()
		for _, nd := range ens.Nodes() {
			b, err := ens.Logs(lctx, nd.ID)
			if err != nil {
				log.Warn("node log", "node", nd.ID, "err", err)
			}
			if len(b) > 0 {
				_ = os.WriteFile(filepath.Join(dir, LogsDir, nd.ID+".log"), b, 0o644)
			}
		}
		tctx, cancel2 := context.WithTimeout(bg, 60*time.Second)
		defer cancel2()
		if err := ens.Teardown(tctx); err != nil {
			log.Warn("teardown", "err", err)
		}
		if err := events.Close(); err != nil {
			log.Warn("closing events", "err", err)
		}
	}
	defer teardown()

	eps := make([]workloads.Endpoint, 0, cfg.Nodes)
	for _, nd := range ens.Nodes() {
		eps = append(eps, workloads.Endpoint{Node: nd.ID, Base: "http://" + nd.Addr})
	}
	obs := workloads.NewObserver(eps, workloads.DefaultPoll, events, hist.Since)
	obsCtx, stopObs := context.WithCancel(bg)
	obsDone := make(chan error, 1)
	go func() { obsDone <- obs.Run(obsCtx) }()
	stopObserver := sync.OnceFunc(func() {
		stopObs()
		if err := <-obsDone; err != nil {
			log.Warn("observer", "err", err)
		}
	})
	defer stopObserver()

	// Clients start once there is a leader (bounded: a system that never
	// elects one still gets its run, and the liveness checker says so).
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	for obs.Leader() == "" && wctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if l := obs.Leader(); l != "" {
		log.Info("ensemble up", "leader", l, "after", time.Since(start).Round(time.Millisecond))
	} else if ctx.Err() == nil {
		log.Warn("no leader after 30s; running the clients anyway")
	}

	stats := &workloads.Stats{}
	reg, err := workloads.NewRegister(workloads.RegisterConfig{
		Nodes: eps, Concurrency: cfg.Concurrency, Keys: cfg.Keys, Rate: cfg.Rate, Timeout: cfg.OpTimeout,
		Seed: cfg.Seed, History: hist, Stats: stats,
	})
	if err != nil {
		return res, cannot(err)
	}
	nem := nemesis.New(nemesis.Config{Cluster: ens, History: hist, Leader: obs.Leader, NoClock: noClock, Log: log})
	if noClock && containsKind(cfg.Nemesis, nemesis.KindClock) {
		log.Info("clock faults skipped: the system accepts no clock")
	}

	// The client phase.
	phase, endPhase := context.WithTimeout(ctx, cfg.TimeLimit)
	clientStart := time.Now()
	var wg sync.WaitGroup
	var regErr, nemErr error
	wg.Go(func() { regErr = reg.Run(phase) })
	wg.Go(func() { nemErr = nem.Run(phase, *sched, clientStart) })
	progDone := make(chan struct{})
	go func() {
		defer close(progDone)
		progress(phase, opts, log, clientStart, cfg.TimeLimit, stats, nem, obs)
	}()
	wg.Wait()
	endPhase()
	<-progDone
	if err := errors.Join(regErr, nemErr); err != nil {
		return res, fmt.Errorf("recording the history: %w", err)
	}
	res.Interrupted = ctx.Err() != nil

	// The final phase: heal, agree on a leader, read every key through it.
	if !res.Interrupted {
		if err := finalPhase(ctx, log, ens, nodes, noClock, eps, reg); err != nil {
			return res, err
		}
	} else {
		log.Warn("interrupted: healing, tearing down and judging what was recorded")
		hctx, cancel := context.WithTimeout(bg, 30*time.Second)
		if err := nemesis.HealAll(hctx, ens, nodes, noClock); err != nil {
			log.Debug("heal", "err", err)
		}
		cancel()
	}
	res.Ops = stats.OK.Load() + stats.Fail.Load() + stats.Info.Load()
	res.Faults = nem.Applied()
	stopObserver()
	teardown()
	histClosed = true
	if err := hist.Close(); err != nil {
		return res, err
	}

	// Judge and store.
	log.Info("checking", "dir", dir)
	copts := checker.Options{VisualizeDir: dir, LinearizableTimeout: opts.LinearizableTimeout}
	rep, err := checker.CheckDir(bg, dir, copts)
	if err != nil {
		return res, fmt.Errorf("checking %s: %w", dir, err)
	}
	res.Report = rep
	if err := checker.WriteReport(dir, rep); err != nil {
		return res, err
	}
	if err := reports.Write(dir); err != nil {
		log.Warn("writing the report", "err", err)
	} else {
		res.ReportFile = filepath.Join(dir, "report.html")
	}
	if err := store.WriteIndex(cfg.Store); err != nil {
		log.Debug("writing the store index", "err", err)
	}
	res.Duration = time.Since(now)
	return res, nil
}

func containsKind(kinds []string, k string) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// finalPhase heals every fault, waits (bounded) for a leader every node
// agrees on and reads every key through it.
func finalPhase(ctx context.Context, log *slog.Logger, ens *clusters.Ensemble, nodes []string, noClock bool, eps []workloads.Endpoint, reg *workloads.Register) error {
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := nemesis.HealAll(hctx, ens, nodes, noClock)
	cancel()
	if err != nil {
		log.Warn("final phase: healing", "err", err)
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	leader, err := workloads.AgreedLeader(lctx, eps, 100*time.Millisecond)
	cancel()
	if err != nil {
		log.Warn("final phase: no leader all nodes agree on within 30s; no final reads", "why", err)
		return nil
	}
	log.Info("final phase: reading every key", "leader", leader)
	var ep workloads.Endpoint
	for _, e := range eps {
		if e.Node == leader {
			ep = e
		}
	}
	for attempt := 0; attempt < 5; attempt++ {
		outs, err := reg.FinalReads(ctx, ep)
		if err != nil {
			return fmt.Errorf("recording the history: %w", err)
		}
		allOK := true
		for _, o := range outs {
			allOK = allOK && o.Type == history.OK
		}
		if allOK || ctx.Err() != nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	log.Warn("final phase: some final reads did not succeed")
	return nil
}

// progress reports the run as it goes: a live line on a terminal, plain log
// lines otherwise.
func progress(ctx context.Context, opts Options, log *slog.Logger, start time.Time, limit time.Duration, st *workloads.Stats, nem *nemesis.Nemesis, obs *workloads.Observer) {
	every := opts.ProgressEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	if opts.Live && opts.Progress != nil {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	line := func() (elapsed time.Duration, fault, leader string) {
		elapsed = min(time.Since(start), limit).Truncate(time.Second)
		fault = nem.Active()
		if fault == "" {
			fault = "none"
		}
		leader = obs.Leader()
		if leader == "" {
			leader = "none"
		}
		return
	}
	for {
		select {
		case <-ctx.Done():
			if opts.Live && opts.Progress != nil {
				fmt.Fprintln(opts.Progress)
			}
			return
		case <-t.C:
		}
		el, fault, leader := line()
		if opts.Live && opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "\r\033[K%v/%v  ops ok %d fail %d info %d  fault: %s  leader: %s",
				el, limit, st.OK.Load(), st.Fail.Load(), st.Info.Load(), fault, leader)
			continue
		}
		log.Info("progress", "elapsed", el, "limit", limit, "ok", st.OK.Load(), "fail", st.Fail.Load(),
			"info", st.Info.Load(), "fault", fault, "leader", leader)
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
