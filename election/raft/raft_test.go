package raft

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
)

func TestElectsExactlyOneLeader(t *testing.T) {
	for _, size := range []int{1, 3, 5} {
		for seed := int64(1); seed <= 5; seed++ {
			t.Run(fmt.Sprintf("n%d/seed%d", size, seed), func(t *testing.T) {
				c := newCluster(t, clusterOpts{size: size, seed: seed})
				lead := c.waitLeader(t, 3*time.Second)
				c.Run(2 * time.Second)
				assert.Equal(t, []string{lead}, c.Leaders(), "leadership is stable")
				term := c.raft(lead).Status().Term
				for _, id := range c.IDs() {
					st := c.raft(id).Status()
					assert.Equal(t, term, st.Term, id)
					assert.Equal(t, lead, st.Leader, id)
				}
				assert.Empty(t, c.SafetyViolations())
				assert.Empty(t, c.Errors())
			})
		}
	}
}

func TestLeaderKillElectsNewLeaderWithin2s(t *testing.T) {
	for _, size := range []int{3, 5} {
		for seed := int64(1); seed <= 5; seed++ {
			t.Run(fmt.Sprintf("n%d/seed%d", size, seed), func(t *testing.T) {
				c := newCluster(t, clusterOpts{size: size, seed: seed})
				old := c.waitLeader(t, 3*time.Second)
				oldTerm := c.raft(old).Status().Term
				c.Kill(old)
				start := c.Now()
				lead := c.waitLeader(t, 2*time.Second, old)
				assert.Less(t, c.Now().Sub(start), 2*time.Second)
				assert.Greater(t, c.raft(lead).Status().Term, oldTerm)
				c.Restart(old)
				c.Run(time.Second)
				assert.Equal(t, []string{lead}, c.Leaders(), "a restarted old leader does not disrupt")
				assert.Empty(t, c.SafetyViolations())
			})
		}
	}
}

func TestRestartKeepsTermAndVote(t *testing.T) {
	c := newCluster(t, clusterOpts{seed: 3})
	lead := c.waitLeader(t, 3*time.Second)
	for i := range 5 {
		res, ok := c.write(lead, "x", int64(i))
		require.True(t, ok)
		require.NoError(t, res.Err)
	}
	c.Run(100 * time.Millisecond)
	f := c.others(lead)[0]
	before := c.raft(f)
	term, vote, last := before.term, before.vote, before.lastIndex()
	require.NotZero(t, term)
	c.Kill(f)
	c.Restart(f)
	after := c.raft(f)
	assert.Equal(t, term, after.term)
	assert.Equal(t, vote, after.vote)
	assert.Equal(t, last, after.lastIndex())
	assert.Equal(t, term, after.Status().Term)
	assert.Equal(t, before.commit, after.commit, "known commit index survives")
	assert.Equal(t, before.kv, after.kv, "state machine rebuilt from the committed prefix")
}

func TestAckedWritesSurviveLeaderKill(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newCluster(t, clusterOpts{size: size, seed: 11})
			lead := c.waitLeader(t, 3*time.Second)
			for i := range 20 {
				res, ok := c.write(lead, fmt.Sprintf("k%d", i%5), int64(i))
				require.True(t, ok)
				require.NoError(t, res.Err)
			}
			c.Kill(lead)
			nl := c.waitLeader(t, 2*time.Second, lead)
			for i := 15; i < 20; i++ {
				res, ok := c.read(nl, fmt.Sprintf("k%d", i%5))
				require.True(t, ok)
				require.NoError(t, res.Err)
				assert.True(t, res.Exists)
				assert.Equal(t, int64(i), res.Value)
			}
			// the restarted old leader catches up from the new one
			c.Restart(lead)
			c.Run(time.Second)
			assert.Equal(t, c.raft(nl).kv, c.raft(lead).kv)
		})
	}
}

