package zab

import (
	"cmp"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/simnet"
)

// soakOutcome is what one soak schedule showed.
type soakOutcome struct {
	violations []uint64 // epochs with two established leaders (Leadership2)
	lost       []string // acknowledged writes missing at the end
	diverged   bool     // committed prefixes differ
	stale      int      // stale reads
	// sameEpochTwice: a follower answered LEADERINFO of one epoch from
	// two different prospective leaders (ACKEPOCH to both, acked or
	// not): the situation zab.ackepoch-twice needs, whatever the bug
	// then does with it.
	sameEpochTwice bool
}

// epochAnswers records every ACKEPOCH sent, by follower and epoch, and the
// prospective leaders it went to.
type epochAnswers struct {
	to    map[followerEpoch]map[string]bool
	twice bool // one follower answered one epoch to two leaders
}

type followerEpoch struct {
	follower string
	epoch    uint64
}

// watch returns a hook that records the ACKEPOCHs on links that are not
// cut, then applies next (nil: deliver).
func (a *epochAnswers) watch(next simnet.Hook) simnet.Hook {
	return func(m *simnet.Msg) int {
		if msg, err := decode(m.Payload); err == nil && msg.Type == mAckEpoch {
			k := followerEpoch{m.From, msg.Epoch}
			if a.to == nil {
				a.to = map[followerEpoch]map[string]bool{}
			}
			if a.to[k] == nil {
				a.to[k] = map[string]bool{}
			}
			a.to[k][m.To] = true
			a.twice = a.twice || len(a.to[k]) > 1
		}
		if next == nil {
			return 1
		}
		return next(m)
	}
}

// soak runs one seeded random fault schedule on a 5-node ensemble with a
// client writing unique values through whoever leads, then heals and checks
// the ZAB invariants: one established leader per epoch (Leadership2),
// committed prefixes agree (PrefixConsistency), and no acknowledged write is
// missing from the final leader's history. Reads run alongside: a read that
// succeeds must see at least the newest write of its key acknowledged
// before the read was issued (values only grow), else it is stale.
func soak(t *testing.T, seed int64, bugs map[string]bool) (out soakOutcome) {
	net := ensemble{size: 5, seed: seed, bugs: bugs}.start(t)
	var answers epochAnswers
	defer func() { out.sameEpochTwice = answers.twice }()
	// setHook installs loss (nil: none) behind the watch on answers.
	setHook := func(loss simnet.Hook) { net.SetHook(answers.watch(loss)) }
	setHook(nil)
	rng := rand.New(rand.NewSource(seed))
	ids := net.IDs()
	type acked struct {
		key string
		val int64
	}
	// A client gives up on a request after a second (its outcome stays
	// unknown) so that a stuck leader cannot stall the workload.
	issued := map[uint64]time.Time{}
	var acks []acked
	pending := map[uint64]acked{}
	ackedMax := map[string]int64{}
	type pendingRead struct {
		key string
		min int64
	}
	reads := map[uint64]pendingRead{}
	seen := 0
	val := int64(0)
	dead := map[string]bool{}

	collect := func() {
		rs := net.Results()
		for _, r := range rs[seen:] {
			if a, ok := pending[r.ID]; ok {
				delete(pending, r.ID)
				if r.Err == nil {
					acks = append(acks, a)
					ackedMax[a.key] = max(ackedMax[a.key], a.val)
				}
			}
			if rd, ok := reads[r.ID]; ok {
				delete(reads, r.ID)
				if r.Err == nil && rd.min > 0 && (!r.Exists || r.Value < rd.min) {
					out.stale++
				}
			}
		}
		seen = len(rs)
	}
	for round := 0; round < 25; round++ {
		switch rng.Intn(6) {
		case 0:
			perm := rng.Perm(len(ids))
			k := 1 + rng.Intn(2)
			var a, b []string
			for i, p := range perm {
				if i < k {
					a = append(a, ids[p])
				} else {
					b = append(b, ids[p])
				}
			}
			net.Partition(a, b)
		case 1:
			net.Isolate(ids[rng.Intn(len(ids))])
		case 2:
			id := ids[rng.Intn(len(ids))]
			if len(dead) < 2 && !dead[id] {
				net.Kill(id)
				dead[id] = true
			}
		case 3:
			for id := range dead {
				net.Restart(id)
			}
			dead = map[string]bool{}
		case 4:
			net.Heal()
			k := 0
			setHook(func(m *simnet.Msg) int {
				k++
				if k%11 == 0 {
					return 0
				}
				if k%7 == 0 {
					return 2
				}
				m.Delay += time.Duration(k%13) * time.Millisecond
				return 1
			})
		default:
			net.Heal()
			setHook(nil)
		}
		end := net.Now().Add(time.Duration(300+rng.Intn(500)) * time.Millisecond)
		for net.Now().Before(end) {
			for id, at := range issued {
				if net.Now().Sub(at) > time.Second {
					delete(issued, id)
					delete(pending, id)
					delete(reads, id)
				}
			}
			if ls := net.Leaders(); len(ls) > 0 && len(pending) < 4 {
				val++
				a := acked{key: fmt.Sprint("k", val%5), val: val}
				id := net.NextID()
				pending[id] = a
				issued[id] = net.Now()
				net.Propose(ls[rng.Intn(len(ls))], election.Request{ID: id, Op: election.OpWrite, Key: a.key, Value: a.val})
			}
			if ls := net.Leaders(); len(ls) > 0 && len(reads) < 2 {
				key := fmt.Sprint("k", rng.Intn(5))
				id := net.NextID()
				reads[id] = pendingRead{key: key, min: ackedMax[key]}
				issued[id] = net.Now()
				net.Propose(ls[rng.Intn(len(ls))], election.Request{ID: id, Op: election.OpRead, Key: key})
			}
			net.Run(5 * time.Millisecond)
			collect()
		}
	}
	for id := range dead {
		net.Restart(id)
	}
	net.Heal()
	setHook(nil)
	if bugs != nil && !net.RunUntil(10*time.Second, func() bool { _, ok := settled(net); return ok }) {
		// A planted bug may keep the ensemble from settling (a leader
		// that never steps down): report what was seen.
		out.violations = net.SafetyViolations()
		return out
	}
	leader := waitSettled(t, net, 10*time.Second)
	net.Run(500 * time.Millisecond)
	collect()

	final := zabNode(net, leader)
	have := map[acked]bool{}
	for _, tx := range final.log[:final.applied] {
		have[acked{tx.Key, tx.Value}] = true
	}
	for _, a := range acks {
		if !have[a] {
			out.lost = append(out.lost, fmt.Sprintf("%s=%d", a.key, a.val))
		}
	}
	for _, a := range ids {
		for _, b := range ids {
			na, nb := zabNode(net, a), zabNode(net, b)
			n := min(na.applied, nb.applied)
			for i := 0; i < n; i++ {
				if na.log[i] != nb.log[i] {
					out.diverged = true
				}
			}
		}
	}
	if bugs == nil {
		require.NotEmpty(t, acks, "seed %d: the client got nothing done", seed)
	}
	require.Empty(t, net.Errors())
	out.violations = net.SafetyViolations()
	return out
}

