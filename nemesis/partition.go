package nemesis

import (
	"context"

	"github.com/splitbrain/splitbrain/rundir"
)

// partition cuts the network as its Cut says; healing removes every cut
// and block.
type partition struct {
	hit
	cut    Cut
	oneWay string
}

// newPartition cuts as ep says; with FreezeClock, the clocks of the cut-off
// nodes stop too, applied after the cut and healed before it.
func newPartition(ep Episode, order []string) []Fault {
	cut := ep.Partition(order)
	p := partition{hit: hit{variant: ep.Variant, nodes: cut.Targets, leader: ep.Leader}, cut: cut, oneWay: ep.OneWay}
	if ep.FreezeClock {
		return []Fault{p, freeze(cut.Targets)}
	}
	return []Fault{p}
}

func (partition) Kind() string { return KindPartition }

func (p partition) Inject(ctx context.Context, c Cluster) (Injected, error) {
	start := p.start(rundir.StartPartition)
	if p.cut.Groups != nil {
		start.Value["groups"] = p.cut.Groups
	} else {
		start.Value["blocked"] = p.cut.Blocked
	}
	if p.oneWay != "" {
		start.Value["one_way"] = p.oneWay
	}
	// The stop entry names the variant too, and no node: the liveness
	// checker reads the targets of a partition from value.nodes.
	stop := Entry{F: rundir.StopPartition, Value: map[string]any{"kind": p.variant, "nodes": p.nodes}}
	return Injected{Start: start, Stop: stop, Heal: c.Heal}, p.apply(ctx, c)
}

// apply puts the cut in place: groups replace any earlier cut; blocks add
// to the rules in place, so the network is healed first.
func (p partition) apply(ctx context.Context, c Cluster) error {
	if p.cut.Groups != nil {
		return c.Partition(ctx, p.cut.Groups...)
	}
	if err := c.Heal(ctx); err != nil {
		return err
	}
	for _, b := range p.cut.Blocked {
		if err := c.Block(ctx, []string{b[0]}, []string{b[1]}); err != nil {
			return err
		}
	}
	return nil
}
