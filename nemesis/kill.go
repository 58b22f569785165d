package nemesis

import (
	"context"
	"math/rand/v2"

	"github.com/splitbrain/splitbrain/rundir"
)

// kill SIGKILLs its nodes' servers; healing starts them again.
type kill struct{ hit }

func newKill(ep Episode, order []string) []Fault { return []Fault{kill{aim(ep, order)}} }

func (kill) Kind() string { return rundir.KindKill }

func (k kill) Inject(ctx context.Context, c Cluster) (Injected, error) {
	err := each(ctx, k.nodes, c.Kill)
	return Injected{
		Start: k.start(rundir.Kill),
		Stop:  k.stop(rundir.Start),
		Heal:  func(ctx context.Context) error { return each(ctx, k.nodes, c.Start) },
	}, err
}

// drawKill draws a kill: one node, the leader, or a minority (with the
// leader or not).
func drawKill(rng *rand.Rand, ep *Episode, _ bool) {
	ep.Variant = pick(rng, One, Leader, Minority)
	ep.Count = 1
	switch ep.Variant {
	case Leader:
		ep.Leader = true
	case Minority:
		ep.Count = (len(ep.Order) - 1) / 2
		ep.Leader = rng.IntN(2) == 0
	}
}