func TestSoakFaithful(t *testing.T) {
	seeds := int64(6)
	if testing.Short() || raceEnabled {
		seeds = 3
	}
	if v, err := strconv.ParseInt(os.Getenv("ZAB_SOAK_SEEDS"), 10, 64); err == nil {
		seeds = v // for longer exploratory runs
	}
	for s := int64(1); s <= seeds; s++ {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			o := soak(t, s, nil)
			assert.Empty(t, o.violations, "two leaders established in one epoch")
			assert.Empty(t, o.lost, "acknowledged writes lost")
			assert.False(t, o.diverged, "committed prefixes differ")
			assert.Zero(t, o.stale, "stale reads")
		})
	}
}

// TestSoakPlantedBugs runs the same schedules faithful and with each
// planted bug (a subtest each) and reports how many seeds each invariant
// catches, and in how many a follower answered one epoch to two leaders.
// It is exploratory (it only logs) and runs when ZAB_SOAK_SEEDS is set.
func TestSoakPlantedBugs(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("ZAB_SOAK_SEEDS"))
	if err != nil {
		t.Skip("set ZAB_SOAK_SEEDS to run")
	}
	count := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	for _, bug := range []string{"", bugCounterOnly, bugAckTwice, bugNoStepdown} {
		t.Run(cmp.Or(bug, "faithful"), func(t *testing.T) {
			var els, lost, div, stale, twice int
			for s := int64(1); s <= int64(n); s++ {
				var set map[string]bool
				if bug != "" {
					set = map[string]bool{bug: true}
				}
				o := soak(t, s, set)
				els += count(len(o.violations) > 0)
				lost += count(len(o.lost) > 0)
				stale += count(o.stale > 0)
				div += count(o.diverged)
				twice += count(o.sameEpochTwice)
				if o.sameEpochTwice {
					t.Logf("seed %d: a follower answered one epoch to two leaders (two leaders established: %v)", s, o.violations)
				}
			}
			t.Logf("of %d seeds, two leaders in an epoch %d, lost acked write %d, diverged %d, stale read %d, one epoch answered to two leaders %d",
				n, els, lost, div, stale, twice)
		})
	}
}
