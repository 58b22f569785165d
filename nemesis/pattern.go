package nemesis

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// Pattern names: stable, since they go in schedule.json (Episode.Pattern),
// in the history entries' value ("pattern") and in reports.
const (
	StrikeNewLeader    = "strike-new-leader"
	IsolateAfterAck    = "isolate-after-ack"
	IsolateKillQuorum  = "isolate-kill-new-majority"
	DoubleElection     = "double-election"
	PausePastTimeout   = "pause-past-timeout"
	SlowClockCutOff    = "slow-clock-cut-off"
	OneWayLeader       = "one-way-leader"
	FlappingPartitions = "flapping-partition"
)

// Patterns lists the reactive attack patterns by name (stable names; they
// go in schedule.json and reports).
var Patterns = []string{StrikeNewLeader, IsolateAfterAck, IsolateKillQuorum, DoubleElection,
	PausePastTimeout, SlowClockCutOff, OneWayLeader, FlappingPartitions}

// patternDef is what the package knows of a pattern: the kinds it uses
// (drawn only when the mix holds them all; the first is its episodes'
// Kind), how it draws its parameters, and how it runs.
type patternDef struct {
	needs []string
	draw  func(rng *rand.Rand, ep *Episode, clock bool)
	// run plays the pattern until its end; it says whether its trigger
	// came (it applied a fault). It heals what it applied whenever it
	// likes; the attack heals what is left.
	run func(ctx context.Context, a *attack) bool
}

var patterns = map[string]patternDef{}

func init() {
	// In init: the runs refer to helpers that refer back to patterns.
	patterns = map[string]patternDef{
		StrikeNewLeader:  {needs: []string{rundir.KindKill, rundir.KindPause}, draw: drawStrikeNewLeader, run: runStrikeNewLeader},
		PausePastTimeout: {needs: []string{rundir.KindPause}, draw: drawPausePastTimeout, run: runPausePastTimeout},
	}
}

// drawPattern draws an episode of pattern name: a shuffled order of the
// nodes, then the pattern's parameters.
func drawPattern(rng *rand.Rand, nodes []string, name string, clock bool) Episode {
	p := patterns[name]
	order := slices.Clone(nodes)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	ep := Episode{Kind: p.needs[0], Pattern: name, Order: order, Leader: true, Count: 1}
	p.draw(rng, &ep, clock)
	return ep
}

// pollEvery is how often a pattern asks who leads while it waits.
const pollEvery = 20 * time.Millisecond

// attack is a pattern episode being played: the faults it has in effect
// and the bound of its waits (the episode's end).
type attack struct {
	n   *Nemesis
	ep  Episode
	in  []Injected
	err error // the first history error: the attack stops
	// first is the leader known when the attack began ("" none).
	first string
}

// leader is who leads now, "" when none is known.
func (a *attack) leader() string { return a.n.cfg.Leader() }

// await polls the leader until cond holds for it, and returns it; false
// when ctx (the episode's end) came first.
func (a *attack) await(ctx context.Context, cond func(leader string) bool) (string, bool) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		if l := a.leader(); cond(l) {
			return l, true
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-t.C:
		}
	}
}

// anyLeader is a cond of await: some leader is known.
func anyLeader(l string) bool { return l != "" }

// newLeader is a cond of await: a leader other than old is known.
func newLeader(old string) func(string) bool {
	return func(l string) bool { return l != "" && l != old }
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	return waitUntil(ctx, time.Now().Add(d))
}

// strike applies f (recorded, named after the pattern) and keeps it to be
// healed; false when nothing is in effect (skipped, unsupported or
// failed) or the history failed.
func (a *attack) strike(ctx context.Context, f Fault) bool {
	if a.err != nil {
		return false
	}
	inj, err := a.n.inject(ctx, a.ep, f)
	if inj != nil {
		a.in = append(a.in, *inj)
	}
	if err != nil {
		a.err = err
		return false
	}
	return inj != nil
}

// healLast heals the fault applied last, if any.
func (a *attack) healLast(ctx context.Context) {
	if len(a.in) == 0 {
		return
	}
	inj := a.in[len(a.in)-1]
	a.in = a.in[:len(a.in)-1]
	if err := a.n.heal(ctx, inj); err != nil && a.err == nil {
		a.err = err
	}
}

// healAt heals the i-th fault in effect (one applied before others that
// stay).
func (a *attack) healAt(ctx context.Context, i int) {
	inj := a.in[i]
	a.in = slices.Delete(a.in, i, i+1)
	if err := a.n.heal(ctx, inj); err != nil && a.err == nil {
		a.err = err
	}
}

