package raft

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/simnet"
)

const (
	et = DefaultElectionTimeout
	hb = DefaultHeartbeat
)

// knob is a Config.Rand whose draws tests can pin: with fix >= 0 every
// draw is fix*n (so the timeout is ET*(1+fix)); otherwise it is random.
type knob struct {
	fix float64
	r   *rand.Rand
}

func (k *knob) Int63n(n int64) int64 {
	if k.fix >= 0 {
		return min(n-1, int64(k.fix*float64(n)))
	}
	return k.r.Int63n(n)
}

// clusterOpts configure a test cluster.
type clusterOpts struct {
	size  int
	seed  int64
	bugs  []string
	lease bool
	// fix pins nodes' election timeouts (see knob); unnamed nodes draw at random.
	fix map[string]float64
	// minDelay and maxDelay bound message delays (default 1 ms).
	minDelay, maxDelay time.Duration
}

// cluster is a simnet.Net of raft nodes n1..nN.
type cluster struct {
	*simnet.Net
	knobs map[string]*knob
}

func newCluster(t testing.TB, o clusterOpts) *cluster {
	if o.size == 0 {
		o.size = 3
	}
	ids := make([]string, o.size)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	bugSet := map[string]bool{}
	for _, b := range o.bugs {
		bugSet[b] = true
	}
	c := &cluster{knobs: map[string]*knob{}}
	for _, id := range ids {
		k := &knob{fix: -1, r: election.NewRand(o.seed, id)}
		if f, ok := o.fix[id]; ok {
			k.fix = f
		}
		c.knobs[id] = k
	}
	c.Net = simnet.New(simnet.Options{
		IDs:      ids,
		Seed:     o.seed,
		MinDelay: o.minDelay,
		MaxDelay: o.maxDelay,
		New: func(id string, recs [][]byte, now time.Time) election.Protocol {
			n, err := New(election.Config{
				ID: id, Peers: ids, Records: recs,
				ElectionTimeout: et, Heartbeat: hb,
				LeaseReads: o.lease, Rand: c.knobs[id], Bugs: bugSet, Now: now,
			})
			require.NoError(t, err)
			return n
		},
	})
	return c
}

func (c *cluster) raft(id string) *Node {
	p := c.Node(id)
	if p == nil {
		return nil
	}
	return p.(*Node)
}

// waitLeader runs until exactly one live node, not counting the excluded
// ones, leads, and returns it; it fails the test after d.
func (c *cluster) waitLeader(t testing.TB, d time.Duration, exclude ...string) string {
	t.Helper()
	var lead string
	ok := c.RunUntil(d, func() bool {
		var ls []string
		for _, l := range c.Leaders() {
			if !slices.Contains(exclude, l) {
				ls = append(ls, l)
			}
		}
		if len(ls) != 1 {
			return false
		}
		lead = ls[0]
		return true
	})
	require.True(t, ok, "no single leader within %v (leaders %v)", d, c.Leaders())
	return lead
}

func (c *cluster) write(id, key string, v int64) (election.Result, bool) {
	return c.Do(id, election.Request{Op: election.OpWrite, Key: key, Value: v}, 2*time.Second)
}

func (c *cluster) read(id, key string) (election.Result, bool) {
	return c.Do(id, election.Request{Op: election.OpRead, Key: key}, 2*time.Second)
}

func (c *cluster) others(id string) []string {
	var out []string
	for _, x := range c.IDs() {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// msgTypeHook drops messages of the given types.
func dropTypes(types ...msgType) simnet.Hook {
	return func(m *simnet.Msg) int {
		dm, err := decodeMessage(m.Payload)
		if err != nil {
			return 1
		}
		for _, t := range types {
			if dm.Type == t {
				return 0
			}
		}
		return 1
	}
}
