package nemesis

import (
	"context"
	"math/rand/v2"

	"github.com/splitbrain/splitbrain/rundir"
)

// pause SIGSTOPs its nodes' servers; healing resumes them, and a deposed
// leader wakes up believing it still leads.
type pause struct{ hit }

func newPause(ep Episode, order []string) []Fault { return []Fault{pause{aim(ep, order)}} }

func (pause) Kind() string { return rundir.KindPause }

func (p pause) Inject(ctx context.Context, c Cluster) (Injected, error) {
	err := each(ctx, p.nodes, c.Pause)
	return Injected{
		Start: p.start(rundir.Pause),
		Stop:  p.stop(rundir.Resume),
		Heal:  func(ctx context.Context) error { return each(ctx, p.nodes, c.Resume) },
	}, err
}

// drawPause draws a pause, of the leader two times in three.
func drawPause(rng *rand.Rand, ep *Episode, _ bool) {
	ep.Variant = pick(rng, One, Leader, Leader)
	ep.Leader = ep.Variant == Leader
	ep.Count = 1
}
