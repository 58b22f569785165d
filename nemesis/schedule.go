// Package nemesis injects faults into an ensemble on a schedule drawn up
// front from the run's seed: partitions (one-way too), kills, pauses, clock
// skews and netem. One fault at a time, each healed before the next, each
// recorded as a start and a stop entry in the history (docs/run-format.md).
//
// Each kind is a Fault (partition.go, kill.go, pause.go, clock.go,
// netem.go) that injects itself and says how to heal; the executor
// (executor.go) walks the schedule, aims at the leader, bounds and records
// every step and retries heals.
//
// The schedule names targets by role where the fault is about a role ("the
// leader at that moment") and by node otherwise, so a replay of a stored
// schedule hits the same roles at the same offsets.
package nemesis

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// Fault kinds (the --nemesis values).
const (
	KindPartition = "partition"
	KindKill      = "kill"
	KindPause     = "pause"
	KindClock     = "clock"
	KindNetem     = "netem"
)

// AllKinds lists every fault kind, the meaning of --nemesis all.
var AllKinds = []string{KindPartition, KindKill, KindPause, KindClock, KindNetem}

// Variants of each kind.
const (
	IsolateNode    = "isolate-node"    // partition: one node alone
	IsolateLeader  = "isolate-leader"  // partition: the leader alone
	Halves         = "halves"          // partition: random halves (the leader in the smaller one when Leader)
	MajoritiesRing = "majorities-ring" // partition: every node sees a majority, no two the same one
	Bridge         = "bridge"          // partition: two halves and one node that sees both

	One      = "one"      // kill, pause, netem: one node
	Leader   = "leader"   // kill, pause, clock, netem: the leader
	Minority = "minority" // kill: a minority (with the leader when Leader)
	All      = "all"      // netem: every node

	Bump   = "bump"   // clock: jump forward or back
	Rate   = "rate"   // clock: run fast or slow
	Strobe = "strobe" // clock: flip between an offset and true time
)

