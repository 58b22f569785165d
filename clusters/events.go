package clusters

import (
	"time"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
	"github.com/splitbrain/splitbrain/rundir"
)

// Event is one stamped node event (see agentapi.Event): Time is the host's
// clock, which all containers share; lease bounds are already converted to
// true time with the skew the agent applied.
type Event = agentapi.Event

// Event sources.
const (
	SourceNode  = agentapi.SourceNode
	SourceAgent = agentapi.SourceAgent
)

// HistoryEvent converts ev for events.jsonl, with times in nanoseconds
// since start (the run's start on the host clock). Node events get Source
// "node"; agent events (start, exit, pause, ...) get "agent".
func HistoryEvent(ev Event, start time.Time) history.Event {
	h := history.Event{
		Time:   ev.Time.Sub(start).Nanoseconds(),
		Node:   ev.Node,
		Event:  ev.Event,
		Role:   rundir.Role(ev.Role),
		Term:   ev.Term,
		Source: rundir.Source(ev.Source),
	}
	if !ev.From.IsZero() {
		h.From = ev.From.Sub(start).Nanoseconds()
	}
	if !ev.Until.IsZero() {
		h.Until = ev.Until.Sub(start).Nanoseconds()
	}
	return h
}

// follow delivers node id's events to OnEvent until Teardown, reconnecting
// when the stream breaks.
func (e *Ensemble) follow(id string, next *int64) {
	defer e.evWG.Done()
	a := &agentapi.Client{Base: e.agents[id].Base, HTTP: eventHTTP}
	for e.evCtx.Err() == nil {
		err := a.Events(e.evCtx, *next, true, func(ev Event) error {
			*next = ev.Seq + 1
			e.opts.OnEvent(ev)
			return nil
		})
		if e.evCtx.Err() != nil {
			return
		}
		if err != nil {
			e.logf("events of %s: %v (reconnecting)", id, err)
		}
		select {
		case <-e.evCtx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
