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
	ShiftingPartition  = "shifting-partition"
)

// Variants of shifting-partition.
const (
	Rotate    = "rotate"    // the cut turns by Count at every shift
	Alternate = "alternate" // the cut flips between two, Count apart
)

// Patterns lists the reactive attack patterns by name (stable names; they
// go in schedule.json and reports).
var Patterns = []string{StrikeNewLeader, IsolateAfterAck, IsolateKillQuorum, DoubleElection,
	PausePastTimeout, SlowClockCutOff, OneWayLeader, FlappingPartitions, ShiftingPartition}

// patternDef is what the package knows of a pattern: the kinds it uses
// (drawn only when the mix holds all of needs and one of alt at least),
// how it draws its parameters (its variant's kind is its episodes' Kind),
// and how it runs.
type patternDef struct {
	needs []string
	alt   []string
	draw  func(rng *rand.Rand, ep *Episode, kinds []string)
	// run plays the pattern until its end; it says whether its trigger
	// came (it applied a fault). It heals what it applied whenever it
	// likes; the attack heals what is left.
	run func(ctx context.Context, a *attack) bool
}

// drawable says whether p can be drawn with kinds.
func (p patternDef) drawable(kinds []string) bool {
	has := func(k string) bool { return slices.Contains(kinds, k) }
	return !slices.ContainsFunc(p.needs, func(k string) bool { return !has(k) }) &&
		(len(p.alt) == 0 || slices.ContainsFunc(p.alt, has))
}

var patterns map[string]patternDef

func init() {
	// In init: the runs refer to helpers that refer back to patterns.
	patterns = map[string]patternDef{
		StrikeNewLeader:    {alt: []string{rundir.KindKill, rundir.KindPause}, draw: drawStrikeNewLeader, run: runStrikeNewLeader},
		IsolateAfterAck:    {needs: []string{rundir.KindPartition}, draw: drawIsolateAfterAck, run: runIsolateAfterAck},
		IsolateKillQuorum:  {needs: []string{rundir.KindPartition, rundir.KindKill}, draw: drawIsolateKillQuorum, run: runIsolateKillQuorum},
		DoubleElection:     {alt: []string{rundir.KindPause, rundir.KindKill, rundir.KindPartition}, draw: drawDoubleElection, run: runDoubleElection},
		PausePastTimeout:   {needs: []string{rundir.KindPause}, draw: drawPausePastTimeout, run: runPausePastTimeout},
		SlowClockCutOff:    {needs: []string{rundir.KindClock, rundir.KindPartition}, draw: drawSlowClockCutOff, run: runSlowClockCutOff},
		OneWayLeader:       {needs: []string{rundir.KindPartition}, draw: drawOneWayLeader, run: runOneWayLeader},
		FlappingPartitions: {needs: []string{rundir.KindPartition}, draw: drawFlapping, run: runFlapping},
		ShiftingPartition:  {needs: []string{rundir.KindPartition}, draw: drawShifting, run: runShifting},
	}
}

// drawPattern draws an episode of pattern name: a shuffled order of the
// nodes, then the pattern's parameters.
func drawPattern(rng *rand.Rand, nodes []string, name string, kinds []string) Episode {
	p := patterns[name]
	order := slices.Clone(nodes)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	ep := Episode{Kind: rundir.KindPartition, Pattern: name, Order: order, Leader: true, Count: 1}
	p.draw(rng, &ep, kinds)
	return ep
}

// ms draws a duration of lo to hi milliseconds, as an Episode's *MS field.
func ms(rng *rand.Rand, lo, hi int64) int64 { return lo + rng.Int64N(hi-lo+1) }

// pickKindOf draws one of alt that kinds holds (alt[0] when none does).
func pickKindOf(rng *rand.Rand, kinds []string, alt ...string) string {
	in := slices.DeleteFunc(slices.Clone(alt), func(k string) bool { return !slices.Contains(kinds, k) })
	if len(in) == 0 {
		return alt[0]
	}
	return in[rng.IntN(len(in))]
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
	a := &attack{n: n, ep: ep}
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
