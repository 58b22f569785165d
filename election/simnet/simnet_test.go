package simnet

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
)

// toy is a minimal protocol: it pings every peer every 10 ms of its local
// clock, counts what it receives, persists one record per proposal and
// announces itself leader of term req.Value on each write.
type toy struct {
	id       string
	peers    []string
	restored int
	props    int
	got      map[string]int
	last     time.Time
	ticks    []time.Time
	rd       election.Ready
}

func (t *toy) Step(from string, p []byte) error {
	if len(p) == 0 {
		return errors.New("empty")
	}
	t.got[from]++
	return nil
}

func (t *toy) Tick(now time.Time) {
	t.ticks = append(t.ticks, now)
	if now.Sub(t.last) < 10*time.Millisecond {
		return
	}
	t.last = now
	for _, p := range t.peers {
		if p != t.id {
			t.rd.Messages = append(t.rd.Messages, election.Envelope{To: p, Payload: []byte("p")})
		}
	}
}

func (t *toy) Propose(r election.Request) {
	t.props++
	t.rd.Records = append(t.rd.Records, []byte("r"))
	t.rd.Results = append(t.rd.Results, election.Result{ID: r.ID, Value: int64(t.restored + t.props)})
	if r.Op == election.OpWrite {
		t.rd.Events = append(t.rd.Events, election.Event{Kind: "role", Role: election.Leader, Term: uint64(r.Value)})
	}
}

func (t *toy) Ready() election.Ready { r := t.rd; t.rd = election.Ready{}; return r }
func (t *toy) Status() election.Status {
	return election.Status{ID: t.id, Role: election.Follower}
}

func newToyNet(t *testing.T, opts Options) (*Net, map[string]*toy) {
	t.Helper()
	toys := map[string]*toy{}
	if opts.IDs == nil {
		opts.IDs = []string{"a", "b", "c"}
	}
	ids := opts.IDs
	opts.New = func(id string, recs [][]byte, now time.Time) election.Protocol {
		ty := &toy{id: id, peers: ids, restored: len(recs), got: map[string]int{}, last: now}
		toys[id] = ty
		return ty
	}
	return New(opts), toys
}

func TestDeliveryAndCut(t *testing.T) {
	n, toys := newToyNet(t, Options{Seed: 1})
	n.Run(105 * time.Millisecond) // pings at 10..100 ms arrive 1 ms later
	assert.Equal(t, 10, toys["b"].got["a"])
	n.Cut("a", "b")
	n.Run(100 * time.Millisecond)
	assert.Equal(t, 10, toys["b"].got["a"], "a->b is cut")
	assert.Equal(t, 20, toys["a"].got["b"], "b->a still works")
	n.Heal()
	n.Run(100 * time.Millisecond)
	assert.Equal(t, 20, toys["b"].got["a"])
}

func TestIsolateAndPartition(t *testing.T) {
	n, toys := newToyNet(t, Options{IDs: []string{"a", "b", "c", "d"}})
	n.Isolate("a")
	n.Run(55 * time.Millisecond)
	assert.Zero(t, toys["a"].got["b"])
	assert.Zero(t, toys["b"].got["a"])
	assert.Equal(t, 5, toys["b"].got["c"])
	n.Heal()
	n.Partition([]string{"a", "b"}, []string{"c", "d"})
	n.Run(50 * time.Millisecond)
	assert.Equal(t, 5, toys["a"].got["b"])
	assert.Zero(t, toys["a"].got["c"])
	assert.Equal(t, 10, toys["d"].got["c"])
	assert.Equal(t, 5, toys["d"].got["b"], "only from before the partition")
}

