package nemesis

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// The patterns, each from the shape of real bugs (the reference notes in
// ../shared/reference name them; the planted bugs are the bench, not the
// design). Every wait is bounded by the episode's end.

// without is order without node.
func without(order []string, node string) []string {
	return slices.DeleteFunc(slices.Clone(order), func(id string) bool { return id == node })
}

// isolate cuts node off from the rest of order, both ways or one way
// (dir "in": it hears nobody; "out": nobody hears it).
func isolate(order []string, node, dir string, leader bool) Fault {
	variant := IsolateNode
	if leader {
		variant = IsolateLeader
	}
	return partition{hit: hit{variant: variant, nodes: []string{node}, leader: leader},
		cut: oneWay(dir, []string{node}, without(order, node)), oneWay: dir}
}

// takeDown is a kill, a pause or an isolation of the leader node, by kind.
func takeDown(kind, node string, order []string) Fault {
	switch kind {
	case rundir.KindKill:
		return kill{hitLeader(Leader, node)}
	case rundir.KindPause:
		return pause{hitLeader(Leader, node)}
	default:
		return isolate(order, node, "", true)
	}
}

// stable waits for a leader that stays the leader for hold, and returns
// it; false at the episode's end.
func (a *attack) stable(ctx context.Context, hold time.Duration) (string, bool) {
	for {
		l, ok := a.await(ctx, anyLeader)
		if !ok {
			return "", false
		}
		hctx, cancel := context.WithTimeout(ctx, hold)
		_, changed := a.await(hctx, func(now string) bool { return now != l })
		cancel()
		if ctx.Err() != nil {
			return "", false
		}
		if !changed {
			return l, true
		}
	}
}

