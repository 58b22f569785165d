package zab

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/simnet"
)

// ensemble describes a simulated ZAB ensemble for simnet.
type ensemble struct {
	size int
	seed int64
	bugs map[string]bool
	// tweak adjusts one node's config before it is built (per-node timeouts
	// stand in for slow or fast machines in scripted scenarios).
	tweak func(cfg *election.Config)
}

func peerIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	return ids
}

// start builds the ensemble on a simnet with 1 ms steps and 1-3 ms delays.
func (e ensemble) start(t testing.TB) *simnet.Net {
	t.Helper()
	ids := peerIDs(e.size)
	return simnet.New(simnet.Options{
		IDs:      ids,
		Seed:     e.seed,
		Step:     time.Millisecond,
		MinDelay: time.Millisecond,
		MaxDelay: 3 * time.Millisecond,
		New: func(id string, recs [][]byte, now time.Time) election.Protocol {
			cfg := election.Config{
				ID:              id,
				Peers:           ids,
				Records:         recs,
				ElectionTimeout: 300 * time.Millisecond,
				Heartbeat:       50 * time.Millisecond,
				Bugs:            e.bugs,
				Now:             now,
			}
			if e.tweak != nil {
				e.tweak(&cfg)
			}
			nd, err := New(cfg)
			require.NoError(t, err)
			return nd
		},
	})
}

// zabNode returns the live *Node of id, or nil.
func zabNode(net *simnet.Net, id string) *Node {
	p := net.Node(id)
	if p == nil {
		return nil
	}
	return p.(*Node)
}

// settled reports whether exactly one live node leads and every other live
// node follows it in broadcast phase.
func settled(net *simnet.Net) (string, bool) {
	ls := net.Leaders()
	if len(ls) != 1 {
		return "", false
	}
	for _, id := range net.IDs() {
		nd := zabNode(net, id)
		if nd == nil || id == ls[0] {
			continue
		}
		if nd.state != stateFollowing || nd.f.phase != phaseBroadcast || nd.names[nd.leader] != ls[0] {
			return "", false
		}
	}
	return ls[0], true
}

// waitSettled runs until the ensemble settles on one leader.
func waitSettled(t testing.TB, net *simnet.Net, d time.Duration) string {
	t.Helper()
	var leader string
	ok := net.RunUntil(d, func() bool {
		var ok bool
		leader, ok = settled(net)
		return ok
	})
	if !ok {
		for _, id := range net.IDs() {
			if nd := zabNode(net, id); nd != nil {
				t.Logf("%s", nd.debugString())
			}
		}
	}
	require.True(t, ok, "no settled leader within %s; leaders %v", d, net.Leaders())
	return leader
}

// waitLeader runs until some live node leads and returns it.
func waitLeader(t testing.TB, net *simnet.Net, d time.Duration) string {
	t.Helper()
	ok := net.RunUntil(d, func() bool { return len(net.Leaders()) == 1 })
	require.True(t, ok, "no leader within %s; leaders %v", d, net.Leaders())
	return net.Leaders()[0]
}

func write(key string, v int64) election.Request {
	return election.Request{Op: election.OpWrite, Key: key, Value: v}
}

func read(key string) election.Request { return election.Request{Op: election.OpRead, Key: key} }

// mustDo runs req at id and requires a successful result.
func mustDo(t testing.TB, net *simnet.Net, id string, req election.Request) election.Result {
	t.Helper()
	res, ok := net.Do(id, req, 2*time.Second)
	require.True(t, ok, "%s %s at %s timed out", req.Op, req.Key, id)
	require.NoError(t, res.Err, "%s %s at %s", req.Op, req.Key, id)
	return res
}

// noErrors requires that no node rejected a message.
func noErrors(t testing.TB, net *simnet.Net) {
	t.Helper()
	require.Empty(t, net.Errors())
}

// peek decodes a payload for hooks; it returns nil for anything undecodable.
func peek(payload []byte) *message {
	m, err := decode(payload)
	if err != nil {
		return nil
	}
	return m
}

type simnetMsg = simnet.Msg

// waitRole runs until node id reports role.
func waitRole(t testing.TB, net *simnet.Net, id string, role election.Role, d time.Duration) {
	t.Helper()
	ok := net.RunUntil(d, func() bool { p := net.Node(id); return p != nil && p.Status().Role == role })
	require.True(t, ok, "%s not %s within %s", id, role, d)
}

func (n *Node) debugString() string {
	s := fmt.Sprintf("%s %s round=%d acc=%d cur=%d last=%#x commit=%#x leader=%d decided=%+v", n.id, n.state, n.round, n.acceptedEpoch, n.currentEpoch, n.lastZxid(), n.commit, n.leader, n.decided)
	if n.f != nil {
		s += fmt.Sprintf(" f=%+v", *n.f)
	}
	if n.l != nil {
		s += fmt.Sprintf(" l.phase=%d epoch=%d", n.l.phase, n.l.epoch)
		for sid, p := range n.l.peers {
			s += fmt.Sprintf(" [%d %+v]", sid, *p)
		}
	}
	return s
}