// ParseKinds parses a --nemesis value: a comma-separated list of kinds, or
// "all", or "none" (or empty).
func ParseKinds(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return slices.Clone(AllKinds), nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(AllKinds, k) {
			return nil, fmt.Errorf("unknown fault kind %q: want a comma-separated list of %s, or all, or none", k, strings.Join(AllKinds, ", "))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Duration is a time.Duration written in JSON as a string like "5s"; it
// is the run directory's (run.json and schedule.json write it alike).
type Duration = rundir.Duration

// Episode is one fault: applied At after the run started, healed Duration
// later.
type Episode struct {
	At       Duration `json:"at"`
	Duration Duration `json:"duration"`
	Kind     string   `json:"kind"`
	Variant  string   `json:"variant"`
	// Leader: the targets begin with the node leading when the fault
	// starts, followed by Order without it.
	Leader bool `json:"leader,omitempty"`
	// Order is every node in a drawn order; targets and groups are taken
	// from it (after the leader when Leader).
	Order []string `json:"order"`
	// Count is how many nodes the fault targets (kill, pause, clock, netem).
	Count int `json:"count,omitempty"`
	// OneWay, for partitions that cut a minority off: "in" drops only what
	// the minority receives, "out" only what it sends; "" both ways.
	OneWay string `json:"one_way,omitempty"`
	// FreezeClock, for a partition that cuts the leader off: its clock
	// stops too (rate 0) until the partition heals, so that it cannot time
	// out and notice it lost its quorum; a system that relies on that for
	// safe reads serves stale ones. Drawn only when clock faults are on.
	FreezeClock bool    `json:"freeze_clock,omitempty"`
	OffsetMS    int64   `json:"offset_ms,omitempty"` // clock bump and strobe
	ClockRate   float64 `json:"rate,omitempty"`      // clock rate
	PeriodMS    int64   `json:"period_ms,omitempty"` // clock strobe
	DelayMS     int64   `json:"delay_ms,omitempty"`  // netem
	Loss        float64 `json:"loss,omitempty"`      // netem
}

// End is when the episode's fault is healed.
func (e Episode) End() time.Duration { return time.Duration(e.At + e.Duration) }

func (e Episode) String() string {
	s := e.Kind + " " + e.Variant
	if e.OneWay != "" {
		s += " one-way-" + e.OneWay
	}
	if e.FreezeClock {
		s += " frozen-clock"
	}
	return s
}

// Schedule is the fault schedule of a run, stored as schedule.json. Episode
// offsets count from the moment the clients start (once the ensemble has a
// leader), not from the history's time zero.
type Schedule struct {
	Seed      int64     `json:"seed"`
	Nodes     []string  `json:"nodes"`
	Kinds     []string  `json:"kinds"`
	Interval  Duration  `json:"interval"`
	TimeLimit Duration  `json:"time_limit"`
	Episodes  []Episode `json:"episodes"`
}

// Generate draws the schedule of a run from seed: from one interval after
// the start, faults of the given kinds, each lasting about interval (half to
// one and a half), followed by about interval of calm, all healed before
// the time limit. It is a pure function of its arguments.
func Generate(seed int64, nodes []string, kinds []string, interval, limit time.Duration) Schedule {
	s := Schedule{Seed: seed, Nodes: slices.Clone(nodes), Kinds: slices.Clone(kinds),
		Interval: Duration(interval), TimeLimit: Duration(limit), Episodes: []Episode{}}
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
		ep := draw(rng, nodes, pickKind(rng, kinds), slices.Contains(kinds, KindClock))
		ep.At, ep.Duration = Duration(at), Duration(d)
		s.Episodes = append(s.Episodes, ep)
		at += d + jitter()
	}
	return s
}

// kindWeight favours the faults that find the most: partitions (split
// votes, lost writes) and pauses (a deposed leader waking up and answering
// before it notices), then crashes.
var kindWeight = map[string]int{KindPartition: 3, KindKill: 2, KindPause: 3, KindClock: 1, KindNetem: 1}

func pickKind(rng *rand.Rand, kinds []string) string {
	total := 0
	for _, k := range kinds {
		total += kindWeight[k]
	}
	x := rng.IntN(total)
	for _, k := range kinds {
		if x < kindWeight[k] {
			return k
		}
		x -= kindWeight[k]
	}
	return kinds[len(kinds)-1]
}

func draw(rng *rand.Rand, nodes []string, kind string, clock bool) Episode {
	n := len(nodes)
	order := slices.Clone(nodes)
	rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	ep := Episode{Kind: kind, Order: order}
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	switch kind {
	case KindPartition:
		// The leader cut off in a minority finds the most; it gets the
		// larger share.
		variants := []string{IsolateNode, IsolateLeader, IsolateLeader, Halves, Halves, Bridge}
		if n >= 5 {
			variants = append(variants, MajoritiesRing)
		}
		ep.Variant = pick(variants...)
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
				ep.OneWay = pick("in", "out")
			}
		}
		if clock && ep.Leader && ep.OneWay == "" && (ep.Variant == IsolateLeader || ep.Variant == Halves) {
			ep.FreezeClock = rng.IntN(4) > 0
		}
	case KindKill:
		ep.Variant = pick(One, Leader, Minority)
		ep.Count = 1
		switch ep.Variant {
		case Leader:
			ep.Leader = true
		case Minority:
			ep.Count = (n - 1) / 2
			ep.Leader = rng.IntN(2) == 0
		}
	case KindPause:
		ep.Variant = pick(One, Leader, Leader)
		ep.Leader = ep.Variant == Leader
		ep.Count = 1
	case KindClock:
		ep.Variant = pick(Bump, Rate, Strobe)
		ep.Leader = rng.IntN(2) == 0
		ep.Count = 1
		sign := int64(1)
		if rng.IntN(2) == 0 {
			sign = -1
		}
		switch ep.Variant {
		case Bump:
			ep.OffsetMS = sign * (200 + rng.Int64N(4801))
		case Rate:
			ep.ClockRate = []float64{0.25, 0.5, 0.8, 1.25, 2, 4}[rng.IntN(6)]
		case Strobe:
			ep.OffsetMS = sign * (100 + rng.Int64N(1901))
			ep.PeriodMS = 50 + rng.Int64N(451)
		}
	case KindNetem:
		ep.Variant = pick(One, Leader, All)
		ep.Leader = ep.Variant == Leader
		ep.Count = 1
		if ep.Variant == All {
			ep.Count = n
		}
		if rng.IntN(2) == 0 {
			ep.DelayMS = 20 + rng.Int64N(281)
		} else {
			ep.Loss = float64(5+rng.IntN(46)) / 100
		}
	}
	return ep
}

// Resolve returns the episode's node order for this moment: Order, or with
// Leader the leader first and then Order without it. leader "" (none
// known) leaves Order as it is.
func (e Episode) Resolve(leader string) []string {
	if !e.Leader || leader == "" || !slices.Contains(e.Order, leader) {
		return slices.Clone(e.Order)
	}
	out := []string{leader}
	for _, n := range e.Order {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
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

// WriteFile stores s as indented JSON, atomically.
func (s Schedule) WriteFile(path string) error { return rundir.WriteJSON(path, s) }

// ReadFile reads a stored schedule.
func ReadFile(path string) (Schedule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Schedule{}, fmt.Errorf("read schedule: %w", err)
	}
	var s Schedule
	if err := json.Unmarshal(b, &s); err != nil {
		return Schedule{}, fmt.Errorf("%s: %w", path, err)
	}
	for i, e := range s.Episodes {
		if !slices.Contains(AllKinds, e.Kind) {
			return Schedule{}, fmt.Errorf("%s: episode %d: unknown kind %q", path, i, e.Kind)
		}
		if len(e.Order) == 0 {
			return Schedule{}, fmt.Errorf("%s: episode %d: no node order", path, i)
		}
	}
	return s, nil
}
