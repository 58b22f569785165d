// Package nemesis injects faults into an ensemble on a schedule drawn up
// front from the run's seed: partitions (one-way too), kills, pauses, clock
// skews and netem, each recorded as a start and a stop entry in the history
// (docs/run-format.md).
//
// Each kind is a Fault (partition.go, kill.go, pause.go, clock.go,
// netem.go, takeover.go) that injects itself and says how to heal; the
// executor (executor.go) walks the schedule, aims at the leader, bounds
// and records every step and retries heals. A takeover (cut a shard's
// master off, promote its replica without the vote) needs the system's
// help, Config.Takeover: Redis Cluster's CLUSTER FAILOVER TAKEOVER.
//
// Generate draws one plain fault at a time. GenerateMix (Mix) also draws
// composed faults (Compose: a second fault while one is in force, as
// Jepsen's combined nemeses do; the executor runs overlapping episodes
// concurrently, one partition at a time, since Cluster.Heal removes every
// cut) and reactive attack patterns (pattern.go, attacks.go): episodes
// that wait for what the observer sees and strike in steps. The patterns,
// each from the shape of real bugs (see ../shared/reference and the
// comments of attacks.go):
//
//	strike-new-leader         a new leader (provoked after wait_ms if none comes): kill or pause it
//	                          at once; ZOOKEEPER-3911, -4643/4646, etcd #7331, Raft's Figure 8
//	isolate-after-ack         the leader stable and a write acknowledged (Config.Acked; else the
//	                          stable leader plus wait_ms): isolate it; ZOOKEEPER-2845, etcd #741, Consul #54
//	isolate-kill-new-majority isolate the leader; a new one: kill it or its followers (one, or enough
//	                          that the survivors need the old leader); heal the partition;
//	                          ZOOKEEPER-1154, -2845, Jepsen Redis-Raft and NATS
//	double-election           take the leader down; a new one: take it down and bring the first
//	                          back; ZOOKEEPER-2832, -1732, Zab's acceptedEpoch, Zeebe #5356, CCF #8094
//	pause-past-timeout        pause the leader until another is elected, then resume it; etcd #20418,
//	                          redisraft #19, Consul #54, etcd #6005
//	slow-clock-cut-off        slow or freeze the leader's clock, then cut it off; Raft thesis §6.4.1
//	                          leases, etcd-io/raft #166, etcd #6005, tikv #964, kubernetes#125761
//	one-way-leader            the leader stable: it hears nobody, or nobody hears it, or one follower
//	                          stops hearing it; etcd's inLease check, CockroachDB #104042, ZOOKEEPER-2930
//	flapping-partition        cut the leader (or a node) off and heal, again and again; Zeebe #5356,
//	                          Hazelcast #16643, redpanda #19, CCF #8094
//	shifting-partition        halves with the leader in the minority; while elections run, shift
//	                          the cut so nodes cross sides mid-election; Zab's Leadership1/2 (ACKEPOCH),
//	                          Zeebe #5356, akka-raft #56, Jepsen's majorities-ring
//
// Mix.DriftBound keeps every drawn clock within the drift a system claims
// to tolerate (a lease's bound), so that a correct lease is never failed
// for a fault outside its assumption, while one with no margin still is.
//
// A pattern's every wait is bounded by its episode's end; one whose trigger
// never comes applies and records nothing, and counts as given up
// (PatternStats); one that fired but whose next trigger never comes keeps
// what it applied until its end. Its entries carry "pattern": its name.
//
// The schedule names targets by role where the fault is about a role ("the
// leader at that moment", "the nodes the partition in force cut off") and
// by node otherwise, so a replay of a stored schedule hits the same roles
// at the same offsets, patterns included.
package nemesis

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

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

	CutOff = "cut-off" // Episode.Targets: the nodes the partition in force cut off
	Others = "others"  // Episode.Targets: the nodes it did not
)

