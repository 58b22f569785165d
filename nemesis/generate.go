package nemesis

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// Generate draws the schedule of a run from seed: from one interval after
// the start, faults of the given kinds, each lasting about interval (half to
// one and a half), followed by about interval of calm, all healed before
// the time limit. It is a pure function of its arguments.
func Generate(seed int64, nodes []string, kinds []string, interval, limit time.Duration) Schedule {
	return GenerateMix(seed, nodes, Mix{Kinds: kinds}, interval, limit)
}

// Mix says what a generated schedule may hold.
type Mix struct {
	// Kinds are the fault kinds (--nemesis) of the plain draw, and the
	// kinds a pattern may use: a pattern is drawn only when Kinds holds
	// every kind it needs.
	Kinds []string
	// Patterns weighs each pattern (by name, Patterns) and the plain draw
	// (PlainDraw); nil or empty: the plain draw alone, as Generate. With
	// patterns and no PlainDraw weight, every episode is a pattern.
	Patterns map[string]float64
	// Compose allows overlapping faults: a second fault drawn while a
	// plain one is in force (a pause during a partition, the cut-off
	// minority's clocks running slow, a kill while another node is cut
	// off), as Jepsen's combined nemeses do.
	Compose bool
	// DriftBound, when above 1, is the clock drift the system claims to
	// tolerate, as a ratio of clock rates (a lease's drift bound, Raft
	// thesis §6.4.1: 1.5 for electd's raft leases). No clock is then drawn
	// outside it: rates stay within [1/DriftBound, DriftBound], nothing is
	// frozen, and a jump (bump, strobe) becomes a drift its way, halfway
	// to the bound, so that a system correct within its assumption is
	// never failed for a fault outside it. It draws nothing more: the rest
	// of the schedule is the same with the bound or without.
	DriftBound float64
}

// PlainDraw is the key of Mix.Patterns that weighs plain faults (Generate's
// draw of Kinds) among the patterns. It is not a pattern.
const PlainDraw = "plain"

// GenerateMix draws a schedule from seed as Generate does, with the
// patterns and composition mix allows. It is a pure function of its
// arguments, and with no pattern and no Compose it draws exactly what
// Generate draws. Pattern episodes last longer than plain ones (one and a
// half to two and a half intervals): they wait for their trigger and
// take several steps.
func GenerateMix(seed int64, nodes []string, mix Mix, interval, limit time.Duration) Schedule {
	s := Schedule{Seed: seed, Nodes: slices.Clone(nodes), Kinds: slices.Clone(mix.Kinds),
		Interval: Duration(interval), TimeLimit: Duration(limit), Episodes: []Episode{}, Compose: mix.Compose}
	if mix.DriftBound > 1 {
		s.DriftBound = mix.DriftBound
	}
	// Kinds the package does not know are not drawn (ParseKinds refuses
	// them; a caller that did not ask it gets no panic).
	kinds := slices.DeleteFunc(slices.Clone(mix.Kinds), func(k string) bool { _, ok := registry[k]; return !ok })
	if len(kinds) == 0 || len(nodes) == 0 || interval <= 0 {
		return s
	}
	choices, total := weighed(mix.Patterns, kinds)
	if len(choices) > 0 {
		s.Patterns = map[string]float64{}
		for _, c := range choices {
			s.Patterns[c.name] = c.weight
		}
	}
	clock := slices.Contains(kinds, rundir.KindClock)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	jitter := func() time.Duration {
		return interval/2 + time.Duration(rng.Int64N(int64(interval)+1))
	}
	// Every fault is healed this long before the time limit, so that the
	// system can settle while clients still run.
	margin := min(interval, limit/4)
	at := interval
	for {
		name := PlainDraw
		if len(choices) > 0 {
			name = pickWeighed(rng, choices, total)
		}
		d := jitter()
		if name != PlainDraw {
			d += interval
		}
		if at+d > limit-margin {
			break
		}
		var ep Episode
		if name == PlainDraw {
			ep = draw(rng, nodes, pickKind(rng, kinds), clock)
		} else {
			ep = drawPattern(rng, nodes, name, kinds)
		}
		ep.At, ep.Duration = Duration(at), Duration(d)
		s.Episodes = append(s.Episodes, boundClock(ep, mix.DriftBound))
		if mix.Compose {
			if second, ok := drawSecond(rng, ep, kinds, clock); ok {
				s.Episodes = append(s.Episodes, boundClock(second, mix.DriftBound))
			}
		}
		at += d + jitter()
	}
	return s
}

// choice is a weighed pattern name (or PlainDraw).
type choice struct {
	name   string
	weight float64
}

