package nemesis

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// netem delays or drops the packets its nodes send; healing removes it.
type netem struct {
	hit
	delayMS int64
	loss    float64
}

func newNetem(ep Episode, order []string) []Fault {
	return []Fault{netem{hit: aim(ep, order), delayMS: ep.DelayMS, loss: ep.Loss}}
}

func (netem) Kind() string { return rundir.KindNetem }

func (n netem) Inject(ctx context.Context, c Cluster) (Injected, error) {
	delay := time.Duration(n.delayMS) * time.Millisecond
	err := each(ctx, n.nodes, func(ctx context.Context, id string) error { return c.Netem(ctx, id, delay, n.loss) })
	off := func(ctx context.Context) error {
		return each(ctx, n.nodes, func(ctx context.Context, id string) error { return c.Netem(ctx, id, 0, 0) })
	}
	if errors.Is(err, errors.ErrUnsupported) {
		// Some nodes may have it (a kernel module missing in one
		// container): take it off those, since nothing will heal it.
		_ = off(ctx)
		return Injected{}, err
	}
	start := n.start(rundir.StartNetem)
	start.Value["delay_ms"], start.Value["loss"] = n.delayMS, n.loss
	return Injected{Start: start, Stop: n.stop(rundir.StopNetem), Heal: off}, err
}

// drawNetem draws netem on one node, the leader or all of them: a delay
// of 20 to 300 ms, or a loss of 5 to 50 %.
func drawNetem(rng *rand.Rand, ep *Episode, _ bool) {
	ep.Variant = pick(rng, One, Leader, All)
	ep.Leader = ep.Variant == Leader
	ep.Count = 1
	if ep.Variant == All {
		ep.Count = len(ep.Order)
	}
	if rng.IntN(2) == 0 {
		ep.DelayMS = 20 + rng.Int64N(281)
	} else {
		ep.Loss = float64(5+rng.IntN(46)) / 100
	}
}
