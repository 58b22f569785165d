package nemesis

import (
	"context"

	"github.com/splitbrain/splitbrain/rundir"
)

// pause SIGSTOPs its nodes' servers; healing resumes them, and a deposed
// leader wakes up believing it still leads.
type pause struct{ hit }

func newPause(ep Episode, order []string) []Fault { return []Fault{pause{aim(ep, order)}} }

func (pause) Kind() string { return KindPause }

func (p pause) Inject(ctx context.Context, c Cluster) (Injected, error) {
	err := each(ctx, p.nodes, c.Pause)
	return Injected{
		Start: p.start(rundir.Pause),
		Stop:  p.stop(rundir.Resume),
		Heal:  func(ctx context.Context) error { return each(ctx, p.nodes, c.Resume) },
	}, err
}
