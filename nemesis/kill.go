package nemesis

import (
	"context"

	"github.com/splitbrain/splitbrain/rundir"
)

// kill SIGKILLs its nodes' servers; healing starts them again.
type kill struct{ hit }

func newKill(ep Episode, order []string) []Fault { return []Fault{kill{aim(ep, order)}} }

func (kill) Kind() string { return KindKill }

func (k kill) Inject(ctx context.Context, c Cluster) (Injected, error) {
	err := each(ctx, k.nodes, c.Kill)
	return Injected{
		Start: k.start(rundir.Kill),
		Stop:  k.stop(rundir.Start),
		Heal:  func(ctx context.Context) error { return each(ctx, k.nodes, c.Start) },
	}, err
}
