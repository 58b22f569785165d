package nemesis

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

// Cluster is what the nemesis needs of an ensemble; *clusters.Ensemble
// provides it. Clock and Netem return an error matching
// errors.ErrUnsupported when the system or kernel can't have them.
type Cluster interface {
	Kill(ctx context.Context, id string) error
	Start(ctx context.Context, id string) error
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
	// Partition cuts the nodes into groups, both ways, replacing any
	// earlier cut.
	Partition(ctx context.Context, groups ...[]string) error
	// Block drops the packets from every node of from to every node of to,
	// in addition to the rules in place.
	Block(ctx context.Context, from, to []string) error
	// Heal removes every partition and block.
	Heal(ctx context.Context) error
	Clock(ctx context.Context, id string, offset time.Duration, rate float64) error
	Netem(ctx context.Context, id string, delay time.Duration, loss float64) error
}

// Config configures a Nemesis.
type Config struct {
	Cluster Cluster
	History history.Recorder
	// Leader returns the node leading now, "" when none is known.
	Leader func() string
	// NoClock says the system accepts no clock faults: clock episodes are
	// skipped (and said so).
	NoClock bool
	Log     *slog.Logger
	// LeaderWait bounds how long a fault on "the leader" waits for one to
	// be known; 2 s when zero.
	LeaderWait time.Duration
	// Step bounds each fault action (kill, heal, ...); 15 s when zero.
	Step time.Duration
	// Acked, when set, counts the writes acknowledged to clients so far:
	// the trigger of IsolateAfterAck. Without it that pattern waits a
	// drawn time once the leader is stable instead (the observer cannot
	// tell which writes were acknowledged).
	Acked func() int64
	// Takeover, when set, is the system's promotion of a follower without
	// the vote; without it takeover faults are unsupported.
	Takeover *Takeover
}

// Nemesis runs a schedule against a cluster.
type Nemesis struct {
	cfg Config

	mu          sync.Mutex
	active      map[int]string  // the episodes in force by when they began, for progress
	nextActive  int             // the key of the next active episode
	unsupported map[string]bool // kinds found unsupported at run time
	applied     int
	claims      map[string]bool // what the faults in effect hold (claimsOf)
	cut         []string        // the nodes the partition in force cut off
	stats       map[string]PatternStat
}

// PatternStat counts a pattern's episodes in a run: Fired when its trigger
// came and it applied a fault, GaveUp when it applied none (its episode
// ended before its trigger came, or what it would apply was skipped: a
// kind unsupported here, or held by an overlapping fault).
type PatternStat struct {
	Fired  int `json:"fired"`
	GaveUp int `json:"gave_up"`
}

// New returns a nemesis.
func New(cfg Config) *Nemesis {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Leader == nil {
		cfg.Leader = func() string { return "" }
	}
	if cfg.LeaderWait <= 0 {
		cfg.LeaderWait = 2 * time.Second
	}
	if cfg.Step <= 0 {
		cfg.Step = 15 * time.Second
	}
	return &Nemesis{cfg: cfg, unsupported: map[string]bool{}, active: map[int]string{},
		claims: map[string]bool{}, stats: map[string]PatternStat{}}
}

// Active describes the faults in effect (" + " between overlapping ones),
// "" when none.
func (n *Nemesis) Active() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	keys := slices.Sorted(maps.Keys(n.active))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, n.active[k])
	}
	return strings.Join(out, " + ")
}

// PatternStats counts each pattern's episodes so far, by name: how often
// it fired and how often its trigger never came.
func (n *Nemesis) PatternStats() map[string]PatternStat {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.stats)
}

func (n *Nemesis) countPattern(name string, fired bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.stats[name]
	if fired {
		st.Fired++
		n.applied++
	} else {
		st.GaveUp++
	}
	n.stats[name] = st
}

// Applied is how many faults were applied so far.
func (n *Nemesis) Applied() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applied
}

// setActive adds an episode in force; count: it counts as applied. It
// returns the key to clear it by (never 0).
func (n *Nemesis) setActive(s string, count bool) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nextActive++
	n.active[n.nextActive] = s
	if count {
		n.applied++
	}
	return n.nextActive
}

// clearActive removes the episode set by key (0: none).
func (n *Nemesis) clearActive(key int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.active, key)
}