// ParseKinds parses a --nemesis value: a comma-separated list of kinds
// (rundir.Kinds and rundir.SystemKinds), or "all" (rundir.Kinds: the
// caller adds the system kinds its system has), or "none" (or empty).
func ParseKinds(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return slices.Clone(rundir.Kinds), nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if !KnownKind(k) {
			return nil, fmt.Errorf("unknown fault kind %q: want a comma-separated list of %s, or all, or none", k, strings.Join(knownKinds(), ", "))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// KnownKind reports whether k is a fault kind: one of rundir.Kinds or
// rundir.SystemKinds.
func KnownKind(k string) bool {
	return slices.Contains(rundir.Kinds, k) || slices.Contains(rundir.SystemKinds, k)
}

func knownKinds() []string { return append(slices.Clone(rundir.Kinds), rundir.SystemKinds...) }

// Duration is a time.Duration written in JSON as a string like "5s"; it
// is the run directory's (run.json and schedule.json write it alike).
type Duration = rundir.Duration

// Episode is one fault: applied At after the run started, healed Duration
// later.
type Episode struct {
	At       Duration `json:"at"`
	Duration Duration `json:"duration"`
	Kind     string   `json:"kind"` // rundir.Kinds, rundir.SystemKinds
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
	// Pattern names the reactive attack pattern (Patterns) the episode
	// runs; "" for a plain fault. A pattern episode's Kind is the kind of
	// its first fault, Variant and the fields above its parameters.
	Pattern string `json:"pattern,omitempty"`
	// WaitMS, for a pattern: how long it waits after its trigger (or for
	// one) before it strikes, as the pattern says.
	WaitMS int64 `json:"wait_ms,omitempty"`
	// HoldMS, for a pattern: how long it holds a fault before its next
	// step, as the pattern says.
	HoldMS int64 `json:"hold_ms,omitempty"`
	// Targets, for an episode composed with a partition in force: "cut-off"
	// aims at the nodes that partition cut off, "others" at the rest (in
	// Order's order); "" aims as Leader and Order say.
	Targets string `json:"targets,omitempty"`
}

// End is when the episode's fault is healed.
func (e Episode) End() time.Duration { return time.Duration(e.At + e.Duration) }

func (e Episode) String() string {
	s := e.Kind + " " + e.Variant
	if e.Pattern != "" {
		s = "pattern " + e.Pattern + " " + e.Variant
	}
	if e.Targets != "" {
		s += " on " + e.Targets
	}
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
	Seed      int64    `json:"seed"`
	Nodes     []string `json:"nodes"`
	Kinds     []string `json:"kinds"`
	Interval  Duration `json:"interval"`
	TimeLimit Duration `json:"time_limit"`
	// Patterns and Compose are the Mix the schedule was drawn with, beyond
	// Kinds (empty: the plain draw of Generate).
	Patterns map[string]float64 `json:"patterns,omitempty"`
	Compose  bool               `json:"compose,omitempty"`
	// DriftBound is Mix.DriftBound: no clock was drawn to drift further.
	DriftBound float64   `json:"drift_bound,omitempty"`
	Episodes   []Episode `json:"episodes"`
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

// WriteFile stores s as indented JSON, atomically.
func (s Schedule) WriteFile(path string) error { return rundir.WriteJSON(path, s) }

// Validate says what is wrong with an episode of a schedule of nodes (any
// node when nodes is empty), or nil: a kind, pattern and targets the
// nemesis knows, no negative time, every node once in its order, and a
// count of at most every node.
func (e Episode) Validate(nodes []string) error {
	switch {
	case !KnownKind(e.Kind):
		return fmt.Errorf("unknown kind %q", e.Kind)
	case e.At < 0 || e.Duration < 0:
		return errors.New("at and duration must not be negative")
	case e.Pattern != "" && !slices.Contains(Patterns, e.Pattern):
		return fmt.Errorf("unknown pattern %q", e.Pattern)
	case e.Targets != "" && e.Targets != CutOff && e.Targets != Others:
		return fmt.Errorf("targets: want %s or %s, got %q", CutOff, Others, e.Targets)
	case len(e.Order) == 0:
		return errors.New("order: want every node in the order the fault takes them")
	case e.Count < 0 || len(nodes) > 0 && e.Count > len(nodes):
		return fmt.Errorf("count: want 0 to %d, got %d", len(nodes), e.Count)
	}
	for i, n := range e.Order {
		if len(nodes) > 0 && !slices.Contains(nodes, n) || slices.Contains(e.Order[:i], n) {
			return fmt.Errorf("order: %q is not one of %s, or is listed twice", n, strings.Join(nodes, ", "))
		}
	}
	return nil
}

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
		if err := e.Validate(s.Nodes); err != nil {
			return Schedule{}, fmt.Errorf("%s: episode %d: %w", path, i, err)
		}
	}
	return s, nil
}
