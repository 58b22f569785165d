package workloads

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// EventSink appends node events; *history.EventWriter is one.
type EventSink interface {
	Append(history.Event) error
}

// DefaultPoll is how often the observer asks every node for its status.
const DefaultPoll = 50 * time.Millisecond

// Observer polls every node's /status and records what it sees, role, term
// and group with Source "observer", each time a node's view changes (or the
// node comes back after a poll failed). It also keeps the latest view for the
// nemesis ("the leader at that moment") and the progress line.
type Observer struct {
	nodes    []Endpoint
	dial     Dial
	interval time.Duration
	sink     EventSink
	since    func(time.Time) int64

	mu   sync.Mutex
	seen map[string]seen
}

type seen struct {
	st Status
	at time.Time // when the poll answered
	ok bool      // the last poll answered
}

// NewObserver returns an observer of nodes, reached through dial
// (DialContract when nil), that writes to sink, stamping events with since
// (the history's clock). interval 0 means DefaultPoll.
func NewObserver(nodes []Endpoint, dial Dial, interval time.Duration, sink EventSink, since func(time.Time) int64) *Observer {
	if interval <= 0 {
		interval = DefaultPoll
	}
	if dial == nil {
		dial = DialContract
	}
	return &Observer{nodes: nodes, dial: dial, interval: interval, sink: sink, since: since, seen: map[string]seen{}}
}

// Run polls until ctx is done, one goroutine per node so that a hung node
// does not delay the others. It returns the first error writing events,
// which stops the other pollers.
func (o *Observer) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, ep := range o.nodes {
		g.Go(func() error { return o.poll(ctx, ep) })
	}
	return g.Wait()
}

func (o *Observer) poll(ctx context.Context, ep Endpoint) error {
	timeout := max(4*o.interval, 250*time.Millisecond)
	c, err := o.dial(ep, timeout)
	if err != nil {
		return fmt.Errorf("observer: client of %s: %w", ep.Node, err)
	}
	defer c.Close()
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for {
		st, err := c.Status(ctx)
		now := time.Now()
		if ctx.Err() != nil {
			return nil
		}
		if err := o.record(ep.Node, st, err, now); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (o *Observer) record(node string, st Status, perr error, now time.Time) error {
	o.mu.Lock()
	prev := o.seen[node]
	if perr != nil {
		prev.ok = false
		o.seen[node] = prev
		o.mu.Unlock()
		return nil
	}
	if st.Role == "" {
		st.Role = "unknown"
	}
	changed := !prev.ok || prev.st.Role != st.Role || prev.st.Term != st.Term || prev.st.Group != st.Group
	o.seen[node] = seen{st: st, at: now, ok: true}
	o.mu.Unlock()
	if !changed || o.sink == nil {
		return nil
	}
	err := o.sink.Append(history.Event{Time: o.since(now), Node: node, Event: rundir.EventRole,
		Role: st.Role, Term: st.Term, Group: st.Group, Source: rundir.SourceObserver})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Leader is the leader by the one rule of package timeline
// (timeline.Leader) over the nodes that answered within the last second:
// the node claiming leadership at the highest term any of them reports, or
// "" when none does. A node it has not heard from lately is left out: what
// it said last is no longer news. For a system that leads per group (Redis
// Cluster's shards) the rule holds in each group, and Leader is the leader
// of the group with the highest term (the latest elected; by group name
// on a tie), so that faults aimed at "the leader" hit a legitimate one.
func (o *Observer) Leader() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	groups := map[string][]timeline.Claim{}
	for n, s := range o.recent() {
		groups[s.st.Group] = append(groups[s.st.Group], timeline.Claim{Node: n, Role: s.st.Role, Term: s.st.Term})
	}
	best, bestTerm, bestGroup := "", int64(0), ""
	for g, claims := range groups {
		l := timeline.Leader(claims)
		if l == "" {
			continue
		}
		term := o.seen[l].st.Term
		if best == "" || term > bestTerm || (term == bestTerm && g < bestGroup) {
			best, bestTerm, bestGroup = l, term, g
		}
	}
	return best
}

// recent is the nodes that answered within the last second; o.mu held.
func (o *Observer) recent() map[string]seen {
	out := map[string]seen{}
	for n, s := range o.seen {
		if s.ok && time.Since(s.at) <= time.Second {
			out[n] = s
		}
	}
	return out
}

// Followers returns the nodes that answered within the last second naming
// leader as their leader without claiming leadership themselves (a Redis
// master's replicas), sorted.
func (o *Observer) Followers(leader string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for n, s := range o.recent() {
		if n != leader && s.st.Leader == leader && s.st.Role != rundir.RoleLeader {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Reachable returns the nodes whose last poll answered, sorted.
func (o *Observer) Reachable() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for n, s := range o.seen {
		if s.ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// named is a node's connection and the node's id.
type named struct {
	Node string
	Conn
}

// AgreedLeader polls every node, reached through dial (DialContract when
// nil), until all of them name the same leader and that leader says it
// leads, or ctx is done. It returns the leader.
func AgreedLeader(ctx context.Context, nodes []Endpoint, dial Dial, every time.Duration) (string, error) {
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	if dial == nil {
		dial = DialContract
	}
	clients := make([]named, len(nodes))
	for i, ep := range nodes {
		c, err := dial(ep, 500*time.Millisecond)
		if err != nil {
			return "", fmt.Errorf("client of %s: %w", ep.Node, err)
		}
		defer c.Close()
		clients[i] = named{ep.Node, c}
	}
	last := "no node answered"
	for {
		leader, why := agreement(ctx, clients)
		if leader != "" {
			return leader, nil
		}
		last = why
		select {
		case <-ctx.Done():
			return "", errors.New("no leader all nodes agree on: " + last)
		case <-time.After(every):
		}
	}
}

// agreement asks every node once. It names the leader when every node
// answers, timeline.Leader names one from their answers, and every node
// names that one as its leader; otherwise it says why not.
func agreement(ctx context.Context, clients []named) (string, string) {
	sts := make([]Status, len(clients))
	errs := make([]error, len(clients))
	var g errgroup.Group
	for i, c := range clients {
		g.Go(func() error {
			sts[i], errs[i] = c.Status(ctx)
			return nil // an unanswered poll is a reason, below
		})
	}
	_ = g.Wait()
	claims := make([]timeline.Claim, len(clients))
	for i, st := range sts {
		if errs[i] != nil {
			return "", clients[i].Node + ": " + errs[i].Error()
		}
		claims[i] = timeline.Claim{Node: clients[i].Node, Role: st.Role, Term: st.Term}
	}
	leader := timeline.Leader(claims)
	if leader == "" {
		return "", "no node leads the highest term reported"
	}
	for i, st := range sts {
		named := st.Leader
		if clients[i].Node == leader {
			named = leader // it claims leadership: Leader checked that
		}
		switch {
		case named == "":
			return "", clients[i].Node + " knows no leader"
		case named != leader:
			return "", "nodes name different leaders (" + leader + ", " + named + ")"
		}
	}
	return leader, ""
}
