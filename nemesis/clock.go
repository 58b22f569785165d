package nemesis

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// freezeVariant is the value.kind of a frozen clock's clock-bump entry;
// it is never drawn as an episode's variant.
const freezeVariant = "freeze"

// clock skews its nodes' clocks: a jump (bump), a rate (rate; rate 0
// freezes them), or a flip between an offset and true time every period
// (strobe). Healing resets them to true time.
type clock struct {
	hit
	offset time.Duration
	rate   float64
	period time.Duration // strobe: how often the clock flips
	f      rundir.Fault
	fields map[string]any // the start entry's own fields; read only
}

func newClock(ep Episode, order []string) []Fault {
	k := clock{hit: aim(ep, order), offset: time.Duration(ep.OffsetMS) * time.Millisecond, rate: 1, f: rundir.ClockBump}
	switch ep.Variant {
	case Rate:
		k.offset, k.rate = 0, ep.ClockRate
		k.fields = map[string]any{"offset_ms": 0, "rate": ep.ClockRate}
	case Strobe:
		k.f = rundir.ClockStrobe
		k.period = time.Duration(ep.PeriodMS) * time.Millisecond
		k.fields = map[string]any{"offset_ms": ep.OffsetMS, "period_ms": ep.PeriodMS}
	default: // Bump
		k.fields = map[string]any{"offset_ms": ep.OffsetMS}
	}
	return []Fault{k}
}

// freeze stops the clocks of nodes (rate 0), with a partition that cuts
// them off: they cannot time out and notice they lost their quorum.
func freeze(nodes []string) Fault {
	return clock{hit: hit{variant: freezeVariant, nodes: nodes}, rate: 0, f: rundir.ClockBump,
		fields: map[string]any{"offset_ms": 0, "rate": 0}}
}

func (clock) Kind() string { return rundir.KindClock }

func (k clock) Inject(ctx context.Context, c Cluster) (Injected, error) {
	err := k.set(ctx, c, k.offset, k.rate)
	if errors.Is(err, errors.ErrUnsupported) {
		return Injected{}, err
	}
	start := k.start(k.f)
	maps.Copy(start.Value, k.fields)
	heal := func(ctx context.Context) error { return k.set(ctx, c, 0, 1) }
	if k.period > 0 {
		stop := k.strobe(ctx, c)
		heal = func(ctx context.Context) error {
			stop()
			return k.set(ctx, c, 0, 1)
		}
	}
	return Injected{Start: start, Stop: k.stop(rundir.ClockReset), Heal: heal}, err
}

// set sets the clocks of k's nodes.
func (k clock) set(ctx context.Context, c Cluster, offset time.Duration, rate float64) error {
	return each(ctx, k.nodes, func(ctx context.Context, id string) error { return c.Clock(ctx, id, offset, rate) })
}

// strobe flips the clocks between the offset and true time every period,
// from now until the stop it returns is called (which waits for the
// flipping to end, and may be called again).
func (k clock) strobe(ctx context.Context, c Cluster) (stop func()) {
	// The flipping outlives Inject's step; only stop ends it.
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(k.period)
		defer t.Stop()
		for on := true; ; {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
			}
			on = !on
			offset := time.Duration(0)
			if on {
				offset = k.offset
			}
			_ = k.set(fctx, c, offset, 1) // a missed flip is healed with the rest
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// drawClock draws a clock fault on one node (the leader half the time):
// a bump of 0.2 to 5 s either way, a rate, or a strobe of 0.1 to 2 s
// every 50 to 500 ms.
func drawClock(rng *rand.Rand, ep *Episode, _ bool) {
	ep.Variant = pick(rng, Bump, Rate, Strobe)
	ep.Leader = rng.IntN(2) == 0
	ep.Count = 1
	sign := int64(1)
	if rng.IntN(2) == 0 {
		sign = -1
	}
	switch ep.Variant {
	case Bump:
		ep.OffsetMS = sign * (200 + rng.Int64N(4801))
	case Rate:
		ep.ClockRate = []float64{0.25, 0.5, 0.8, 1.25, 2, 4}[rng.IntN(6)]
	case Strobe:
		ep.OffsetMS = sign * (100 + rng.Int64N(1901))
		ep.PeriodMS = 50 + rng.Int64N(451)
	}
}
