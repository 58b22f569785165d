package zab

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
)

func TestServerIDs(t *testing.T) {
	ids, err := serverIDs([]string{"n1", "n2", "n3"})
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2, 3}, ids)

	ids, err = serverIDs([]string{"zk-7", "zk-2", "zk-30"})
	require.NoError(t, err)
	assert.Equal(t, []uint64{7, 2, 30}, ids, "trailing digits, not positions")

	ids, err = serverIDs([]string{"a", "b1", "c"})
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2, 3}, ids, "not all numbered: positions")

	ids, err = serverIDs([]string{"x1", "y1"})
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2}, ids, "clashing digits: positions")

	_, err = serverIDs([]string{"n1", "n1"})
	assert.Error(t, err)
	_, err = New(election.Config{ID: "n9", Peers: []string{"n1"}})
	assert.Error(t, err)
}

func TestSingleNode(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n, err := New(election.Config{ID: "n1", Peers: []string{"n1"}, Now: now})
	require.NoError(t, err)
	n.Tick(now.Add(250 * time.Millisecond))
	st := n.Status()
	assert.Equal(t, election.Leader, st.Role)
	assert.Equal(t, uint64(1), st.Term)
	n.Propose(election.Request{ID: 1, Op: election.OpWrite, Key: "k", Value: 7})
	n.Propose(election.Request{ID: 2, Op: election.OpRead, Key: "k"})
	n.Propose(election.Request{ID: 3, Op: election.OpCAS, Key: "k", From: 1, To: 2})
	n.Propose(election.Request{ID: 4, Op: election.OpCAS, Key: "nope", From: 0, To: 2})
	n.Propose(election.Request{ID: 5, Op: election.OpCAS, Key: "k", From: 7, To: 8})
	rd := n.Ready()
	require.Len(t, rd.Results, 5)
	assert.NoError(t, rd.Results[0].Err)
	assert.Equal(t, election.Result{ID: 2, Value: 7, Exists: true}, rd.Results[1])
	assert.ErrorIs(t, rd.Results[2].Err, election.ErrCASMismatch)
	assert.ErrorIs(t, rd.Results[3].Err, election.ErrCASMismatch, "an absent key never matches")
	assert.NoError(t, rd.Results[4].Err)
	assert.Equal(t, makeZxid(1, 4), n.Status().Commit)

	// Restart from the records: epochs and log survive, the register is
	// rebuilt once the (single-node) epoch is established again.
	var recs [][]byte
	recs = append(recs, rd.Records...)
	n2, err := New(election.Config{ID: "n1", Peers: []string{"n1"}, Now: now, Records: recs})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), n2.currentEpoch)
	assert.Equal(t, makeZxid(1, 4), n2.lastZxid())
	n2.Tick(now.Add(250 * time.Millisecond))
	assert.Equal(t, uint64(2), n2.Status().Term)
	n2.Propose(election.Request{ID: 6, Op: election.OpRead, Key: "k"})
	rd = n2.Ready()
	assert.Equal(t, election.Result{ID: 6, Value: 8, Exists: true}, rd.Results[len(rd.Results)-1])
}

func TestElectsOneLeader(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			net := ensemble{size: size, seed: 1}.start(t)
			leader := waitSettled(t, net, 2*time.Second)
			// With no data, the highest server id wins.
			assert.Equal(t, fmt.Sprintf("n%d", size), leader)
			net.Run(2 * time.Second)
			l2, ok := settled(net)
			assert.True(t, ok)
			assert.Equal(t, leader, l2, "a healthy ensemble keeps its leader")
			assert.Empty(t, net.SafetyViolations())
			for _, id := range net.IDs() {
				assert.Equal(t, uint64(1), net.Node(id).Status().Term)
			}
			noErrors(t, net)
		})
	}
}

func TestLeaderKillElectsNewLeader(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			net := ensemble{size: size, seed: 2}.start(t)
			old := waitSettled(t, net, 2*time.Second)
			for i := 0; i < 5; i++ {
				mustDo(t, net, old, write(fmt.Sprintf("k%d", i), int64(i)))
			}
			killed := net.Now()
			net.Kill(old)
			leader := waitLeader(t, net, 2*time.Second)
			t.Logf("%d nodes: new leader %s after %s", size, leader, net.Now().Sub(killed))
			assert.NotEqual(t, old, leader)
			assert.Equal(t, uint64(2), net.Node(leader).Status().Term)
			for i := 0; i < 5; i++ {
				res := mustDo(t, net, leader, read(fmt.Sprintf("k%d", i)))
				assert.True(t, res.Exists)
				assert.Equal(t, int64(i), res.Value, "acknowledged write lost")
			}
			// The old leader comes back as a follower of the new epoch.
			net.Restart(old)
			assert.Equal(t, uint64(1), net.Node(old).Status().Term, "persisted epoch survives restart")
			l2 := waitSettled(t, net, 2*time.Second)
			assert.Equal(t, leader, l2)
			assert.Equal(t, uint64(2), net.Node(old).Status().Term)
			assert.Empty(t, net.SafetyViolations())
			noErrors(t, net)
		})
	}
}

