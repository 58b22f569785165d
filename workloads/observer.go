package workloads

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/history"
)

// EventSink appends node events; *history.EventWriter is one.
type EventSink interface {
	Append(history.Event) error
}

// DefaultPoll is how often the observer asks every node for its status.
const DefaultPoll = 50 * time.Millisecond

// Observer polls every node's /status and records what it sees, role and
// term with Source "observer", each time a node's view changes (or the node
// comes back after a poll failed). It also keeps the latest view for the
// nemesis ("the leader at that moment") and the progress line.
type Observer struct {
	nodes    []Endpoint
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

// NewObserver returns an observer of nodes that writes to sink, stamping
// events with since (the history's clock). interval 0 means DefaultPoll.
func NewObserver(nodes []Endpoint, interval time.Duration, sink EventSink, since func(time.Time) int64) *Observer {
	if interval <= 0 {
		interval = DefaultPoll
	}
	return &Observer{nodes: nodes, interval: interval, sink: sink, since: since, seen: map[string]seen{}}
}

// Run polls until ctx is done, one goroutine per node so that a hung node
// does not delay the others. It returns the first error writing events.
func (o *Observer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, ep := range o.nodes {
		wg.Go(func() {
			if err := o.poll(ctx, ep); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return firstErr
}

func (o *Observer) poll(ctx context.Context, ep Endpoint) error {
	timeout := max(4*o.interval, 250*time.Millisecond)
	c := NewClient(ep.Node, ep.Base, timeout)
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
	changed := !prev.ok || prev.st.Role != st.Role || prev.st.Term != st.Term
	o.seen[node] = seen{st: st, at: now, ok: true}
	o.mu.Unlock()
	if !changed || o.sink == nil {
		return nil
	}
	err := o.sink.Append(history.Event{Time: o.since(now), Node: node, Event: history.EventRole,
		Role: st.Role, Term: st.Term, Source: "observer"})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Leader returns the node that claims leadership at the highest term among
// the nodes that answered within the last second, or "" when none does.
func (o *Observer) Leader() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	leader, term := "", int64(-1)
	for n, s := range o.seen {
		if !s.ok || time.Since(s.at) > time.Second || s.st.Role != "leader" {
			continue
		}
		if s.st.Term > term || (s.st.Term == term && n < leader) {
			leader, term = n, s.st.Term
		}
	}
	return leader
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

// AgreedLeader polls every node until all of them name the same leader and
// that leader says it leads, or ctx is done. It returns the leader.
func AgreedLeader(ctx context.Context, nodes []Endpoint, every time.Duration) (string, error) {
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	clients := make([]*Client, len(nodes))
	for i, ep := range nodes {
		clients[i] = NewClient(ep.Node, ep.Base, 500*time.Millisecond)
		defer clients[i].Close()
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

func agreement(ctx context.Context, clients []*Client) (string, string) {
	sts := make([]Status, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { sts[i], errs[i] = c.Status(ctx) })
	}
	wg.Wait()
	leader := ""
	for i, st := range sts {
		if errs[i] != nil {
			return "", clients[i].Node + ": " + errs[i].Error()
		}
		l := st.Leader
		if st.Role == "leader" {
			l = clients[i].Node
		}
		if l == "" {
			return "", clients[i].Node + " knows no leader"
		}
		if leader != "" && l != leader {
			return "", "nodes name different leaders (" + leader + ", " + l + ")"
		}
		leader = l
	}
	for i, st := range sts {
		if clients[i].Node == leader && st.Role != "leader" {
			return "", leader + " is named leader but reports " + st.Role
		}
	}
	return leader, ""
}
