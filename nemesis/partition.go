package nemesis

import (
	"context"
	"math/rand/v2"
	"slices"

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

func (partition) Kind() string { return rundir.KindPartition }

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

// drawPartition draws a partition. The leader cut off in a minority finds
// the most; it gets the larger share. Its clock is frozen too only when
// clock faults are on.
func drawPartition(rng *rand.Rand, ep *Episode, clock bool) {
	variants := []string{IsolateNode, IsolateLeader, IsolateLeader, Halves, Halves, Bridge}
	if len(ep.Order) >= 5 {
		variants = append(variants, MajoritiesRing)
	}
	ep.Variant = pick(rng, variants...)
	switch ep.Variant {
	case IsolateLeader:
		ep.Leader = true
	case Halves:
		ep.Leader = rng.IntN(3) > 0
	case Bridge:
		ep.Leader = rng.IntN(2) == 0
	}
	if ep.Variant == IsolateNode || ep.Variant == IsolateLeader || ep.Variant == Halves {
		if rng.IntN(4) == 0 {
			ep.OneWay = pick(rng, "in", "out")
		}
	}
	if clock && ep.Leader && ep.OneWay == "" && (ep.Variant == IsolateLeader || ep.Variant == Halves) {
		ep.FreezeClock = rng.IntN(4) > 0
	}
}

// Cut is a partition worked out for an order: Groups when it cuts the
// nodes into groups both ways, otherwise Blocked pairs [from, to].
type Cut struct {
	Groups  [][]string  `json:"groups,omitempty"`
	Blocked [][2]string `json:"blocked,omitempty"`
	Targets []string    `json:"nodes"` // the minority, isolated or bridging nodes
}

// Partition works out a partition episode's cut for order (from Resolve).
func (e Episode) Partition(order []string) Cut {
	n := len(order)
	switch e.Variant {
	case Halves:
		return oneWay(e.OneWay, order[:n/2], order[n/2:])
	case MajoritiesRing:
		// Ring by order; each node keeps the links to its neighbours
		// within distance d, enough for a majority but not everyone.
		d := (n/2 + 1) / 2
		var c Cut
		for i := range n {
			for j := range n {
				dist := min((i-j+n)%n, (j-i+n)%n)
				if i != j && dist > d {
					c.Blocked = append(c.Blocked, [2]string{order[i], order[j]})
				}
			}
		}
		c.Targets = slices.Clone(order)
		return c
	case Bridge:
		// The bridge is order[0] (the leader when Leader); the rest split.
		rest := order[1:]
		a, b := rest[:len(rest)/2], rest[len(rest)/2:]
		var c Cut
		for _, x := range a {
			for _, y := range b {
				c.Blocked = append(c.Blocked, [2]string{x, y}, [2]string{y, x})
			}
		}
		c.Targets = []string{order[0]}
		return c
	default: // IsolateNode, IsolateLeader
		return oneWay(e.OneWay, order[:1], order[1:])
	}
}

func oneWay(dir string, minority, rest []string) Cut {
	c := Cut{Targets: slices.Clone(minority)}
	switch dir {
	case "in", "out":
		for _, m := range minority {
			for _, r := range rest {
				if dir == "in" {
					c.Blocked = append(c.Blocked, [2]string{r, m})
				} else {
					c.Blocked = append(c.Blocked, [2]string{m, r})
				}
			}
		}
	default:
		c.Groups = [][]string{slices.Clone(minority), slices.Clone(rest)}
	}
	return c
}