func TestKillRestartKeepsDisk(t *testing.T) {
	n, toys := newToyNet(t, Options{})
	id := n.NextID()
	n.Propose("a", election.Request{ID: id, Op: election.OpRead})
	n.Propose("a", election.Request{ID: n.NextID(), Op: election.OpRead})
	require.Len(t, n.Disk("a"), 2)
	n.Kill("a")
	assert.Nil(t, n.Node("a"))
	n.Run(50 * time.Millisecond)
	assert.Zero(t, toys["b"].got["a"], "a dead: sends nothing")
	n.Restart("a")
	assert.Equal(t, 2, toys["a"].restored)
	res, ok := n.Do("a", election.Request{Op: election.OpRead}, time.Second)
	require.True(t, ok)
	assert.Equal(t, int64(3), res.Value)
	// proposing to a dead node fails fast
	n.Kill("b")
	res, ok = n.Do("b", election.Request{Op: election.OpRead}, time.Second)
	require.True(t, ok)
	assert.ErrorIs(t, res.Err, election.ErrNotLeader)
}

func TestPauseHoldsMessages(t *testing.T) {
	n, toys := newToyNet(t, Options{})
	n.Pause("b")
	n.Run(100 * time.Millisecond)
	assert.Zero(t, toys["b"].got["a"])
	assert.Empty(t, toys["b"].ticks)
	n.Resume("b")
	n.Run(5 * time.Millisecond)
	assert.Equal(t, 10, toys["b"].got["a"], "held messages arrive after resume")
}

func TestHooks(t *testing.T) {
	n, toys := newToyNet(t, Options{})
	n.SetLinkHook("a", "b", DropHook)
	n.SetLinkHook("a", "c", DuplicateHook)
	n.SetLinkHook("b", "c", DelayHook(55*time.Millisecond))
	n.Run(105 * time.Millisecond)
	assert.Zero(t, toys["b"].got["a"])
	assert.Equal(t, 20, toys["c"].got["a"])
	assert.Equal(t, 4, toys["c"].got["b"], "sent at 10..40 ms, arriving 56 ms later")
	n.SetHook(DropHook)
	n.Run(100 * time.Millisecond)
	assert.Equal(t, 20, toys["c"].got["a"])
}

func TestClockRateAndSkew(t *testing.T) {
	n, toys := newToyNet(t, Options{})
	start := n.LocalNow("a")
	n.SetRate("a", 0.5)
	n.Run(100 * time.Millisecond)
	assert.Equal(t, 50*time.Millisecond, n.LocalNow("a").Sub(start))
	n.Run(2 * time.Millisecond)
	assert.Equal(t, 5, toys["b"].got["a"], "a's slow clock makes it ping half as often")
	assert.Equal(t, n.Now(), n.TrueTime("a", n.LocalNow("a")))
	n.Skew("b", -time.Second)
	assert.Equal(t, -time.Second, n.LocalNow("b").Sub(n.Now()))
}

func TestLeaderHistory(t *testing.T) {
	n, _ := newToyNet(t, Options{})
	n.Propose("a", election.Request{ID: 1, Op: election.OpWrite, Value: 3})
	n.Propose("b", election.Request{ID: 2, Op: election.OpWrite, Value: 4})
	assert.Empty(t, n.SafetyViolations())
	n.Propose("c", election.Request{ID: 3, Op: election.OpWrite, Value: 4})
	assert.Equal(t, []string{"b", "c"}, n.Leader(4))
	assert.Equal(t, []uint64{4}, n.SafetyViolations())
	assert.Len(t, n.Events(), 3)
}

func TestDeterministicDelays(t *testing.T) {
	run := func() []int {
		n, toys := newToyNet(t, Options{Seed: 7, MinDelay: time.Millisecond, MaxDelay: 30 * time.Millisecond})
		n.Run(95 * time.Millisecond)
		return []int{toys["a"].got["b"], toys["b"].got["c"], toys["c"].got["a"]}
	}
	assert.Equal(t, run(), run())
}

func TestStepErrorsCollected(t *testing.T) {
	n, _ := newToyNet(t, Options{})
	n.send("a", election.Envelope{To: "b", Payload: nil})
	n.Run(2 * time.Millisecond)
	assert.Len(t, n.Errors(), 1)
}

func TestFlush(t *testing.T) {
	n, toys := newToyNet(t, Options{})
	toys["a"].rd.Messages = append(toys["a"].rd.Messages, election.Envelope{To: "b", Payload: []byte("x")})
	n.Flush("a")
	n.Run(time.Millisecond)
	assert.Equal(t, 1, toys["b"].got["a"])
}
