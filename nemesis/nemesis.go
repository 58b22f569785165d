package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/history"
)

// Cluster is what the nemesis needs of an ensemble; *clusters.Ensemble
// provides it. Clock and Netem return an error matching
// errors.ErrUnsupported when the system or kernel can't have them.
type Cluster interface {
	Kill(ctx context.Context, id string) error
	Start(ctx context.Context, id string) error
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
	// Partition cuts the nodes into groups, both ways, replacing any
	// earlier cut.
	Partition(ctx context.Context, groups ...[]string) error
	// Block drops the packets from every node of from to every node of to,
	// in addition to the rules in place.
	Block(ctx context.Context, from, to []string) error
	// Heal removes every partition and block.
	Heal(ctx context.Context) error
	Clock(ctx context.Context, id string, offset time.Duration, rate float64) error
	Netem(ctx context.Context, id string, delay time.Duration, loss float64) error
}

// Config configures a Nemesis.
type Config struct {
	Cluster Cluster
	History history.Recorder
	// Leader returns the node leading now, "" when none is known.
	Leader func() string
	// NoClock says the system accepts no clock faults: clock episodes are
	// skipped (and said so).
	NoClock bool
	Log     *slog.Logger
	// LeaderWait bounds how long a fault on "the leader" waits for one to
	// be known; 2 s when zero.
	LeaderWait time.Duration
	// Step bounds each fault action (kill, heal, ...); 15 s when zero.
	Step time.Duration
}

// Nemesis runs a schedule against a cluster.
type Nemesis struct {
	cfg Config

	mu          sync.Mutex
	active      string          // the fault in effect, for progress
	unsupported map[string]bool // kinds found unsupported at run time
	applied     int
}

// New returns a nemesis.
func New(cfg Config) *Nemesis {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Leader == nil {
		cfg.Leader = func() string { return "" }
	}
	if cfg.LeaderWait <= 0 {
		cfg.LeaderWait = 2 * time.Second
	}
	if cfg.Step <= 0 {
		cfg.Step = 15 * time.Second
	}
	return &Nemesis{cfg: cfg, unsupported: map[string]bool{}}
}

// Active describes the fault in effect, "" when none.
func (n *Nemesis) Active() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.active
}

// Applied is how many faults were applied so far.
func (n *Nemesis) Applied() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applied
}

func (n *Nemesis) setActive(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.active = s
	if s != "" {
		n.applied++
	}
}

// Run applies the schedule's episodes at their offsets from start, each
// healed at its end, until the schedule is done or ctx is. A fault in
// effect when ctx ends is healed before Run returns. The error is the
// history's: a fault that could not be applied is recorded and logged,
// not returned.
func (n *Nemesis) Run(ctx context.Context, s Schedule, start time.Time) error {
	for _, ep := range s.Episodes {
		if !sleepUntil(ctx, start.Add(time.Duration(ep.At))) {
			return nil
		}
		if ep.Kind == KindClock && n.cfg.NoClock {
			n.skip(ep, "the system accepts no clock faults")
			continue
		}
		n.mu.Lock()
		unsup := n.unsupported[ep.Kind]
		n.mu.Unlock()
		if unsup {
			n.skip(ep, "unsupported here")
			continue
		}
		if err := n.episode(ctx, ep, start); err != nil {
			return err
		}
	}
	return nil
}

func (n *Nemesis) skip(ep Episode, why string) {
	n.cfg.Log.Info("nemesis: skipped a fault", "fault", ep.String(), "why", why)
}

// episode applies one fault, waits for its end (or ctx) and heals it.
func (n *Nemesis) episode(ctx context.Context, ep Episode, start time.Time) error {
	order := ep.Resolve(n.leader(ctx, ep))
	f, err := n.begin(ctx, ep, order)
	if err != nil {
		return err
	}
	if f == nil {
		return nil
	}
	n.setActive(f.describe)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if f.during != nil {
		wg.Go(func() { f.during(ctx, stop) })
	}
	sleepUntil(ctx, start.Add(ep.End()))
	close(stop)
	wg.Wait()
	err = n.end(ctx, f)
	n.setActive("")
	return err
}

// leader waits (bounded) for a leader when the episode targets one.
func (n *Nemesis) leader(ctx context.Context, ep Episode) string {
	if !ep.Leader {
		return ""
	}
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for {
		if l := n.cfg.Leader(); l != "" {
			return l
		}
		if time.Now().After(deadline) || !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
			n.cfg.Log.Info("nemesis: no leader known; the fault takes the drawn node instead", "fault", ep.String(), "node", ep.Order[0])
			return ""
		}
	}
}

