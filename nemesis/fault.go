package nemesis

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"

	"github.com/splitbrain/splitbrain/rundir"
)

// A Fault is one fault worked out for the nodes it hits. It injects itself
// into the ensemble and says how to heal; the executor (Run) decides when,
// bounds each step, records the entries and retries a failed heal, so that
// a kind knows nothing of schedules, history or time.
type Fault interface {
	// Kind is the fault's kind (rundir.KindPartition, ...): what a system or a
	// machine may not support.
	Kind() string
	// Nodes are the nodes the fault hits.
	Nodes() []string
	// Inject applies the fault. What it returns is in effect, to record
	// and to heal, even when err is set, since part of the fault may have
	// been applied; an err matching errors.ErrUnsupported means that
	// nothing is.
	Inject(ctx context.Context, c Cluster) (Injected, error)
}

// Injected is a fault in effect: the history entries of its start and its
// stop, and how to heal it.
type Injected struct {
	Start, Stop Entry
	// Heal undoes the fault. It is called again when it fails, so it must
	// bear being called twice.
	Heal func(ctx context.Context) error
	// claims are what the fault holds while in effect (claimsOf).
	claims []string
}

// Entry is a nemesis entry of the history (docs/run-format.md): f, the
// node when the fault hits one, and what the fault did.
type Entry struct {
	F     rundir.Fault
	Node  string
	Value map[string]any
}

// kind is what the package knows of a fault kind: how often Generate
// draws it, how it draws an episode's parameters, and how an episode
// becomes faults for its node order (from Episode.Resolve), in the order
// they are applied (they are healed in reverse).
type kind struct {
	weight int
	draw   func(rng *rand.Rand, ep *Episode, clock bool)
	build  func(ep Episode, order []string) []Fault
}

// registry holds every kind of rundir.Kinds and rundir.SystemKinds. The weights favour the faults that
// find the most: partitions (split votes, lost writes) and pauses (a
// deposed leader waking up and answering before it notices), then crashes.
var registry = map[string]kind{
	rundir.KindPartition: {weight: 3, draw: drawPartition, build: newPartition},
	rundir.KindKill:      {weight: 2, draw: drawKill, build: newKill},
	rundir.KindPause:     {weight: 3, draw: drawPause, build: newPause},
	rundir.KindClock:     {weight: 1, draw: drawClock, build: newClock},
	rundir.KindNetem:     {weight: 1, draw: drawNetem, build: newNetem},
	rundir.KindTakeover:  {weight: 1, draw: drawTakeover, build: newTakeover},
}

// faults works out ep's faults for order; none for an unknown kind
// (ReadFile refuses those).
func faults(ep Episode, order []string) []Fault {
	k, ok := registry[ep.Kind]
	if !ok {
		return nil
	}
	return k.build(ep, order)
}

// hit is what every fault carries: the variant it was drawn as, the nodes
// it hits and whether it aimed at the leader. It makes the part of the
// entries that every kind shares.
type hit struct {
	variant string
	nodes   []string
	leader  bool
}

// aim takes the episode's targets from order: its first Count nodes (at
// least one).
func aim(ep Episode, order []string) hit {
	count := min(max(ep.Count, 1), len(order))
	return hit{variant: ep.Variant, nodes: slices.Clone(order[:count]), leader: ep.Leader}
}

// Nodes are the nodes the fault hits.
func (h hit) Nodes() []string { return h.nodes }

// start is the fault's start entry with the fields every kind has; the
// kind adds its own to Value.
func (h hit) start(f rundir.Fault) Entry {
	v := map[string]any{"kind": h.variant, "nodes": h.nodes}
	if h.leader {
		v["leader"] = true
	}
	return Entry{F: f, Node: h.node(), Value: v}
}

// stop is the fault's stop entry: the nodes it healed.
func (h hit) stop(f rundir.Fault) Entry {
	return Entry{F: f, Node: h.node(), Value: map[string]any{"nodes": h.nodes}}
}

// node is an entry's node: the target when there is one, "" when there
// are several (value.nodes lists them).
func (h hit) node() string {
	if len(h.nodes) == 1 {
		return h.nodes[0]
	}
	return ""
}

// each does do to every node, to all of them even when some fail: the way
// a fault is applied to its nodes and healed on them.
func each(ctx context.Context, nodes []string, do func(ctx context.Context, id string) error) error {
	var errs []error
	for _, id := range nodes {
		errs = append(errs, do(ctx, id))
	}
	return errors.Join(errs...)
}