// weighed lists the choices of weights that can be drawn with kinds, by
// name (a map's order is random; the draw must not be), and their total.
// Unknown names, weights that are not positive numbers and patterns that
// need a kind not in kinds are left out.
func weighed(weights map[string]float64, kinds []string) ([]choice, float64) {
	var out []choice
	total := 0.0
	for name, w := range weights {
		if !(w > 0) || math.IsInf(w, 0) {
			continue
		}
		if name != PlainDraw {
			if p, ok := patterns[name]; !ok || !p.drawable(kinds) {
				continue
			}
		}
		out = append(out, choice{name, w})
		total += w
	}
	slices.SortFunc(out, func(a, b choice) int { return strings.Compare(a.name, b.name) })
	if len(out) == 1 && out[0].name == PlainDraw {
		return nil, 0 // the plain draw alone: Generate's, rng for rng
	}
	return out, total
}

// pickWeighed draws one of choices by weight.
func pickWeighed(rng *rand.Rand, choices []choice, total float64) string {
	x := rng.Float64() * total
	for _, c := range choices {
		if x < c.weight {
			return c.name
		}
		x -= c.weight
	}
	return choices[len(choices)-1].name
}

// drawSecond draws, half the time, a fault that overlaps first (a plain
// fault or a pattern): it starts in first's first half and ends before
// first does, so that it heals first (faults heal in reverse). A partition,
// or a pattern that may cut, gets a fault aimed at the nodes cut off (when
// it starts) or at the others; any other fault gets a partition (one
// partition at a time: Cluster.Heal removes every cut) or a fault of
// another kind.
func drawSecond(rng *rand.Rand, first Episode, kinds []string, clock bool) (Episode, bool) {
	if rng.IntN(2) == 0 {
		return Episode{}, false
	}
	// Not a second of first's kind, nor of any kind a pattern may use
	// (its steps would find them held).
	used := []string{first.Kind}
	if p, ok := patterns[first.Pattern]; ok {
		used = append(append(used, p.needs...), p.alt...)
	}
	if slices.ContainsFunc(used, cuts) {
		// One cut at a time: a takeover cuts too.
		used = append(used, rundir.KindPartition, rundir.KindTakeover)
	}
	others := slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return slices.Contains(used, k) })
	if len(others) == 0 {
		return Episode{}, false
	}
	ep := draw(rng, first.Order, pickKind(rng, others), clock)
	if slices.Contains(used, rundir.KindPartition) {
		aimAtCut(rng, &ep)
	}
	d := time.Duration(first.Duration)
	ep.At = first.At + Duration(rng.Int64N(int64(d/2)+1))
	room := first.End() - time.Duration(ep.At) - d/8
	ep.Duration = Duration(room/2 + time.Duration(rng.Int64N(int64(room/2)+1)))
	return ep, true
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

// aimAtCut aims ep, drawn to overlap a partition, at the nodes it cuts off
// or at the others: the cut-off minority's clocks run slow or jump (a
// leader that cannot tell it lost its lease), one of them pauses or
// crashes, or one of the majority does (the quorum left is one node
// short).
func aimAtCut(rng *rand.Rand, ep *Episode) {
	ep.Leader = false
	ep.Targets = pick(rng, CutOff, Others)
	switch ep.Kind {
	case rundir.KindClock:
		ep.Targets = CutOff
		ep.Count = len(ep.Order)
	case rundir.KindNetem:
		ep.Targets, ep.Variant = Others, All
		ep.Count = len(ep.Order)
	default: // kill, pause
		ep.Variant, ep.Count = One, 1
	}
}

// boundClock keeps ep's clocks within bound (Mix.DriftBound; 1 or less:
// no bound): a rate outside it becomes halfway between true time and the
// bound its way, a jump becomes such a drift (back: slow; forward: fast),
// and no clock is frozen.
func boundClock(ep Episode, bound float64) Episode {
	if !(bound > 1) {
		return ep
	}
	slow, fast := (1+1/bound)/2, (1+bound)/2
	ep.FreezeClock = false
	isClock := ep.Kind == rundir.KindClock && ep.Pattern == ""
	switch {
	case isClock && (ep.Variant == Bump || ep.Variant == Strobe):
		ep.Variant, ep.ClockRate = Rate, fast
		if ep.OffsetMS < 0 {
			ep.ClockRate = slow
		}
		ep.OffsetMS, ep.PeriodMS = 0, 0
	case (isClock && ep.Variant == Rate) || ep.Pattern == SlowClockCutOff:
		if ep.ClockRate < 1/bound {
			ep.ClockRate = slow
		} else if ep.ClockRate > bound {
			ep.ClockRate = fast
		}
	}
	return ep
}
