package nemesis

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// freezeVariant is the kind a frozen clock is recorded as (value.kind of
// its clock-bump entry); it is never drawn as an episode's variant.
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

func (clock) Kind() string { return KindClock }

func (k clock) Inject(ctx context.Context, c Cluster) (Injected, error) {
	set := func(offset time.Duration, rate float64) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			return each(ctx, k.nodes, func(ctx context.Context, id string) error { return c.Clock(ctx, id, offset, rate) })
		}
	}
	err := set(k.offset, k.rate)(ctx)
	if errors.Is(err, errors.ErrUnsupported) {
		return Injected{}, err
	}
	start := k.start(k.f)
	maps.Copy(start.Value, k.fields)
	heal := set(0, 1)
	if k.period > 0 {
		heal = k.strobe(ctx, set, heal)
	}
	return Injected{Start: start, Stop: k.stop(rundir.ClockReset), Heal: heal}, err
}

// strobe flips the clocks between the offset and true time every period
// until the heal it returns stops flipping and then resets them.
func (k clock) strobe(ctx context.Context, set func(time.Duration, float64) func(context.Context) error,
	reset func(context.Context) error) func(context.Context) error {
	// The flipping outlives Inject's step; only the heal ends it.
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
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
			_ = set(offset, 1)(fctx) // a missed flip is healed with the rest
		}
	}()
	return func(ctx context.Context) error {
		stop()
		<-done
		return reset(ctx)
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
