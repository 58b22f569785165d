package node

import (
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/election"
)

// eventWriter prints events as JSON lines. Each line goes out in a single
// Write with no buffering in between, so the harness reading the node's
// stdout sees (and timestamps) an event the moment it happens.
type eventWriter struct {
	mu     sync.Mutex
	w      io.Writer
	id     string
	log    *slog.Logger
	failed bool
}

// eventLine is the wire form of an event (docs/node-contract.md).
type eventLine struct {
	Event        string `json:"event"`
	ID           string `json:"id"`
	Role         string `json:"role,omitempty"`
	Term         uint64 `json:"term"`
	UntilLocalMS *int64 `json:"until_local_ms,omitempty"`
	LocalMS      int64  `json:"local_ms"`
}

func (e *eventWriter) role(role election.Role, term uint64, now time.Time) {
	e.write(eventLine{Event: "role", ID: e.id, Role: string(role), Term: term, LocalMS: now.UnixMilli()})
}

func (e *eventWriter) lease(term uint64, until, now time.Time) {
	ms := until.UnixMilli()
	e.write(eventLine{Event: "lease", ID: e.id, Term: term, UntilLocalMS: &ms, LocalMS: now.UnixMilli()})
}

// other prints an event kind the contract does not know yet, rather than
// hide it: a protocol that announces something wants it seen.
func (e *eventWriter) other(ev election.Event, now time.Time) {
	e.write(eventLine{Event: ev.Kind, ID: e.id, Role: string(ev.Role), Term: ev.Term, LocalMS: now.UnixMilli()})
}

func (e *eventWriter) write(l eventLine) {
	b, err := json.Marshal(l)
	if err != nil {
		return // cannot happen: the struct holds only strings and numbers
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(b); err != nil && !e.failed {
		// Keep running: the ensemble must not lose a member because the
		// harness stopped reading; say so once.
		e.failed = true
		e.log.Error("cannot write events", "err", err)
	}
}