func TestCASAndReads(t *testing.T) {
	for _, lease := range []bool{false, true} {
		t.Run(fmt.Sprintf("lease=%v", lease), func(t *testing.T) {
			c := newCluster(t, clusterOpts{seed: 5, lease: lease})
			lead := c.waitLeader(t, 3*time.Second)
			cas := func(from, to int64) election.Result {
				res, ok := c.Do(lead, election.Request{Op: election.OpCAS, Key: "x", From: from, To: to}, time.Second)
				require.True(t, ok)
				return res
			}
			assert.ErrorIs(t, cas(0, 1).Err, election.ErrCASMismatch, "absent key never matches")
			res, _ := c.read(lead, "x")
			assert.False(t, res.Exists)
			res, _ = c.write(lead, "x", 5)
			require.NoError(t, res.Err)
			assert.NoError(t, cas(5, 6).Err)
			assert.ErrorIs(t, cas(5, 7).Err, election.ErrCASMismatch)
			res, _ = c.read(lead, "x")
			assert.NoError(t, res.Err)
			assert.True(t, res.Exists)
			assert.Equal(t, int64(6), res.Value)

			f := c.others(lead)[0]
			res, _ = c.read(f, "x")
			assert.ErrorIs(t, res.Err, election.ErrNotLeader)
			assert.Equal(t, lead, res.Leader)
			res, _ = c.Do(lead, election.Request{Op: "bogus"}, time.Second)
			assert.Error(t, res.Err)
		})
	}
}

func TestLeaseReadsAnswerWithoutRound(t *testing.T) {
	c := newCluster(t, clusterOpts{seed: 5, lease: true})
	lead := c.waitLeader(t, 3*time.Second)
	c.Run(200 * time.Millisecond)
	var leases int
	for _, e := range c.Events() {
		if e.Kind == "lease" && e.Node == lead {
			leases++
			assert.True(t, e.LeaseUntil.After(e.Local), "lease ends in the future")
			assert.LessOrEqual(t, e.LeaseUntil.Sub(e.Local), time.Duration(float64(et)/DriftBound))
		}
	}
	assert.Greater(t, leases, 2, "every heartbeat round extends the lease")
	n := c.raft(lead)
	n.Propose(election.Request{ID: 99, Op: election.OpRead, Key: "x"})
	rd := n.Ready()
	assert.Empty(t, rd.Results, "the lease is checked at the next Tick")
	n.Tick(c.LocalNow(lead).Add(time.Millisecond))
	rd = n.Ready()
	require.Len(t, rd.Results, 1, "served from the lease at the next Tick")
	assert.Empty(t, rd.Messages, "without a round")

	// without lease reads the same read needs a round
	c2 := newCluster(t, clusterOpts{seed: 5})
	lead = c2.waitLeader(t, 3*time.Second)
	c2.Run(200 * time.Millisecond)
	n = c2.raft(lead)
	n.Propose(election.Request{ID: 99, Op: election.OpRead, Key: "x"})
	rd = n.Ready()
	assert.Empty(t, rd.Results)
	assert.NotEmpty(t, rd.Messages)
}

func TestMalformedAndUnknownPeer(t *testing.T) {
	c := newCluster(t, clusterOpts{seed: 1})
	n := c.raft("n1")
	assert.Error(t, n.Step("n2", nil))
	assert.Error(t, n.Step("n2", []byte{0xff, 1, 2}))
	assert.Error(t, n.Step("zz", (&message{Type: msgApp, Term: 1}).encode()))
	assert.Error(t, n.Step("n1", (&message{Type: msgApp, Term: 1}).encode()), "from self")
	assert.NoError(t, n.Step("n2", (&message{Type: msgApp, Term: 1}).encode()))
}

func TestNewValidates(t *testing.T) {
	base := election.Config{ID: "a", Peers: []string{"a", "b", "c"}}
	for name, mut := range map[string]func(*election.Config){
		"not a peer":    func(c *election.Config) { c.ID = "d" },
		"dup peer":      func(c *election.Config) { c.Peers = []string{"a", "a"} },
		"hb >= et":      func(c *election.Config) { c.Heartbeat = time.Second },
		"unknown bug":   func(c *election.Config) { c.Bugs = map[string]bool{"raft.nope": true} },
		"bad records":   func(c *election.Config) { c.Records = [][]byte{{'X'}} },
		"gap in record": func(c *election.Config) { c.Records = [][]byte{entriesRecord(5, nil)} },
	} {
		cfg := base
		mut(&cfg)
		_, err := New(cfg)
		assert.Error(t, err, name)
	}
	n, err := New(base)
	require.NoError(t, err)
	assert.Equal(t, election.Follower, n.Status().Role)
}