// attack plays pattern episode ep until end (or ctx) and heals what it
// left in effect. A pattern whose trigger never comes applies nothing and
// records nothing: it is logged and counted (PatternStats) as given up.
// Cut short (ctx done), it waits for later episodes first (later) to heal
// in reverse.
func (n *Nemesis) attack(ctx context.Context, ep Episode, end time.Time, later func()) error {
	p, ok := patterns[ep.Pattern]
	if !ok {
		n.skip(ep, ep.Kind, "unknown pattern")
		return nil
	}
	actx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	a := &attack{n: n, ep: ep, first: n.cfg.Leader()}
	fired := p.run(actx, a)
	if fired && a.err == nil {
		waitUntil(actx, end)
	}
	if ctx.Err() != nil {
		later()
	}
	for len(a.in) > 0 {
		a.healLast(ctx)
	}
	n.countPattern(ep.Pattern, fired)
	if !fired {
		n.cfg.Log.Info("nemesis: a pattern's trigger never came; it gave up", "pattern", ep.Pattern, slog.Duration("after", time.Duration(ep.Duration)))
	}
	return a.err
}

// hitLeader is a fault's hit on node as the leader.
func hitLeader(variant, node string) hit {
	return hit{variant: variant, nodes: []string{node}, leader: true}
}

// down is a kill or a pause of one node, as variant says (Kill's or
// Pause's kind).
func down(kind, variant, node string) Fault {
	if kind == rundir.KindKill {
		return kill{hitLeader(variant, node)}
	}
	return pause{hitLeader(variant, node)}
}

// StrikeNewLeader: kill or pause a leader right after it is elected,
// before it has committed an entry of its own term. The shape of
// ZOOKEEPER-1154 and ZOOKEEPER-1419 (a leader lost between NEWLEADER and
// the first commit leaves followers with a log the next epoch mishandles)
// and of Raft's "Figure 8" commitment rule (an entry of an earlier term
// counted as committed by a new leader that then crashes). When no
// election comes by itself within WaitMS, the pattern provokes one: it
// takes the leader down (the same way), and restarts it once the new
// leader is struck, so that a quorum can elect a third.
func drawStrikeNewLeader(rng *rand.Rand, ep *Episode, _ bool) {
	if rng.IntN(2) == 0 {
		ep.Kind, ep.Variant = rundir.KindKill, Leader
	} else {
		ep.Kind, ep.Variant = rundir.KindPause, Leader
	}
	ep.WaitMS = 100 + rng.Int64N(901)
}

func runStrikeNewLeader(ctx context.Context, a *attack) bool {
	old, ok := a.await(ctx, anyLeader)
	if !ok {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(a.ep.WaitMS)*time.Millisecond)
	l, ok := a.await(wctx, newLeader(old))
	cancel()
	provoked := false
	if !ok {
		if ctx.Err() != nil || !a.strike(ctx, down(a.ep.Kind, a.ep.Variant, old)) {
			return false
		}
		provoked = true
		if l, ok = a.await(ctx, newLeader(old)); !ok {
			return true // the provocation is a fault applied: healed at the end
		}
	}
	if !a.strike(ctx, down(a.ep.Kind, a.ep.Variant, l)) {
		return provoked
	}
	if provoked {
		a.healAt(ctx, 0) // the old leader back: a quorum for a third election
	}
	return true
}

// PausePastTimeout: pause the leader until the others have elected a new
// one (its election timeout passed), hold it WaitMS more, and resume it: a
// deposed leader waking up that still believes it leads and serves, as in
// Jepsen's process-pause analyses (etcd 3.4 stale reads, Consul, and the
// lease reads of etcd #741 and #7331 past a pause).
func drawPausePastTimeout(rng *rand.Rand, ep *Episode, _ bool) {
	ep.Variant = Leader
	ep.WaitMS = rng.Int64N(1001)
}

func runPausePastTimeout(ctx context.Context, a *attack) bool {
	l, ok := a.await(ctx, anyLeader)
	if !ok || !a.strike(ctx, down(rundir.KindPause, Leader, l)) {
		return false
	}
	if _, ok := a.await(ctx, newLeader(l)); !ok {
		return true
	}
	if sleep(ctx, time.Duration(a.ep.WaitMS)*time.Millisecond) {
		a.healLast(ctx)
	}
	return true
}
