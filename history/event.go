package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/splitbrain/splitbrain/rundir"
)

// Event is one line of events.jsonl: something a node reported about itself
// (or the observer saw of it), stamped with the harness's clock.
type Event struct {
	Time  int64       `json:"time"` // nanoseconds since the run started, as in history.jsonl
	Node  string      `json:"node"`
	Event string      `json:"event"` // "role", "lease", or anything else (kept, not judged)
	Role  rundir.Role `json:"role,omitempty"`
	Term  int64       `json:"term"`
	// Group is the shard the role is held in, for systems that lead per
	// shard (Redis Cluster: the shard's slot ranges, "0-5460"); "" for a
	// system with one leader.
	Group string `json:"group,omitempty"`
	From  int64  `json:"from,omitempty"`  // lease: start, true time
	Until int64  `json:"until,omitempty"` // lease: end, true time
	// State and SlotMap, with a cluster event (rundir.EventCluster): the
	// node's view of the cluster, its state (rundir.ClusterOK or
	// rundir.ClusterFail) and which node serves which slots, "0-5460=n1
	// 5461-10922=n2 10923-16383=n3" (by first slot).
	State   string `json:"state,omitempty"`
	SlotMap string `json:"slot_map,omitempty"`
	// Source says who saw it (rundir.SourceNode, rundir.SourceObserver).
	// Optional.
	Source rundir.Source `json:"source,omitempty"`
}

// ReadEventsFile reads events.jsonl. A missing file is no events.
func ReadEventsFile(path string) (events []Event, warnings []string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open events: %w", err)
	}
	defer f.Close()
	return ReadEvents(f, path)
}

// ReadEvents parses events; like Read, a truncated last line is dropped with
// a warning and any other bad line is a *ParseError.
func ReadEvents(r io.Reader, name string) (events []Event, warnings []string, err error) {
	warnings, err = eachLine(r, name, func(text []byte) error {
		var ev Event
		if err := json.Unmarshal(text, &ev); err != nil {
			return fmt.Errorf("not an event: %v", err)
		}
		if err := checkEvent(&ev); err != nil {
			return err
		}
		events = append(events, ev)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return events, warnings, nil
}

func checkEvent(ev *Event) error {
	switch {
	case ev.Node == "":
		return errors.New(`"node" is missing`)
	case ev.Event == "":
		return errors.New(`"event" is missing`)
	case ev.Event == rundir.EventRole && ev.Role == "":
		return errors.New(`a role event needs "role"`)
	case ev.Event == rundir.EventCluster && ev.State == "":
		return errors.New(`a cluster event needs "state"`)
	case ev.Event == rundir.EventLease && ev.Until < ev.From:
		return fmt.Errorf("lease ends (%d) before it starts (%d)", ev.Until, ev.From)
	}
	return nil
}

// EventWriter appends events to events.jsonl as they happen.
type EventWriter struct {
	w *lockedFile
}

// CreateEvents opens path for a run's events.
func CreateEvents(path string) (*EventWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create events: %w", err)
	}
	return &EventWriter{w: &lockedFile{f: f}}, nil
}

// Append writes one event.
func (w *EventWriter) Append(ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return w.w.writeLine(b)
}

// Close syncs and closes the file.
func (w *EventWriter) Close() error { return w.w.close() }