// fault is an applied fault: how to heal it and what to record then.
type fault struct {
	describe string
	heal     func(ctx context.Context) error
	stopF    string
	stopVal  map[string]any
	node     string
	during   func(ctx context.Context, stop <-chan struct{})
	// inner is a fault applied on top of this one, healed first.
	inner *fault
}

func (n *Nemesis) step(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), n.cfg.Step)
}

// record writes a nemesis entry.
func (n *Nemesis) record(f string, node string, val map[string]any, err error) error {
	op := history.Op{Process: history.Nemesis, Type: history.Info, F: f, Node: node, Value: history.RawValue(val)}
	if err != nil {
		op.Error = err.Error()
		n.cfg.Log.Warn("nemesis: fault action failed", "f", f, "err", err)
	}
	_, werr := n.cfg.History.Append(op)
	return werr
}

func single(nodes []string) string {
	if len(nodes) == 1 {
		return nodes[0]
	}
	return ""
}

// begin applies ep on order and records its start entry. A nil fault
// means the episode was skipped.
func (n *Nemesis) begin(ctx context.Context, ep Episode, order []string) (*fault, error) {
	sctx, cancel := n.step(ctx)
	defer cancel()
	c := n.cfg.Cluster
	count := min(max(ep.Count, 1), len(order))
	targets := slices.Clone(order[:count])
	base := func() map[string]any {
		m := map[string]any{"kind": ep.Variant, "nodes": targets}
		if ep.Leader {
			m["leader"] = ep.Leader
		}
		return m
	}
	each := func(do func(ctx context.Context, id string) error) error {
		var errs []error
		for _, t := range targets {
			if err := do(sctx, t); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	desc := fmt.Sprintf("%s %s", ep.String(), targets)
	switch ep.Kind {
	case KindPartition:
		cut := ep.Partition(order)
		targets = cut.Targets
		val := base()
		if cut.Groups != nil {
			val["groups"] = cut.Groups
		} else {
			val["blocked"] = cut.Blocked
		}
		if ep.OneWay != "" {
			val["one_way"] = ep.OneWay
		}
		var err error
		if cut.Groups != nil {
			err = c.Partition(sctx, cut.Groups...)
		} else if err = c.Heal(sctx); err == nil {
			for _, b := range cut.Blocked {
				if err = c.Block(sctx, []string{b[0]}, []string{b[1]}); err != nil {
					break
				}
			}
		}
		desc = fmt.Sprintf("%s %s", ep.String(), targets)
		f := &fault{describe: desc, stopF: "stop-partition", stopVal: map[string]any{"kind": ep.Variant, "nodes": targets},
			heal: c.Heal}
		if err := n.record("start-partition", single(targets), val, err); err != nil {
			return f, err
		}
		if ep.FreezeClock && !n.cfg.NoClock {
			inner, err := n.freeze(sctx, ep, targets)
			f.inner = inner
			return f, err
		}
		return f, nil
	case KindKill:
		err := each(c.Kill)
		return &fault{describe: desc, stopF: "start", stopVal: map[string]any{"nodes": targets}, node: single(targets),
			heal: func(ctx context.Context) error {
				var errs []error
				for _, t := range targets {
					errs = append(errs, c.Start(ctx, t))
				}
				return errors.Join(errs...)
			}}, n.record("kill", single(targets), base(), err)
	case KindPause:
		err := each(c.Pause)
		return &fault{describe: desc, stopF: "resume", stopVal: map[string]any{"nodes": targets}, node: single(targets),
			heal: func(ctx context.Context) error {
				var errs []error
				for _, t := range targets {
					errs = append(errs, c.Resume(ctx, t))
				}
				return errors.Join(errs...)
			}}, n.record("pause", single(targets), base(), err)
	case KindClock:
		offset, rate := time.Duration(ep.OffsetMS)*time.Millisecond, 1.0
		if ep.Variant == Rate {
			offset, rate = 0, ep.ClockRate
		}
		err := each(func(ctx context.Context, id string) error { return c.Clock(ctx, id, offset, rate) })
		if errors.Is(err, errors.ErrUnsupported) {
			n.markUnsupported(ep, err)
			return nil, nil
		}
		val := base()
		f := "clock-bump"
		switch ep.Variant {
		case Strobe:
			f = "clock-strobe"
			val["offset_ms"], val["period_ms"] = ep.OffsetMS, ep.PeriodMS
		case Rate:
			val["offset_ms"], val["rate"] = 0, ep.ClockRate
		default:
			val["offset_ms"] = ep.OffsetMS
		}
		flt := &fault{describe: desc, stopF: "clock-reset", stopVal: map[string]any{"nodes": targets}, node: single(targets),
			heal: func(ctx context.Context) error {
				var errs []error
				for _, t := range targets {
					errs = append(errs, c.Clock(ctx, t, 0, 1))
				}
				return errors.Join(errs...)
			}}
		if ep.Variant == Strobe && ep.PeriodMS > 0 {
			flt.during = func(ctx context.Context, stop <-chan struct{}) {
				t := time.NewTicker(time.Duration(ep.PeriodMS) * time.Millisecond)
				defer t.Stop()
				on := true
				for {
					select {
					case <-stop:
						return
					case <-ctx.Done():
						return
					case <-t.C:
					}
					on = !on
					o := time.Duration(0)
					if on {
						o = offset
					}
					sctx, cancel := n.step(ctx)
					for _, id := range targets {
						_ = c.Clock(sctx, id, o, 1)
					}
					cancel()
				}
			}
		}
		return flt, n.record(f, single(targets), val, err)
	case KindNetem:
		delay := time.Duration(ep.DelayMS) * time.Millisecond
		err := each(func(ctx context.Context, id string) error { return c.Netem(ctx, id, delay, ep.Loss) })
		if errors.Is(err, errors.ErrUnsupported) {
			n.markUnsupported(ep, err)
			_ = each(func(ctx context.Context, id string) error { return c.Netem(ctx, id, 0, 0) })
			return nil, nil
		}
		val := base()
		val["delay_ms"], val["loss"] = ep.DelayMS, ep.Loss
		return &fault{describe: desc, stopF: "stop-netem", stopVal: map[string]any{"nodes": targets}, node: single(targets),
			heal: func(ctx context.Context) error {
				var errs []error
				for _, t := range targets {
					errs = append(errs, c.Netem(ctx, t, 0, 0))
				}
				return errors.Join(errs...)
			}}, n.record("start-netem", single(targets), val, err)
	}
	return nil, nil
}

// freeze stops the clocks of targets (a partition's minority) and records
// it; nil when the system can't have it.
func (n *Nemesis) freeze(ctx context.Context, ep Episode, targets []string) (*fault, error) {
	c := n.cfg.Cluster
	var errs []error
	for _, t := range targets {
		errs = append(errs, c.Clock(ctx, t, 0, 0))
	}
	err := errors.Join(errs...)
	if errors.Is(err, errors.ErrUnsupported) {
		n.markUnsupported(Episode{Kind: KindClock}, err)
		return nil, nil
	}
	f := &fault{stopF: "clock-reset", stopVal: map[string]any{"nodes": targets}, node: single(targets),
		heal: func(ctx context.Context) error {
			var errs []error
			for _, t := range targets {
				errs = append(errs, c.Clock(ctx, t, 0, 1))
			}
			return errors.Join(errs...)
		}}
	return f, n.record("clock-bump", single(targets), map[string]any{"kind": "freeze", "nodes": targets, "offset_ms": 0, "rate": 0}, err)
}

func (n *Nemesis) markUnsupported(ep Episode, err error) {
	n.mu.Lock()
	first := !n.unsupported[ep.Kind]
	n.unsupported[ep.Kind] = true
	n.mu.Unlock()
	if first {
		n.cfg.Log.Warn("nemesis: fault kind unsupported here; skipping it for the rest of the run", "kind", ep.Kind, "why", err)
	}
}

// end heals f, retrying (bounded) so that a run never leaves a fault in
// place, and records the stop entry once healed (or given up on).
func (n *Nemesis) end(ctx context.Context, f *fault) error {
	if f.inner != nil {
		if err := n.end(ctx, f.inner); err != nil {
			return err
		}
	}
	var err error
	for attempt := range 3 {
		sctx, cancel := n.step(ctx)
		err = f.heal(sctx)
		cancel()
		if err == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return n.record(f.stopF, f.node, f.stopVal, err)
}

// Unsupported lists the fault kinds found unsupported during the run.
func (n *Nemesis) Unsupported() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for k := range n.unsupported {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// HealAll undoes every kind of fault on every node: heals the network,
// resumes and starts every server, resets clocks and removes netem. It
// records nothing (Run heals and records its own faults); it is the final
// phase's safety net.
func HealAll(ctx context.Context, c Cluster, nodes []string, noClock bool) error {
	var errs []error
	if err := c.Heal(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, id := range nodes {
		if err := c.Resume(ctx, id); err != nil {
			errs = append(errs, err)
		}
		if err := c.Start(ctx, id); err != nil {
			errs = append(errs, err)
		}
		if !noClock {
			if err := c.Clock(ctx, id, 0, 1); err != nil && !errors.Is(err, errors.ErrUnsupported) {
				errs = append(errs, err)
			}
		}
		if err := c.Netem(ctx, id, 0, 0); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
