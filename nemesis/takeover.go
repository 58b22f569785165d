package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/splitbrain/splitbrain/rundir"
)

// Takeover is what a system that can promote a replica without the vote
// gives the nemesis: Redis Cluster's CLUSTER FAILOVER TAKEOVER, its
// documented way to fail over when the master cannot agree (it takes a new
// config epoch by itself, asking no other master). Without it, takeover
// faults are unsupported.
type Takeover struct {
	// Followers names the nodes that follow leader now (its replicas), as
	// the observer last saw them.
	Followers func(leader string) []string
	// Promote makes node, a follower, lead its group at once.
	Promote func(ctx context.Context, node string) error
}

// takeover cuts the leader (a shard's master) off from every other node,
// then promotes one of its followers on the other side without the vote,
// so that the shard has two masters that both believe they lead it: the
// cut-off one until it hears of the new epoch, the promoted one from now.
// That is what the vote prevents. Healing removes the cut; the old master
// then learns of the higher epoch and follows.
type takeover struct {
	hit
	others []string // the rest of the order: the other side of the cut
}

func newTakeover(ep Episode, order []string) []Fault {
	h := aim(ep, order)
	return []Fault{takeover{hit: h, others: slices.Clone(order[len(h.nodes):])}}
}

func (takeover) Kind() string { return rundir.KindTakeover }

// promoter is a Cluster with a system's Takeover (the executor's
// promoting).
type promoter interface {
	followers(leader string) []string
	promote(ctx context.Context, node string) error
}

// promoting is a Cluster with the system's Takeover.
type promoting struct {
	Cluster
	t *Takeover
}

func (p promoting) followers(leader string) []string               { return p.t.Followers(leader) }
func (p promoting) promote(ctx context.Context, node string) error { return p.t.Promote(ctx, node) }

func (t takeover) Inject(ctx context.Context, c Cluster) (Injected, error) {
	p, ok := c.(promoter)
	if !ok {
		return Injected{}, fmt.Errorf("takeover: %w: the system promotes no follower without the vote", errors.ErrUnsupported)
	}
	master := t.nodes[0]
	start := t.start(rundir.StartTakeover)
	stop := Entry{F: rundir.StopTakeover, Value: map[string]any{"kind": t.variant, "nodes": t.nodes}}
	// The follower to promote: the first of the drawn order that follows
	// the master now, so that a replay picks the same when it can.
	reps := p.followers(master)
	i := slices.IndexFunc(t.others, func(n string) bool { return slices.Contains(reps, n) })
	if i < 0 {
		// Nothing applied; the entries say it failed.
		return Injected{Start: start, Stop: stop, Heal: func(context.Context) error { return nil }},
			fmt.Errorf("takeover: no follower of %s is known", master)
	}
	replica := t.others[i]
	groups := [][]string{{master}, slices.Clone(t.others)}
	start.Value["replica"] = replica
	start.Value["groups"] = groups
	in := Injected{Start: start, Stop: stop, Heal: c.Heal}
	if err := c.Partition(ctx, groups...); err != nil {
		return in, err
	}
	if err := p.promote(ctx, replica); err != nil {
		return in, fmt.Errorf("takeover on %s: %w", replica, err)
	}
	return in, nil
}

// drawTakeover draws a takeover: always of the leader's shard, since it is
// the shard's master that is cut off and replaced.
func drawTakeover(_ *rand.Rand, ep *Episode, _ bool) {
	ep.Variant, ep.Leader, ep.Count = Leader, true, 1
}
