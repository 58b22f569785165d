package nemesis

import (
	"context"
	"errors"
	"log/slog"
	"slices"
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
}

// Nemesis runs a schedule against a cluster.
type Nemesis struct {
	cfg Config

	mu          sync.Mutex
	active      string          // the fault in effect, for progress
	unsupported map[string]bool // kinds found unsupported at run time
	applied     int
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
	return &Nemesis{cfg: cfg, unsupported: map[string]bool{}}
}

// Active describes the fault in effect, "" when none.
func (n *Nemesis) Active() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.active
}

// Applied is how many faults were applied so far.
func (n *Nemesis) Applied() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applied
}

func (n *Nemesis) setActive(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.active = s
	if s != "" {
		n.applied++
	}
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
