package raft

import (
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
)

// Tests tied to claims of the Raft paper (Ongaro & Ousterhout 2014) and of
// Ongaro's thesis, one claim each, driving single nodes by hand where the
// claim is about one node's rule.

var t0 = time.Unix(1_700_000_000, 0)

// handNode builds node "a" of {a,b,c} from records.
func handNode(t *testing.T, recs ...[]byte) *Node {
	t.Helper()
	n, err := New(election.Config{ID: "a", Peers: []string{"a", "b", "c"}, Records: recs, Rand: rand.New(rand.NewSource(1)), Now: t0})
	require.NoError(t, err)
	n.Ready()
	return n
}

// makeLeader runs a's election by hand with b's votes.
func makeLeader(t *testing.T, n *Node) {
	t.Helper()
	n.Campaign()
	require.NoError(t, n.Step("b", (&message{Type: msgPreVoteResp, Term: n.term + 1}).encode()))
	require.NoError(t, n.Step("b", (&message{Type: msgVoteResp, Term: n.term}).encode()))
	require.Equal(t, election.Leader, n.Status().Role)
}

func sent(rd election.Ready) []message {
	var out []message
	for _, e := range rd.Messages {
		m, err := decodeMessage(e.Payload)
		if err != nil {
			panic(err)
		}
		out = append(out, m)
	}
	return out
}

// §5.2: "Raft uses randomized election timeouts ... chosen randomly from a
// fixed interval". Ours is [ET, 2ET).
func TestPaper5_2RandomizedElectionTimeout(t *testing.T) {
	n := handNode(t)
	seen := map[time.Duration]bool{}
	for range 200 {
		n.resetElectionTimer()
		assert.GreaterOrEqual(t, n.electionTimeout, et)
		assert.Less(t, n.electionTimeout, 2*et)
		seen[n.electionTimeout] = true
	}
	assert.Greater(t, len(seen), 50)
}

// §5.1: "If a candidate or leader discovers that its term is out of date,
// it immediately reverts to follower state", and stale-term requests are
// rejected.
func TestPaper5_1StaleLeaderStepsDown(t *testing.T) {
	c := newCluster(t, clusterOpts{seed: 2, fix: map[string]float64{"n1": 0, "n2": 0.3, "n3": 0.9}})
	require.Equal(t, "n1", c.waitLeader(t, time.Second))
	c.Pause("n1")
	nl := c.waitLeader(t, 2*time.Second, "n1")
	term := c.raft(nl).Status().Term
	c.Resume("n1")
	c.Run(10 * time.Millisecond)
	st := c.raft("n1").Status()
	assert.Equal(t, election.Follower, st.Role)
	assert.Equal(t, term, st.Term)
	assert.Equal(t, nl, st.Leader)
	assert.Equal(t, []string{nl}, c.Leaders())
}

// §5.4.1: "the voter denies its vote if its own log is more up-to-date
// than that of the candidate".
func TestPaper5_4_1UpToDateVote(t *testing.T) {
	recs := [][]byte{hardStateRecord(2, ""), entriesRecord(1, []entry{{Term: 1}, {Term: 2}})}
	for _, tc := range []struct {
		lastTerm, lastIndex uint64
		grant               bool
	}{
		{1, 9, false}, // longer log, older last term
		{2, 1, false}, // same last term, shorter
		{2, 2, true},  // identical
		{3, 1, true},  // later last term wins even if shorter
	} {
		n := handNode(t, recs...)
		require.NoError(t, n.Step("b", (&message{Type: msgVote, Term: 3, Index: tc.lastIndex, LogTerm: tc.lastTerm}).encode()))
		ms := sent(n.Ready())
		require.Len(t, ms, 1)
		assert.Equal(t, !tc.grant, ms[0].Reject, "%+v", tc)
	}
}

// §5.2: "Each server will vote for at most one candidate in a given term,
// on a first-come-first-served basis", and the vote is persisted before
// the grant leaves.
func TestPaper5_2OneVotePerTermPersistedFirst(t *testing.T) {
	n := handNode(t)
	require.NoError(t, n.Step("b", (&message{Type: msgVote, Term: 1}).encode()))
	rd := n.Ready()
	require.Len(t, rd.Records, 1, "hard state in the same Ready as the grant")
	st, err := replay(rd.Records)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.term)
	assert.Equal(t, "b", st.vote)
	assert.False(t, sent(rd)[0].Reject)
	require.NoError(t, n.Step("c", (&message{Type: msgVote, Term: 1}).encode()))
	assert.True(t, sent(n.Ready())[0].Reject, "second candidate of the same term")
	require.NoError(t, n.Step("b", (&message{Type: msgVote, Term: 1}).encode()))
	assert.False(t, sent(n.Ready())[0].Reject, "a retry by the same candidate")
}

// §5.4.2 / Figure 8: "Raft never commits log entries from previous terms
// by counting replicas. Only log entries from the leader's current term
// are committed by counting replicas."
func TestPaper5_4_2NoCommitOfPriorTermByCounting(t *testing.T) {
	n := handNode(t, hardStateRecord(2, ""), entriesRecord(1, []entry{{Term: 1}, {Term: 2, Kind: kindWrite, Key: "x", Value: 1}}))
	makeLeader(t, n) // term 3, no-op at index 3
	require.Equal(t, uint64(3), n.lastIndex())
	n.Ready()
	require.NoError(t, n.Step("b", (&message{Type: msgAppResp, Term: 3, Index: 2}).encode()))
	assert.Zero(t, n.commit, "index 2 (term 2) is on a majority but must not commit by counting")
	require.NoError(t, n.Step("b", (&message{Type: msgAppResp, Term: 3, Index: 3}).encode()))
	assert.Equal(t, uint64(3), n.commit)
	assert.Equal(t, int64(1), n.kv["x"], "earlier entries commit with it")
}

