package nemesis

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// Generate draws the schedule of a run from seed: from one interval after
// the start, faults of the given kinds, each lasting about interval (half to
// one and a half), followed by about interval of calm, all healed before
// the time limit. It is a pure function of its arguments.
func Generate(seed int64, nodes []string, kinds []string, interval, limit time.Duration) Schedule {
	s := Schedule{Seed: seed, Nodes: slices.Clone(nodes), Kinds: slices.Clone(kinds),
		Interval: Duration(interval), TimeLimit: Duration(limit), Episodes: []Episode{}}
	// Kinds the package does not know are not drawn (ParseKinds refuses
	// them; a caller that did not ask it gets no panic).
	kinds = slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { _, ok := registry[k]; return !ok })
	if len(kinds) == 0 || len(nodes) == 0 || interval <= 0 {
		return s
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	jitter := func() time.Duration {
		return interval/2 + time.Duration(rng.Int64N(int64(interval)+1))
	}
	// Every fault is healed this long before the time limit, so that the
	// system can settle while clients still run.
	margin := min(interval, limit/4)
	at := interval
	for {
		d := jitter()
		if at+d > limit-margin {
			break
		}
		ep := draw(rng, nodes, pickKind(rng, kinds), slices.Contains(kinds, rundir.KindClock))
		ep.At, ep.Duration = Duration(at), Duration(d)
		s.Episodes = append(s.Episodes, ep)
		at += d + jitter()
	}
	return s
}

// pickKind draws one of kinds, by their weights.
func pickKind(rng *rand.Rand, kinds []string) string {
	total := 0
	for _, k := range kinds {
		total += registry[k].weight
	}
	x := rng.IntN(total)
	for _, k := range kinds {
		if x < registry[k].weight {
			return k
		}
		x -= registry[k].weight
	}
	return kinds[len(kinds)-1]
}

// draw draws an episode of kind: a shuffled order of the nodes, then what
// the kind draws (its variant, targets and parameters).
func draw(rng *rand.Rand, nodes []string, kind string, clock bool) Episode {
	order := slices.Clone(nodes)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	ep := Episode{Kind: kind, Order: order}
	registry[kind].draw(rng, &ep, clock)
	return ep
}

// pick draws one of vs.
func pick(rng *rand.Rand, vs ...string) string { return vs[rng.IntN(len(vs))] }