func TestRecordsRoundTrip(t *testing.T) {
	es := []entry{{Term: 1, Kind: kindNoop}, {Term: 1, Kind: kindWrite, Key: "k", Value: -7}, {Term: 2, Kind: kindCAS, Key: "k", From: -7, To: 9}}
	recs := [][]byte{
		hardStateRecord(1, "a"),
		entriesRecord(1, es[:2]),
		hardStateRecord(2, ""),
		entriesRecord(2, es[2:]), // overwrites index 2
		hardStateRecord(2, "b"),
		commitRecord(2),
		commitRecord(1), // a stale commit record never lowers it
	}
	st, err := replay(recs)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.term)
	assert.Equal(t, "b", st.vote)
	assert.Equal(t, []entry{{}, es[0], es[2]}, st.log)
	assert.Equal(t, uint64(2), st.commit)
	_, err = replay(append(recs, commitRecord(3)))
	assert.Error(t, err, "commit beyond the log")
}

func TestMessageRoundTrip(t *testing.T) {
	m := message{Type: msgApp, Term: 3, Index: 4, LogTerm: 2, Commit: 4, Hint: 1, Ctx: 8, Entries: []entry{{Term: 3, Kind: kindWrite, Key: "x", Value: 1}}}
	got, err := decodeMessage(m.encode())
	require.NoError(t, err)
	assert.Equal(t, m, got)
	r := message{Type: msgAppResp, Term: 3, Reject: true, Index: 4, Hint: 2}
	got, err = decodeMessage(r.encode())
	require.NoError(t, err)
	assert.Equal(t, r, got)
}

// FuzzStep feeds garbage to Step: it must return an error or accept, never
// panic, and leave the node able to work.
func FuzzStep(f *testing.F) {
	f.Add((&message{Type: msgApp, Term: 2, Index: 0, Commit: 1, Entries: []entry{{Term: 2, Kind: kindWrite, Key: "k", Value: 3}}}).encode())
	f.Add((&message{Type: msgVote, Term: 5, Index: 9, LogTerm: 4}).encode())
	f.Add((&message{Type: msgAppResp, Term: 1, Index: 100, Ctx: 7}).encode())
	f.Add([]byte{})
	f.Add([]byte{5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, leader := range []bool{false, true} {
			n, err := New(election.Config{ID: "a", Peers: []string{"a", "b", "c"}, Now: time.Unix(0, 0)})
			require.NoError(t, err)
			if leader {
				n.Campaign()
				n.Step("b", (&message{Type: msgPreVoteResp, Term: 1}).encode())
				n.Step("b", (&message{Type: msgVoteResp, Term: 1}).encode())
				require.Equal(t, election.Leader, n.Status().Role)
				n.Propose(election.Request{ID: 1, Op: election.OpWrite, Key: "k", Value: 1})
			}
			_ = n.Step("b", payload)
			_ = n.Step("c", payload)
			n.Tick(time.Unix(1, 0))
			n.Propose(election.Request{ID: 2, Op: election.OpRead, Key: "k"})
			n.Ready()
			_ = n.Status()
		}
	})
}

// FuzzReplay feeds garbage records to New: an error or a node, never a panic.
func FuzzReplay(f *testing.F) {
	f.Add(hardStateRecord(3, "b"), entriesRecord(1, []entry{{Term: 1}, {Term: 2, Kind: kindCAS, Key: "k", From: 1, To: 2}}), commitRecord(2))
	f.Add([]byte{'E', 1, 0xff, 0xff, 0xff, 0x0f}, []byte{'C', 9}, []byte{})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		n, err := New(election.Config{ID: "a", Peers: []string{"a", "b"}, Records: [][]byte{a, b, c}})
		if err != nil {
			return
		}
		n.Campaign()
		n.Propose(election.Request{ID: 1, Op: election.OpRead, Key: "k"})
		n.Ready()
		_ = n.Status()
	})
}
