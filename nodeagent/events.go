package nodeagent

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

// ParseLine turns one stdout line of the server, read at true time at, into
// an event. Only JSON objects with a non-empty string "event" are events;
// ok is false for any other line (plain log output). Fields of the wrong
// type are ignored rather than failing the line.
//
// A lease (any event with "until_local_ms") is held, as the node contract
// says, from the line's arrival (at) until "until_local_ms", read on the
// node's skewed clock and converted to true time with skew. A lease never
// ends before it starts: an earlier end is clamped to the start.
func ParseLine(line []byte, at time.Time, skew Skew) (ev agentapi.Event, ok bool) {
	line = bytes.TrimSpace(line)
	if len(line) < 2 || line[0] != '{' || !json.Valid(line) {
		return ev, false
	}
	var l struct {
		Event      any `json:"event"`
		Role       any `json:"role"`
		Term       any `json:"term"`
		UntilLocal any `json:"until_local_ms"`
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&l); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return ev, false
		}
	}
	kind, _ := l.Event.(string)
	if kind == "" {
		return ev, false
	}
	ev = agentapi.Event{
		Time:   at,
		Source: agentapi.SourceNode,
		Event:  kind,
		Line:   json.RawMessage(append([]byte(nil), line...)),
	}
	ev.Role, _ = l.Role.(string)
	if t, ok := number(l.Term); ok {
		ev.Term = t
	}
	if until, ok := number(l.UntilLocal); ok {
		ev.Until = skew.ToTrue(until)
		ev.From = at
		if ev.Until.Before(ev.From) {
			ev.Until = ev.From
		} else if ev.Until.Sub(at) > Never {
			ev.Until = at.Add(Never) // keeps it encodable (years < 10000)
		}
	}
	return ev, true
}

// number reads a JSON number (or a string holding one) as an int64.
func number(v any) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = x
	default:
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f > math.MaxInt64/2 || f < math.MinInt64/2 {
		return 0, false
	}
	return int64(f), true
}
