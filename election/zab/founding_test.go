package zab

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/simnet"
)

// The founding documents' scenarios (seed-notes.md, "ZooKeeper").

// TestFoundingStaggeredStart: five servers with no data start one at a
// time about a second apart. Server 1 and 2 alone are no majority; when 3
// starts, all three prefer 3 (highest id), which leads; 4 and 5 find the
// established leader and follow it.
func TestFoundingStaggeredStart(t *testing.T) {
	net := ensemble{size: 5, seed: 7}.start(t)
	// simnet starts everyone at once: take n2..n5 down before any of
	// their first notifications is delivered.
	for _, id := range []string{"n2", "n3", "n4", "n5"} {
		net.Isolate(id)
		net.Kill(id)
	}
	net.Run(10 * time.Millisecond)
	net.Heal()

	net.Run(time.Second)
	assert.Equal(t, election.Looking, net.Node("n1").Status().Role, "one server alone is no majority")
	net.Restart("n2")
	net.Run(time.Second)
	assert.Empty(t, net.Leaders(), "two of five are no majority")
	assert.Equal(t, uint64(2), zabNode(net, "n1").proposal.Leader, "n1 prefers n2")

	net.Restart("n3")
	started := net.Now()
	leader := waitSettled(t, net, 2*time.Second)
	assert.Equal(t, "n3", leader, "three of five up: the highest id wins")
	t.Logf("n3 established %s after it started", net.Now().Sub(started))
	assert.Equal(t, "n3", net.Node("n1").Status().Leader)
	assert.Equal(t, "n3", net.Node("n2").Status().Leader)

	net.Run(time.Second)
	net.Restart("n4")
	net.Run(time.Second)
	net.Restart("n5")
	require.Equal(t, "n3", waitSettled(t, net, 2*time.Second))
	net.Run(time.Second)
	l, ok := settled(net)
	assert.True(t, ok)
	assert.Equal(t, "n3", l, "late servers follow the established leader instead of taking over")
	for _, id := range net.IDs() {
		st := net.Node(id).Status()
		assert.Equal(t, uint64(1), st.Term, id)
		assert.Equal(t, "n3", st.Leader, id)
	}
	assert.Empty(t, net.SafetyViolations())
	noErrors(t, net)
}

// restartAll stops every server and starts them again together.
func restartAll(net *simnet.Net) {
	for _, id := range net.IDs() {
		net.Kill(id)
	}
	for _, id := range net.IDs() {
		net.Restart(id)
	}
}

// TestFoundingRestartHighestZxidWins: after a restart of the whole
// ensemble the server with the highest (epoch, zxid) wins even over higher
// ids. Set up: n3 leads epoch 2 (n4 and n5 were cut off when it was
// elected), then every server joins epoch 2, then one more write commits
// on n1..n3 only. At restart n1..n3 hold zxid (2,3), n4 and n5 (2,2): same
// epoch, and the zxid decides for n3 over n4 and n5.
func TestFoundingRestartHighestZxidWins(t *testing.T) {
	net := ensemble{size: 5, seed: 8}.start(t)
	require.Equal(t, "n5", waitSettled(t, net, 2*time.Second))
	mustDo(t, net, "n5", write("a", 1))

	net.Partition([]string{"n1", "n2", "n3"}, []string{"n4", "n5"})
	waitRole(t, net, "n3", election.Leader, 3*time.Second)
	mustDo(t, net, "n3", write("b", 2))
	net.Heal()
	require.Equal(t, "n3", waitSettled(t, net, 3*time.Second))
	mustDo(t, net, "n3", write("c", 3))
	net.Run(200 * time.Millisecond) // every follower has (2,2)
	for _, id := range []string{"n4", "n5"} {
		net.Cut("n3", id)
	}
	mustDo(t, net, "n3", write("d", 4))
	for _, id := range net.IDs() {
		nd := zabNode(net, id)
		assert.Equal(t, uint64(2), nd.currentEpoch, id)
		want := makeZxid(2, 3)
		if id == "n4" || id == "n5" {
			want = makeZxid(2, 2)
		}
		assert.Equal(t, want, nd.lastZxid(), id)
	}

	net.Heal()
	restartAll(net)
	leader := waitSettled(t, net, 3*time.Second)
	assert.Equal(t, "n3", leader, "highest (epoch, zxid), highest id among those")
	for _, k := range []string{"a", "b", "c", "d"} {
		assert.True(t, mustDo(t, net, leader, read(k)).Exists, k)
	}
	assert.Empty(t, net.SafetyViolations())
	noErrors(t, net)
}

// TestFoundingRestartEqualDataHighestIDWins: with identical data on every
// server, a full restart elects the highest id.
func TestFoundingRestartEqualDataHighestIDWins(t *testing.T) {
	net := ensemble{size: 5, seed: 9}.start(t)
	// Make the first leader someone other than n5 so that the restart
	// has something to change: n5 starts late and joins as a follower.
	net.Isolate("n5")
	require.Equal(t, "n4", waitLeader(t, net, 3*time.Second))
	net.Heal()
	require.Equal(t, "n4", waitSettled(t, net, 3*time.Second))
	for i := 0; i < 3; i++ {
		mustDo(t, net, "n4", write(fmt.Sprint("k", i), int64(i)))
	}
	net.Run(300 * time.Millisecond)
	for _, id := range net.IDs() {
		nd := zabNode(net, id)
		require.Equal(t, uint64(1), nd.currentEpoch, id)
		require.Equal(t, makeZxid(1, 3), nd.lastZxid(), id)
	}
	restartAll(net)
	leader := waitSettled(t, net, 3*time.Second)
	assert.Equal(t, "n5", leader, "equal epochs and zxids: the highest id wins")
	assert.Equal(t, uint64(2), net.Node(leader).Status().Term)
	assert.Equal(t, int64(2), mustDo(t, net, leader, read("k2")).Value)
	assert.Empty(t, net.SafetyViolations())
	noErrors(t, net)
}