// networkClaim is what a partition holds.
const networkClaim = "the network"

// cuts reports whether faults of kind cut the network: a partition, and a
// takeover (its master is cut off).
func cuts(kind string) bool { return kind == rundir.KindPartition || kind == rundir.KindTakeover }

// cluster is the Cluster faults are injected into: the ensemble, with the
// system's Takeover when it has one.
func (n *Nemesis) cluster() Cluster {
	if n.cfg.Takeover == nil {
		return n.cfg.Cluster
	}
	return promoting{Cluster: n.cfg.Cluster, t: n.cfg.Takeover}
}

// claimsOf is what f holds while in effect: the network for a partition
// or a takeover (Cluster.Heal removes every cut, so one cut at a time), a
// node's process for a kill or a pause, its clock, its netem.
func claimsOf(f Fault) []string {
	if cuts(f.Kind()) {
		return []string{networkClaim}
	}
	var out []string
	for _, id := range f.Nodes() {
		switch f.Kind() {
		case rundir.KindKill, rundir.KindPause:
			out = append(out, "the process of "+id)
		default:
			out = append(out, f.Kind()+" of "+id)
		}
	}
	return out
}

// claim takes keys for a fault about to be applied, and returns "" or,
// when another fault in effect holds one, that key (taking none).
func (n *Nemesis) claim(keys []string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range keys {
		if n.claims[k] {
			return k
		}
	}
	for _, k := range keys {
		n.claims[k] = true
	}
	return ""
}

// release gives keys back, once their fault is healed.
func (n *Nemesis) release(keys []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range keys {
		delete(n.claims, k)
	}
	if !n.claims[networkClaim] {
		n.cut = nil
	}
}

// setCut notes the nodes the partition in force cuts off.
func (n *Nemesis) setCut(nodes []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = slices.Clone(nodes)
}

// aimAtCut is the node order of an episode aimed at the nodes the
// partition in force cut off (CutOff) or at the others (Others), in the
// episode's order. With no partition in force it is the drawn order.
func (n *Nemesis) aimAtCut(ep Episode) []string {
	n.mu.Lock()
	cut := slices.Clone(n.cut)
	n.mu.Unlock()
	if len(cut) == 0 {
		n.cfg.Log.Info("nemesis: no partition in force; the fault takes the drawn nodes", "fault", ep.String())
		return slices.Clone(ep.Order)
	}
	in := ep.Targets == CutOff
	out := slices.DeleteFunc(slices.Clone(ep.Order), func(id string) bool { return slices.Contains(cut, id) != in })
	if len(out) == 0 {
		return slices.Clone(ep.Order)
	}
	return out
}

// Unsupported lists the fault kinds found unsupported during the run.
func (n *Nemesis) Unsupported() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for k := range n.unsupported {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (n *Nemesis) markUnsupported(kind string, err error) {
	n.mu.Lock()
	first := !n.unsupported[kind]
	n.unsupported[kind] = true
	n.mu.Unlock()
	if first {
		n.cfg.Log.Warn("nemesis: fault kind unsupported here; skipping it for the rest of the run", "kind", kind, "why", err)
	}
}

// skipping says why faults of kind are not applied, "" when they are.
func (n *Nemesis) skipping(kind string) string {
	if kind == rundir.KindClock && n.cfg.NoClock {
		return "the system accepts no clock faults"
	}
	if kind == rundir.KindTakeover && n.cfg.Takeover == nil {
		return "the system promotes no follower without the vote"
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.unsupported[kind] {
		return "unsupported here"
	}
	return ""
}

// HealAll undoes every kind of fault on every node: heals the network,
// resumes and starts every server, resets clocks and removes netem. It
// records nothing (Run heals and records its own faults); it is the final
// phase's safety net.
func HealAll(ctx context.Context, c Cluster, nodes []string, noClock bool) error {
	var errs []error
	if err := c.Heal(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, id := range nodes {
		if err := c.Resume(ctx, id); err != nil {
			errs = append(errs, err)
		}
		if err := c.Start(ctx, id); err != nil {
			errs = append(errs, err)
		}
		if !noClock {
			if err := c.Clock(ctx, id, 0, 1); err != nil && !errors.Is(err, errors.ErrUnsupported) {
				errs = append(errs, err)
			}
		}
		if err := c.Netem(ctx, id, 0, 0); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
