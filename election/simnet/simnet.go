// Package simnet is a deterministic in-memory network and virtual clock that
// drives a set of election.Protocol nodes. It is for tests only: nothing in
// it is safe for concurrent use, and time advances only when Run is called.
//
// A Net owns, per node, the live protocol (nil while the node is dead), an
// in-memory "disk" holding every record the node asked to persist, and a
// local clock (true time skewed by an offset and a rate). Every call into a
// protocol is followed by draining its Ready: records go to the disk first,
// then messages enter the network, then results and events are collected,
// which is the order election.Ready demands of a runner.
//
// Faults: Kill/Restart (state lost, disk kept), Pause/Resume (no ticks,
// deliveries held back), Cut/Isolate/Partition/Heal (links down, one way or
// both), per-link hooks that drop, delay or duplicate messages, and clock
// offset and rate. All randomness comes from one seeded source.
package simnet

import (
	"container/heap"
	"fmt"
	"math/rand"
	"sort"
	"time"

	"github.com/splitbrain/splitbrain/election"
)

// Constructor builds (or rebuilds, after Restart) the protocol of node id
// from the records on its disk, at local clock time now.
type Constructor func(id string, records [][]byte, now time.Time) election.Protocol

// Options configure a Net.
type Options struct {
	IDs  []string    // the nodes, in a fixed order
	New  Constructor // builds each node
	Seed int64       // seeds message delays
	// Start is the virtual time at which the run begins; zero means
	// 2026-01-01T00:00:00Z.
	Start time.Time
	// Step is how far Run advances virtual time per step; default 1 ms.
	Step time.Duration
	// MinDelay and MaxDelay bound the one-way delay of a message, drawn
	// uniformly; both default to Step.
	MinDelay, MaxDelay time.Duration
}

// Msg is a message in flight. Hooks may change Delay (relative to SentAt).
type Msg struct {
	From, To string
	Payload  []byte
	SentAt   time.Time     // true time of sending
	Delay    time.Duration // delivered at SentAt+Delay (or later, if the receiver is paused)
	seq      uint64
	at       time.Time // delivery time
}

// Hook inspects a message as it is sent and returns how many copies to
// deliver: 0 drops it, 1 delivers it, 2 or more duplicates it. It may change
// m.Delay.
type Hook func(m *Msg) int

// Result is a client result together with where and when it came back.
type Result struct {
	Node string
	At   time.Time // true time
	election.Result
}

// Event is a protocol event stamped with the true time and the node's local
// clock reading at which it was announced. A local time L after the event
// maps to true time At + (L-Local)/Rate while the rate stays unchanged.
type Event struct {
	Node  string
	At    time.Time // true time
	Local time.Time // the node's clock
	Rate  float64   // the node's clock rate at the time (see SetRate)
	election.Event
}

// TrueTime maps a reading l of the node's clock, taken after the event, to
// true time, assuming the clock kept its rate and was not stepped.
func (e Event) TrueTime(l time.Time) time.Time {
	return e.At.Add(time.Duration(float64(l.Sub(e.Local)) / e.Rate))
}

// node is one member of the network.
type node struct {
	id     string
	p      election.Protocol // nil while dead
	disk   [][]byte
	paused bool
	held   []*Msg // delivered while paused, in order
	// local clock: local = base + (now - trueBase) * rate + offset
	base     time.Time
	trueBase time.Time
	rate     float64
}

// Net is the simulated network. Create it with New.
type Net struct {
	opts    Options
	now     time.Time
	rng     *rand.Rand
	ids     []string
	nodes   map[string]*node
	queue   msgQueue
	seq     uint64
	cut     map[[2]string]bool
	hooks   map[[2]string]Hook
	hook    Hook
	results []Result
	events  []Event
	errs    []error
	leaders map[uint64][]string
	nextID  uint64
}