func TestRestartKeepsEpochs(t *testing.T) {
	net := ensemble{size: 3, seed: 3}.start(t)
	leader := waitSettled(t, net, 2*time.Second)
	mustDo(t, net, leader, write("a", 1))
	var follower string
	for _, id := range net.IDs() {
		if id != leader {
			follower = id
		}
	}
	before := zabNode(net, follower)
	acc, cur, last := before.acceptedEpoch, before.currentEpoch, before.lastZxid()
	net.Kill(follower)
	net.Restart(follower)
	after := zabNode(net, follower)
	assert.Equal(t, acc, after.acceptedEpoch)
	assert.Equal(t, cur, after.currentEpoch)
	assert.Equal(t, last, after.lastZxid())
	assert.Equal(t, election.Looking, after.Status().Role)
	assert.Equal(t, uint64(0), after.Status().Commit, "the commit point is learned again from the leader")
	l2 := waitSettled(t, net, 2*time.Second)
	assert.Equal(t, leader, l2, "a restarted follower rejoins the established leader")
	net.Run(200 * time.Millisecond)
	assert.Equal(t, makeZxid(1, 1), zabNode(net, follower).Status().Commit)
	noErrors(t, net)
}

func TestCASAndNotLeader(t *testing.T) {
	net := ensemble{size: 3, seed: 4}.start(t)
	leader := waitSettled(t, net, 2*time.Second)
	for _, id := range net.IDs() {
		if id == leader {
			continue
		}
		res, ok := net.Do(id, write("x", 1), time.Second)
		require.True(t, ok)
		assert.ErrorIs(t, res.Err, election.ErrNotLeader)
		assert.Equal(t, leader, res.Leader)
	}
	res, ok := net.Do(leader, election.Request{Op: election.OpCAS, Key: "x", From: 0, To: 1}, time.Second)
	require.True(t, ok)
	assert.ErrorIs(t, res.Err, election.ErrCASMismatch)
	mustDo(t, net, leader, write("x", 5))
	mustDo(t, net, leader, election.Request{Op: election.OpCAS, Key: "x", From: 5, To: 6})
	res, _ = net.Do(leader, election.Request{Op: election.OpCAS, Key: "x", From: 5, To: 7}, time.Second)
	assert.ErrorIs(t, res.Err, election.ErrCASMismatch)
	assert.Equal(t, int64(6), mustDo(t, net, leader, read("x")).Value)
	noErrors(t, net)
}

// TestLostLeadershipAnswersPending: requests pending when the leader loses
// its quorum are answered ErrLostLeadership, not left hanging.
func TestLostLeadershipAnswersPending(t *testing.T) {
	net := ensemble{size: 3, seed: 5}.start(t)
	leader := waitSettled(t, net, 2*time.Second)
	net.Isolate(leader)
	id1, id2 := net.NextID(), net.NextID()
	w := write("k", 1)
	w.ID = id1
	r := read("k")
	r.ID = id2
	net.Propose(leader, w)
	net.Propose(leader, r)
	net.Run(time.Second)
	got := map[uint64]error{}
	for _, res := range net.Results() {
		if res.Node == leader {
			got[res.ID] = res.Err
		}
	}
	assert.ErrorIs(t, got[id1], election.ErrLostLeadership)
	assert.ErrorIs(t, got[id2], election.ErrLostLeadership)
	assert.NotEqual(t, election.Leader, net.Node(leader).Status().Role)
	net.Heal()
	waitSettled(t, net, 3*time.Second)
	assert.Empty(t, net.SafetyViolations())
}

// TestLossyNetwork: drops and duplicates on every link still converge and
// commit, and writes survive.
func TestLossyNetwork(t *testing.T) {
	net := ensemble{size: 5, seed: 6}.start(t)
	leader := waitSettled(t, net, 3*time.Second)
	k := 0
	net.SetHook(func(m *simnetMsg) int {
		k++
		switch k % 7 {
		case 0:
			return 0
		case 3:
			return 2
		}
		m.Delay += time.Duration(k%5) * time.Millisecond
		return 1
	})
	for i := 0; i < 30; i++ {
		res, ok := net.Do(leader, write(fmt.Sprintf("k%d", i%4), int64(i)), 3*time.Second)
		require.True(t, ok)
		require.NoError(t, res.Err)
	}
	net.SetHook(nil)
	for i := 26; i < 30; i++ {
		res := mustDo(t, net, leader, read(fmt.Sprintf("k%d", i%4)))
		assert.Equal(t, int64(i), res.Value)
	}
	assert.Empty(t, net.SafetyViolations())
	noErrors(t, net)
}

// TestPausedOrSlowLeaderServesNoStaleRead: a leader that is paused (or
// whose clock runs slow) while the others elect someone else must not
// answer a read from its old state: reads need a quorum round, and its
// followers no longer answer it.
func TestPausedOrSlowLeaderServesNoStaleRead(t *testing.T) {
	for _, mode := range []string{"pause", "slow-clock"} {
		t.Run(mode, func(t *testing.T) {
			net := ensemble{size: 3, seed: 14}.start(t)
			old := waitSettled(t, net, 2*time.Second)
			mustDo(t, net, old, write("x", 1))
			switch mode {
			case "pause":
				net.Pause(old)
			case "slow-clock":
				net.SetRate(old, 0.1) // its syncLimit now lasts 3 s of true time
				net.Isolate(old)
			}
			var next string
			require.True(t, net.RunUntil(3*time.Second, func() bool {
				for _, id := range net.IDs() {
					if id != old && net.Node(id).Status().Role == election.Leader {
						next = id
						return true
					}
				}
				return false
			}))
			mustDo(t, net, next, write("x", 2))
			if mode == "pause" {
				net.Resume(old)
			} else {
				net.Heal()
			}
			res, ok := net.Do(old, read("x"), 3*time.Second)
			require.True(t, ok)
			if res.Err == nil {
				assert.Equal(t, int64(2), res.Value, "stale read from the old leader")
			} else {
				assert.True(t, errors.Is(res.Err, election.ErrNotLeader) || errors.Is(res.Err, election.ErrLostLeadership), res.Err)
			}
			assert.Empty(t, net.SafetyViolations())
		})
	}
}