// §8: a leader "must have the latest information on which entries are
// committed ... each leader commit a blank no-op entry", and it exchanges
// heartbeats with a majority before answering a read.
func TestPaper8ReadWaitsForNoopAndQuorum(t *testing.T) {
	n := handNode(t)
	makeLeader(t, n)
	n.Ready()
	n.Propose(election.Request{ID: 7, Op: election.OpRead, Key: "x"})
	rd := n.Ready()
	assert.Empty(t, rd.Results, "no-op not committed yet")
	// b acks the no-op within round 1: the no-op commits, the read starts round 2
	require.NoError(t, n.Step("b", (&message{Type: msgAppResp, Term: 1, Index: 1, Ctx: 1}).encode()))
	rd = n.Ready()
	assert.Empty(t, rd.Results, "waiting for a quorum to ack a round sent after the read")
	ms := sent(rd)
	require.NotEmpty(t, ms)
	round := ms[len(ms)-1].Ctx
	require.NoError(t, n.Step("c", (&message{Type: msgAppResp, Term: 1, Index: 1, Ctx: round - 1}).encode()))
	assert.Empty(t, n.Ready().Results, "an ack of an older round does not confirm the read")
	require.NoError(t, n.Step("c", (&message{Type: msgAppResp, Term: 1, Index: 1, Ctx: round}).encode()))
	rd = n.Ready()
	require.Len(t, rd.Results, 1)
	assert.Equal(t, uint64(7), rd.Results[0].ID)
	assert.NoError(t, rd.Results[0].Err)
}

// Thesis §9.6: with PreVote a node that was partitioned away does not
// increase its term, so rejoining does not depose a healthy leader.
func TestThesis9_6PreVoteRejoinDoesNotDisrupt(t *testing.T) {
	c := newCluster(t, clusterOpts{seed: 4})
	lead := c.waitLeader(t, 3*time.Second)
	term := c.raft(lead).Status().Term
	f := c.others(lead)[0]
	c.Isolate(f)
	c.Run(5 * time.Second)
	assert.Equal(t, term, c.raft(f).Status().Term, "pre-votes keep the isolated node's term")
	c.Heal()
	c.Run(time.Second)
	assert.Equal(t, []string{lead}, c.Leaders())
	assert.Equal(t, term, c.raft(lead).Status().Term)
}

// etcd's CheckQuorum: a leader that cannot reach a quorum for an election
// timeout steps down, and failing requests report it.
func TestCheckQuorumStepDown(t *testing.T) {
	c := newCluster(t, clusterOpts{seed: 6})
	lead := c.waitLeader(t, 3*time.Second)
	c.Isolate(lead)
	id := c.NextID()
	c.Propose(lead, election.Request{ID: id, Op: election.OpWrite, Key: "x", Value: 1})
	c.Run(et + 2*hb)
	assert.NotEqual(t, election.Leader, c.raft(lead).Status().Role)
	var got *election.Result
	for _, r := range c.Results() {
		if r.ID == id {
			got = &r.Result
		}
	}
	require.NotNil(t, got)
	assert.ErrorIs(t, got.Err, election.ErrLostLeadership)
}

// Thesis §6.4.1 and §9.6 (leader stickiness): a follower that heard from a
// leader within an election timeout ignores (pre)vote requests, so a lease
// taken on its ack stays exclusive; after the timeout it votes again.
func TestLeaderStickiness(t *testing.T) {
	n := handNode(t)
	require.NoError(t, n.Step("b", (&message{Type: msgApp, Term: 1}).encode()))
	n.Tick(t0.Add(time.Millisecond))
	n.Ready()
	for _, typ := range []msgType{msgPreVote, msgVote} {
		require.NoError(t, n.Step("c", (&message{Type: typ, Term: 2}).encode()))
		assert.Empty(t, n.Ready().Messages, "%v ignored in lease", typ)
		assert.Equal(t, uint64(1), n.Status().Term)
	}
	n.Tick(t0.Add(time.Millisecond + et))
	n.Ready()
	require.NoError(t, n.Step("c", (&message{Type: msgVote, Term: 2}).encode()))
	ms := sent(n.Ready())
	require.Len(t, ms, 1)
	assert.False(t, ms[0].Reject)
	assert.Equal(t, "c", n.vote)
}

// A leader whose clock steps back drops its lease rather than stretch it
// (etcd #6005 and tikv #964 on leases and clocks).
func TestLeaseDroppedWhenClockStepsBack(t *testing.T) {
	c := newCluster(t, clusterOpts{seed: 5, lease: true})
	lead := c.waitLeader(t, 3*time.Second)
	c.Run(200 * time.Millisecond)
	n := c.raft(lead)
	require.True(t, n.leaseUntil.After(c.LocalNow(lead)))
	c.Skew(lead, -time.Second)
	c.Run(time.Millisecond)
	assert.False(t, n.leaseUntil.After(c.LocalNow(lead)), "no lease right after the step")
	res, ok := c.read(lead, "x")
	require.True(t, ok, "reads still work, through ReadIndex")
	assert.NoError(t, res.Err)
	c.Run(200 * time.Millisecond)
	assert.True(t, n.leaseUntil.After(c.LocalNow(lead)), "new rounds renew the lease")
}
