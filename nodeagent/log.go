package nodeagent

import (
	"sync"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

// EventLog keeps a node's events in memory, numbered from 1.
type EventLog struct {
	mu     sync.Mutex
	node   string
	events []agentapi.Event
	added  chan struct{} // closed and replaced on every Add
}

// NewEventLog returns an empty log for node.
func NewEventLog(node string) *EventLog {
	return &EventLog{node: node, added: make(chan struct{})}
}

// Add numbers ev, stamps it with the node's id and keeps it.
func (l *EventLog) Add(ev agentapi.Event) agentapi.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.Seq = int64(len(l.events)) + 1
	ev.Node = l.node
	l.events = append(l.events, ev)
	close(l.added)
	l.added = make(chan struct{})
	return ev
}

// Since returns the events with Seq >= from and a channel that is closed
// when the next event is added.
func (l *EventLog) Since(from int64) ([]agentapi.Event, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from < 1 {
		from = 1
	}
	var out []agentapi.Event
	if from <= int64(len(l.events)) {
		out = append(out, l.events[from-1:]...)
	}
	return out, l.added
}

// Len is the number of events kept.
func (l *EventLog) Len() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.events))
}