// acked waits for a write acknowledged from now on, when the nemesis can
// tell (Config.Acked); true at once when it cannot. False at the end.
func (a *attack) acked(ctx context.Context) bool {
	count := a.n.cfg.Acked
	if count == nil {
		return true
	}
	base := count()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for count() <= base {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// StrikeNewLeader: kill or pause a leader right after it is elected, before
// it has committed an entry of its own term or finished syncing its
// followers. The shape of ZOOKEEPER-3911 and the ZOOKEEPER-4643/4646/4785
// family (a quorum crashing right after leader activation loses committed
// transactions), of etcd #7331 (a new leader's commit index lags until it
// commits in its own term) and of logcabin #44, Raft's "Figure 8" (an
// entry of an earlier term counted as committed by a new leader that then
// crashes). When no election comes by itself within WaitMS, the pattern
// provokes one: it takes the leader down the same way, and brings it back
// once the new leader is struck, so that a quorum can elect a third.
func drawStrikeNewLeader(rng *rand.Rand, ep *Episode, kinds []string) {
	ep.Kind, ep.Variant = pickKindOf(rng, kinds, rundir.KindKill, rundir.KindPause), Leader
	ep.WaitMS = ms(rng, 100, 1000)
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
		if ctx.Err() != nil || !a.strike(ctx, takeDown(a.ep.Kind, old, a.ep.Order)) {
			return false
		}
		provoked = true
		if l, ok = a.await(ctx, newLeader(old)); !ok {
			return true // the provocation is in effect: healed at the end
		}
	}
	if !a.strike(ctx, takeDown(a.ep.Kind, l, a.ep.Order)) {
		return provoked
	}
	if provoked {
		a.healAt(ctx, 0) // the old leader back: a quorum for a third election
	}
	return true
}

// IsolateAfterAck: once the leader is stable (HoldMS) and has acknowledged
// a write, cut it off (both ways), WaitMS later. A deposed leader still
// holding writes nobody else has, or serving reads the majority has moved
// past: ZOOKEEPER-2845 (the old leader logs a create that never commits,
// then rejoins), etcd #741 and Consul #54 (reads served from a leader cut
// off), and Jepsen's lost acknowledged writes under a minority-primary
// partition (Redis Sentinel, MongoDB). Without Config.Acked the nemesis
// cannot tell which writes were acknowledged; the leader stable for
// HoldMS plus WaitMS stands in for it (clients write all the time).
func drawIsolateAfterAck(rng *rand.Rand, ep *Episode, _ []string) {
	ep.Kind, ep.Variant = rundir.KindPartition, IsolateLeader
	ep.HoldMS = ms(rng, 200, 1000)
	ep.WaitMS = ms(rng, 0, 300)
}

func runIsolateAfterAck(ctx context.Context, a *attack) bool {
	l, ok := a.stable(ctx, time.Duration(a.ep.HoldMS)*time.Millisecond)
	if !ok || !a.acked(ctx) || !sleep(ctx, time.Duration(a.ep.WaitMS)*time.Millisecond) {
		return false
	}
	return a.strike(ctx, isolate(a.ep.Order, cmp.Or(a.leader(), l), "", true))
}

// IsolateKillQuorum: cut the leader off, wait for the majority to elect a
// new one, WaitMS later kill Count members of that new majority (the new
// leader first, or only its followers: Variant Leader or One), and heal the
// partition HoldMS later: the old leader, with its longer history from the
// old epoch, rejoins a quorum that lost nodes holding the new epoch's.
// Count is one, or (drawn half the time) enough that the survivors are no
// longer a quorum without the old leader, so that the heal forces an
// election between stale and new histories. The shape of ZOOKEEPER-1154
// (the node with the highest zxid absent at an election, then back: DIFF
// instead of TRUNC), of ZOOKEEPER-2845's reproducer (followers killed, a
// new quorum, the old leader rejoins) and of the kill-and-partition
// combinations Jepsen found Redis-Raft and NATS losing writes under.
func drawIsolateKillQuorum(rng *rand.Rand, ep *Episode, _ []string) {
	ep.Kind, ep.Variant = rundir.KindPartition, pick(rng, Leader, One)
	// The new majority is every node but the old leader; it stays a
	// quorum of the whole after losing all but a quorum of it.
	n := len(ep.Order)
	ep.Count = 1
	if rng.IntN(2) == 0 {
		ep.Count = max(n-1-(n/2+1)+1, 1)
	}
	ep.WaitMS = ms(rng, 0, 500)
	ep.HoldMS = ms(rng, 0, 1000)
}

func runIsolateKillQuorum(ctx context.Context, a *attack) bool {
	l, ok := a.await(ctx, anyLeader)
	if !ok || !a.strike(ctx, isolate(a.ep.Order, l, "", true)) {
		return false
	}
	l2, ok := a.await(ctx, newLeader(l))
	if !ok || !sleep(ctx, time.Duration(a.ep.WaitMS)*time.Millisecond) {
		return true
	}
	// The new majority: its leader first, then its followers in the drawn
	// order; Variant One spares the leader when it can.
	majority := append([]string{l2}, without(without(a.ep.Order, l), l2)...)
	count := min(max(a.ep.Count, 1), len(majority))
	victims, variant := majority[:count], Leader
	if a.ep.Variant == One && len(majority) > count {
		victims, variant = majority[1:count+1], One
	}
	if count > 1 {
		variant = Minority
	}
	if !a.strike(ctx, kill{hit{variant: variant, nodes: slices.Clone(victims), leader: victims[0] == l2}}) {
		return true
	}
	if sleep(ctx, time.Duration(a.ep.HoldMS)*time.Millisecond) {
		a.healAt(ctx, 0) // the partition; the kill stays until the end
	}
	return true
}

// DoubleElection: take the leader down (pause, kill or isolate: the
// episode's Kind), and as soon as a new leader is elected take that one
// down too and bring the first back, so that a third election follows the
// second at once: two leader changes in quick succession, while the
// epoch or term of the second is still being established. The shape of
// ZOOKEEPER-2832 and ZOOKEEPER-1732 (crash and restart sequences across
// three epochs), of Zab's acceptedEpoch handling (a follower that ACKs a
// second LEADERINFO of the epoch it already accepted, Learner L512-525;
// ZOOKEEPER-2307 the order of its persistence), and of the Raft votes
// cast twice in one term across quick successive elections (Zeebe #5356,
// Hazelcast #16643, CCF #8094). An isolation is moved from the first
// leader to the second as a heal then a cut, milliseconds apart (one
// partition at a time) in one step: the cut that isolates the second
// replaces the first's.
func drawDoubleElection(rng *rand.Rand, ep *Episode, kinds []string) {
	ep.Kind = pickKindOf(rng, kinds, rundir.KindPause, rundir.KindKill, rundir.KindPartition)
	ep.Variant = Leader
	if ep.Kind == rundir.KindPartition {
		ep.Variant = IsolateLeader
	}
	ep.WaitMS = ms(rng, 0, 200)
}

func runDoubleElection(ctx context.Context, a *attack) bool {
	l1, ok := a.await(ctx, anyLeader)
	if !ok || !a.strike(ctx, takeDown(a.ep.Kind, l1, a.ep.Order)) {
		return false
	}
	l2, ok := a.await(ctx, newLeader(l1))
	if !ok || !sleep(ctx, time.Duration(a.ep.WaitMS)*time.Millisecond) {
		return true
	}
	if a.ep.Kind == rundir.KindPartition {
		a.swapCut(ctx, takeDown(a.ep.Kind, l2, a.ep.Order))
		return true
	}
	if a.strike(ctx, takeDown(a.ep.Kind, l2, a.ep.Order)) {
		a.healAt(ctx, 0)
	}
	return true
}

// PausePastTimeout: pause the leader until the others have elected a new
// one (its election timeout passed), hold it WaitMS more, and resume it: a
// deposed leader waking up that still believes it leads and answers
// before it learns otherwise. The shape of etcd #20418 (stale reads from
// a paused process), redisraft #19 and Consul #54 (stale reads with
// pauses), and etcd #6005 (a lease in ticks stretched by a stall).
//
// The hold reaches 2.5 s: a read that can show a stale answer is one sent
// to the sleeper after the new leader's writes completed, and its clients
// send again only once their last request timed out (1 s by default,
// --op-timeout). Held at most 1 s, as it first was, the sleeper mostly
// woke to requests sent before those writes, which may see the old value.
// (electd is not such a system: it reads its clock before any input, so
// its sleeper steps down first; hunt/README.md has the measurement.)
func drawPausePastTimeout(rng *rand.Rand, ep *Episode, _ []string) {
	ep.Kind, ep.Variant = rundir.KindPause, Leader
	ep.WaitMS = ms(rng, 0, 2500)
}

func runPausePastTimeout(ctx context.Context, a *attack) bool {
	l, ok := a.await(ctx, anyLeader)
	if !ok || !a.strike(ctx, takeDown(rundir.KindPause, l, a.ep.Order)) {
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

// SlowClockCutOff: slow the leader's clock down (or freeze it: rate 0;
// Mix.DriftBound keeps the rate within what the system claims to bear),
// WaitMS later cut it off (both ways, or one way): a leader whose lease or
// step-down timer runs on a clock slower than its followers' keeps
// believing it leads, and serves, after they elected another. The shape of
// the lease bound of the Raft thesis §6.4.1 (etcd-io/raft #166, etcd's
// ReadOnlyLeaseBased warning), etcd #6005, tikv #964, sofa-jraft #25 and
// kubernetes#125761 (a clock jump gave two leaders for ~2 s). Where the
// system takes no clock faults the clock step is skipped (logged) and the
// cut alone remains.
func drawSlowClockCutOff(rng *rand.Rand, ep *Episode, _ []string) {
	ep.Kind, ep.Variant = rundir.KindClock, Rate
	// Frozen and far too slow for any lease, or slow within the drift a
	// lease must tolerate (found by a lease with no margin for it).
	ep.ClockRate = []float64{0, 0.25, 0.5, 0.7, 0.8, 0.9}[rng.IntN(6)]
	ep.WaitMS = ms(rng, 0, 1000)
	if rng.IntN(4) == 0 {
		ep.OneWay = pick(rng, "in", "out")
	}
}

func runSlowClockCutOff(ctx context.Context, a *attack) bool {
	l, ok := a.await(ctx, anyLeader)
	if !ok {
		return false
	}
	fields := map[string]any{"offset_ms": 0, "rate": a.ep.ClockRate}
	slowed := a.strike(ctx, clock{hit: hitLeader(Rate, l), rate: a.ep.ClockRate, f: rundir.ClockBump, fields: fields})
	if a.err != nil || (slowed && !sleep(ctx, time.Duration(a.ep.WaitMS)*time.Millisecond)) {
		return slowed
	}
	return a.strike(ctx, isolate(a.ep.Order, l, a.ep.OneWay, true)) || slowed
}

// OneWayLeader: once the leader is stable (HoldMS), drop one direction of
// traffic: the leader hears nobody ("in") or nobody hears it ("out"); or
// (Variant One) one follower stops hearing the leader while everyone else
// still does. An asymmetric cut: the follower (or the majority) times out
// and campaigns at a higher term while the leader still reaches others.
// The shape of R16 in the reference notes (votes granted in a leader's
// lease: etcd's inLease check, CockroachDB #104042), of Redis Cluster's
// failure detection on asymmetric loss, and of ZOOKEEPER-2930 (a
// black-holed member stalling the election).
func drawOneWayLeader(rng *rand.Rand, ep *Episode, _ []string) {
	ep.Kind, ep.Variant = rundir.KindPartition, pick(rng, Leader, Leader, One)
	ep.OneWay = pick(rng, "in", "out")
	ep.HoldMS = ms(rng, 200, 1000)
}

func runOneWayLeader(ctx context.Context, a *attack) bool {
	l, ok := a.stable(ctx, time.Duration(a.ep.HoldMS)*time.Millisecond)
	if !ok {
		return false
	}
	if a.ep.Variant == One {
		fs := without(a.ep.Order, l)
		if len(fs) == 0 {
			return false
		}
		f := fs[0]
		return a.strike(ctx, partition{hit: hit{variant: IsolateNode, nodes: []string{f}},
			cut: Cut{Blocked: [][2]string{{l, f}}, Targets: []string{f}}, oneWay: "in"})
	}
	return a.strike(ctx, isolate(a.ep.Order, l, a.ep.OneWay, true))
}

// FlappingPartitions: cut the leader (Variant IsolateLeader: whoever leads
// at each cut) or one node (IsolateNode) off for PeriodMS, heal for
// HoldMS, again and again until the episode ends: elections start and are
// interrupted, deposed leaders rejoin at stale terms, votes are cast and
// reset in quick succession. The shape of the flapping partitions of the
// reference notes' R1 and R3 recipes (Zeebe #5356, Hazelcast #16643,
// redpanda #19, CCF #8094: a vote cleared or cast twice in one term) and
// of PreVote's reason to exist (a partitioned node rejoining disrupts the
// cluster, etcd-io/raft's PreVote doc).
func drawFlapping(rng *rand.Rand, ep *Episode, _ []string) {
	ep.Kind, ep.Variant = rundir.KindPartition, pick(rng, IsolateLeader, IsolateLeader, IsolateNode)
	ep.Leader = ep.Variant == IsolateLeader
	ep.PeriodMS = ms(rng, 200, 1500)
	ep.HoldMS = ms(rng, 100, 1000)
}

func runFlapping(ctx context.Context, a *attack) bool {
	fired := false
	target := a.ep.Order[0]
	for ctx.Err() == nil && a.err == nil {
		if a.ep.Leader {
			l, ok := a.await(ctx, anyLeader)
			if !ok {
				break
			}
			target = l
		}
		if !a.strike(ctx, isolate(a.ep.Order, target, "", a.ep.Leader)) {
			break
		}
		fired = true
		if !sleep(ctx, time.Duration(a.ep.PeriodMS)*time.Millisecond) {
			break
		}
		a.healLast(ctx)
		if !sleep(ctx, time.Duration(a.ep.HoldMS)*time.Millisecond) {
			break
		}
	}
	return fired
}

// ShiftingPartition: cut the nodes into halves with the leader on the
// minority side, and shift the cut WaitMS after the leader of the last
// shift is gone or another leads (so every WaitMS while no leader is known,
// as while a protocol elects and syncs; PeriodMS at most when the leader
// stays), so that a node or two cross from one side to the other while an
// election or a discovery is under way; each cut replaces the last at once. Variant Rotate turns the
// order by Count at every shift; Alternate flips between the first cut and
// the one turned by Count, so that the nodes in both majorities go back
// and forth between two prospective leaders. Nodes hear two prospective leaders of neighbouring rounds, and a
// voter moves from one candidate's side to the other's. The shape of the
// Zab specification's Leadership1/2 (two prospective leaders of one epoch,
// a follower acknowledging both: Learner's ACKEPOCH), of Raft votes cast
// for two candidates of one term (Zeebe #5356, akka-raft #56), of Redis
// Cluster's two replicas asking for votes in one epoch, and of Jepsen's
// majorities-ring partitions, where every node sees a different majority
// (MongoDB's v0 protocol).
func drawShifting(rng *rand.Rand, ep *Episode, _ []string) {
	ep.Kind, ep.Variant = rundir.KindPartition, pick(rng, Alternate, Alternate, Rotate)
	ep.Count = 1 + rng.IntN(max(len(ep.Order)/2, 1))
	ep.PeriodMS = ms(rng, 300, 1500)
	ep.WaitMS = ms(rng, 50, 600)
}

func runShifting(ctx context.Context, a *attack) bool {
	l, ok := a.await(ctx, anyLeader)
	if !ok {
		return false
	}
	order := a.ep.Resolve(l)
	if !a.ep.Leader {
		order = slices.Clone(a.ep.Order)
	}
	n := len(order)
	if n < 2 {
		return false
	}
	step := max(a.ep.Count, 1)
	leader := l
	for turn := 0; ctx.Err() == nil && a.err == nil; turn++ {
		k := turn * step % n
		if a.ep.Variant == Alternate {
			k = turn % 2 * step % n
		}
		rot := append(slices.Clone(order[k:]), order[:k]...)
		minority, majority := rot[:n/2], rot[n/2:]
		f := partition{hit: hit{variant: Halves, nodes: slices.Clone(minority), leader: turn == 0},
			cut: Cut{Groups: [][]string{slices.Clone(minority), slices.Clone(majority)}, Targets: slices.Clone(minority)}}
		if !a.swapCut(ctx, f) {
			return turn > 0
		}
		// The next shift comes WaitMS into the election this cut began:
		// once the leader of the last shift is gone (no leader known, as
		// while a protocol elects and syncs) or another leads.
		pctx, cancel := context.WithTimeout(ctx, time.Duration(a.ep.PeriodMS)*time.Millisecond)
		if now, ok := a.await(pctx, func(now string) bool { return now == "" || now != leader }); ok {
			leader = now
		}
		cancel()
		if !sleep(ctx, time.Duration(a.ep.WaitMS)*time.Millisecond) {
			break
		}
	}
	return true
}

// swapCut puts f's cut in place of the partition applied last, in one
// step (Cluster.Partition replaces the cut in force: no moment of a healed
// network comes between); the old one's stop entry is recorded first.
// With no partition of the attack's in effect it is strike.
func (a *attack) swapCut(ctx context.Context, f Fault) bool {
	i := slices.IndexFunc(a.in, func(inj Injected) bool { return slices.Contains(inj.claims, networkClaim) })
	if i < 0 {
		return a.strike(ctx, f)
	}
	old := a.in[i]
	a.in = slices.Delete(a.in, i, i+1)
	a.n.release(old.claims)
	if err := a.n.record(old.Stop, nil); err != nil {
		a.err = err
	}
	if a.strike(ctx, f) {
		return true
	}
	// Nothing replaced the old cut (the history failed, or another fault
	// took the network meanwhile): heal it, since nothing else will.
	if err := a.n.heal(ctx, Injected{Stop: old.Stop, Heal: old.Heal}); err != nil && a.err == nil {
		a.err = err
	}
	return false
}