// New builds a Net and starts every node with an empty disk.
func New(opts Options) *Net {
	if opts.Step <= 0 {
		opts.Step = time.Millisecond
	}
	if opts.MinDelay <= 0 {
		opts.MinDelay = opts.Step
	}
	if opts.MaxDelay < opts.MinDelay {
		opts.MaxDelay = opts.MinDelay
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	n := &Net{
		opts:    opts,
		now:     opts.Start,
		rng:     rand.New(rand.NewSource(opts.Seed)),
		ids:     append([]string(nil), opts.IDs...),
		nodes:   map[string]*node{},
		cut:     map[[2]string]bool{},
		hooks:   map[[2]string]Hook{},
		leaders: map[uint64][]string{},
	}
	for _, id := range n.ids {
		n.nodes[id] = &node{id: id, base: n.now, trueBase: n.now, rate: 1}
	}
	for _, id := range n.ids {
		n.start(n.nodes[id])
	}
	return n
}

// Now is the true virtual time.
func (n *Net) Now() time.Time { return n.now }

// IDs lists the nodes.
func (n *Net) IDs() []string { return append([]string(nil), n.ids...) }

// Node returns the live protocol of id, or nil if it is dead.
func (n *Net) Node(id string) election.Protocol { return n.must(id).p }

// Disk returns a copy of the records persisted by id.
func (n *Net) Disk(id string) [][]byte {
	return append([][]byte(nil), n.must(id).disk...)
}

func (n *Net) must(id string) *node {
	nd, ok := n.nodes[id]
	if !ok {
		panic(fmt.Sprintf("simnet: unknown node %q", id))
	}
	return nd
}

// LocalNow is id's clock reading now.
func (n *Net) LocalNow(id string) time.Time { return n.must(id).local(n.now) }

func (nd *node) local(t time.Time) time.Time {
	return nd.base.Add(time.Duration(float64(t.Sub(nd.trueBase)) * nd.rate))
}

// TrueTime converts a reading of id's clock to true time, assuming the
// clock's current offset and rate held throughout.
func (n *Net) TrueTime(id string, local time.Time) time.Time {
	nd := n.must(id)
	return nd.trueBase.Add(time.Duration(float64(local.Sub(nd.base)) / nd.rate))
}

// Skew steps id's clock by d (it may step backwards).
func (n *Net) Skew(id string, d time.Duration) {
	nd := n.must(id)
	nd.base, nd.trueBase = nd.local(n.now).Add(d), n.now
}

// SetRate makes id's clock run at rate times true speed from now on (1 is
// exact, 0.5 half speed). Rate must be positive.
func (n *Net) SetRate(id string, rate float64) {
	if rate <= 0 {
		panic("simnet: clock rate must be positive")
	}
	nd := n.must(id)
	nd.base, nd.trueBase, nd.rate = nd.local(n.now), n.now, rate
}

// Kill drops id's in-memory state; its disk survives. Messages to it are
// lost while it is dead.
func (n *Net) Kill(id string) {
	nd := n.must(id)
	nd.p, nd.held = nil, nil
}

// Restart rebuilds a killed node from its disk. Restarting a live node kills
// it first.
func (n *Net) Restart(id string) {
	nd := n.must(id)
	nd.p, nd.held = nil, nil
	n.start(nd)
}

func (n *Net) start(nd *node) {
	recs := make([][]byte, len(nd.disk))
	for i, r := range nd.disk {
		recs[i] = append([]byte(nil), r...)
	}
	if len(recs) == 0 {
		recs = nil
	}
	nd.p = n.opts.New(nd.id, recs, nd.local(n.now))
	n.drain(nd)
}

// Flush drains id's Ready now (records, messages, results, events). Use it
// after calling a node's methods directly; otherwise its output waits for
// the next Tick.
func (n *Net) Flush(id string) { n.drain(n.must(id)) }

// Pause stops ticking id (the pause survives Kill and Restart) and holds back messages to it until Resume.
func (n *Net) Pause(id string) { n.must(id).paused = true }

// Resume undoes Pause; the messages held back arrive in the next step.
func (n *Net) Resume(id string) {
	nd := n.must(id)
	nd.paused = false
	for _, m := range nd.held {
		m.at = n.now
		heap.Push(&n.queue, m)
	}
	nd.held = nil
}

// Cut drops every message from a to b (one way) until healed.
func (n *Net) Cut(a, b string) { n.cut[[2]string{a, b}] = true }

// CutBoth cuts the link between a and b in both directions.
func (n *Net) CutBoth(a, b string) { n.Cut(a, b); n.Cut(b, a) }

// Isolate cuts id off from every other node, both ways.
func (n *Net) Isolate(id string) {
	for _, o := range n.ids {
		if o != id {
			n.CutBoth(id, o)
		}
	}
}

// Partition splits the nodes into the given groups: links inside a group
// work, links across groups are cut both ways. Nodes not named form one more
// group.
func (n *Net) Partition(groups ...[]string) {
	group := map[string]int{}
	for i, g := range groups {
		for _, id := range g {
			group[id] = i + 1
		}
	}
	for _, a := range n.ids {
		for _, b := range n.ids {
			if a != b && group[a] != group[b] {
				n.Cut(a, b)
			}
		}
	}
}

// Heal restores every link and removes every link hook (not the global hook).
func (n *Net) Heal() {
	n.cut = map[[2]string]bool{}
	n.hooks = map[[2]string]Hook{}
}

// HealLink restores the link from a to b.
func (n *Net) HealLink(a, b string) { delete(n.cut, [2]string{a, b}) }

// SetLinkHook installs h on messages from a to b; nil removes it.
func (n *Net) SetLinkHook(a, b string, h Hook) {
	if h == nil {
		delete(n.hooks, [2]string{a, b})
		return
	}
	n.hooks[[2]string{a, b}] = h
}

// SetHook installs h on every message, after any link hook; nil removes it.
func (n *Net) SetHook(h Hook) { n.hook = h }

// DropHook drops every message.
func DropHook(*Msg) int { return 0 }

// DelayHook adds d to every message's delay.
func DelayHook(d time.Duration) Hook { return func(m *Msg) int { m.Delay += d; return 1 } }

// DuplicateHook delivers every message twice.
func DuplicateHook(*Msg) int { return 2 }

// NextID returns a fresh request ID.
func (n *Net) NextID() uint64 { n.nextID++; return n.nextID }

// Propose hands req to node id. Proposing to a dead or paused node answers
// ErrNotLeader at once (the client could not reach it).
func (n *Net) Propose(id string, req election.Request) {
	nd := n.must(id)
	if nd.p == nil || nd.paused {
		n.results = append(n.results, Result{Node: id, At: n.now, Result: election.Result{ID: req.ID, Err: election.ErrNotLeader}})
		return
	}
	nd.p.Propose(req)
	n.drain(nd)
}

// Do proposes req (assigning a fresh ID when req.ID is 0) to id and runs
// until its result comes back or timeout passes; ok is false on timeout.
func (n *Net) Do(id string, req election.Request, timeout time.Duration) (res election.Result, ok bool) {
	if req.ID == 0 {
		req.ID = n.NextID()
	}
	from := len(n.results)
	n.Propose(id, req)
	deadline := n.now.Add(timeout)
	for {
		for _, r := range n.results[from:] {
			if r.ID == req.ID && r.Node == id {
				return r.Result, true
			}
		}
		if !n.now.Before(deadline) {
			return election.Result{}, false
		}
		n.step()
	}
}

// Run advances virtual time by d, one Step at a time.
func (n *Net) Run(d time.Duration) {
	end := n.now.Add(d)
	for n.now.Before(end) {
		n.step()
	}
}

// RunUntil steps until cond holds or d passes; it reports whether cond held.
func (n *Net) RunUntil(d time.Duration, cond func() bool) bool {
	end := n.now.Add(d)
	for !cond() {
		if !n.now.Before(end) {
			return false
		}
		n.step()
	}
	return true
}

// step advances time by one Step: it delivers every due message, then ticks
// every live, running node.
func (n *Net) step() {
	n.now = n.now.Add(n.opts.Step)
	for n.queue.Len() > 0 && !n.queue[0].at.After(n.now) {
		m := heap.Pop(&n.queue).(*Msg)
		nd := n.nodes[m.To]
		if nd.paused && nd.p != nil {
			nd.held = append(nd.held, m)
			continue
		}
		if nd.p == nil || n.cut[[2]string{m.From, m.To}] {
			continue
		}
		if err := nd.p.Step(m.From, m.Payload); err != nil {
			n.errs = append(n.errs, fmt.Errorf("%s <- %s at %s: %w", m.To, m.From, n.now.Sub(n.opts.Start), err))
		}
		n.drain(nd)
	}
	for _, id := range n.ids {
		nd := n.nodes[id]
		if nd.p == nil || nd.paused {
			continue
		}
		nd.p.Tick(nd.local(n.now))
		n.drain(nd)
	}
}

// drain empties nd's Ready: disk first, then network, results and events.
func (n *Net) drain(nd *node) {
	if nd.p == nil {
		return
	}
	rd := nd.p.Ready()
	for _, r := range rd.Records {
		nd.disk = append(nd.disk, append([]byte(nil), r...))
	}
	for _, env := range rd.Messages {
		n.send(nd.id, env)
	}
	for _, r := range rd.Results {
		n.results = append(n.results, Result{Node: nd.id, At: n.now, Result: r})
	}
	for _, e := range rd.Events {
		n.events = append(n.events, Event{Node: nd.id, At: n.now, Local: nd.local(n.now), Rate: nd.rate, Event: e})
		if e.Kind == "role" && e.Role == election.Leader {
			n.noteLeader(e.Term, nd.id)
		}
	}
}

func (n *Net) noteLeader(term uint64, id string) {
	for _, l := range n.leaders[term] {
		if l == id {
			return
		}
	}
	n.leaders[term] = append(n.leaders[term], id)
}

func (n *Net) send(from string, env election.Envelope) {
	if _, ok := n.nodes[env.To]; !ok || env.To == from {
		n.errs = append(n.errs, fmt.Errorf("%s sent to unknown node %q", from, env.To))
		return
	}
	if n.cut[[2]string{from, env.To}] {
		return
	}
	m := &Msg{From: from, To: env.To, Payload: append([]byte(nil), env.Payload...), SentAt: n.now, Delay: n.delay()}
	copies := 1
	if h := n.hooks[[2]string{from, env.To}]; h != nil {
		copies = h(m)
	}
	if copies > 0 && n.hook != nil {
		copies *= n.hook(m)
	}
	for i := 0; i < copies; i++ {
		c := *m
		n.seq++
		c.seq = n.seq
		c.at = c.SentAt.Add(c.Delay)
		heap.Push(&n.queue, &c)
	}
}

func (n *Net) delay() time.Duration {
	lo, hi := n.opts.MinDelay, n.opts.MaxDelay
	if hi == lo {
		return lo
	}
	return lo + time.Duration(n.rng.Int63n(int64(hi-lo)+1))
}

// Results returns every result collected so far.
func (n *Net) Results() []Result { return append([]Result(nil), n.results...) }

// NumResults is len(Results()) without the copy.
func (n *Net) NumResults() int { return len(n.results) }

// Events returns every event collected so far.
func (n *Net) Events() []Event { return append([]Event(nil), n.events...) }

// Errors returns the errors Step returned, in order.
func (n *Net) Errors() []error { return append([]error(nil), n.errs...) }

// Leaders lists the live nodes whose Status says they lead, in ID order.
func (n *Net) Leaders() []string {
	var out []string
	for _, id := range n.ids {
		if p := n.nodes[id].p; p != nil && p.Status().Role == election.Leader {
			out = append(out, id)
		}
	}
	return out
}

// Leader returns every node that announced itself leader of term (from role
// events), in the order they did. Election safety holds when it never has
// more than one element.
func (n *Net) Leader(term uint64) []string { return append([]string(nil), n.leaders[term]...) }

// SafetyViolations lists the terms that had more than one leader, ascending.
func (n *Net) SafetyViolations() []uint64 {
	var out []uint64
	for t, ls := range n.leaders {
		if len(ls) > 1 {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// msgQueue is a heap of messages ordered by delivery time, then send order.
type msgQueue []*Msg

func (q msgQueue) Len() int { return len(q) }
func (q msgQueue) Less(i, j int) bool {
	if c := q[i].at.Compare(q[j].at); c != 0 {
		return c < 0
	}
	return q[i].seq < q[j].seq
}
func (q msgQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *msgQueue) Push(x any)   { *q = append(*q, x.(*Msg)) }
func (q *msgQueue) Pop() any {
	old := *q
	m := old[len(old)-1]
	*q = old[:len(old)-1]
	return m
}
