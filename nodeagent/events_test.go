package nodeagent

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		line string
		ok   bool
		kind string
		role string
		term int64
	}{
		{`{"event":"role","id":"n1","role":"leader","term":5,"local_ms":1}`, true, "role", "leader", 5},
		{`  {"event":"role","role":"follower","term":"7"}  `, true, "role", "follower", 7},
		{`{"event":"custom"}`, true, "custom", "", 0},
		{`{"event":"role","role":5,"term":2}`, true, "role", "", 2}, // wrong type ignored
		{`{"event":""}`, false, "", "", 0},
		{`{"event":5}`, false, "", "", 0},
		{`{"role":"leader"}`, false, "", "", 0},
		{`plain log line`, false, "", "", 0},
		{`{"event":"role"`, false, "", "", 0},
		{`[1,2]`, false, "", "", 0},
		{``, false, "", "", 0},
	} {
		ev, ok := ParseLine([]byte(tc.line), at, Skew{})
		if ok != tc.ok || ev.Event != tc.kind || ev.Role != tc.role || ev.Term != tc.term {
			t.Errorf("%s: got %v %+v", tc.line, ok, ev)
			continue
		}
		if ok && (!ev.Time.Equal(at) || ev.Source != "node" || !json.Valid(ev.Line)) {
			t.Errorf("%s: stamp/source/line wrong: %+v", tc.line, ev)
		}
	}
}

func TestParseLease(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	// No skew: the local clock is the true clock.
	until := at.Add(300 * time.Millisecond)
	ev, ok := ParseLine(jsonLine(map[string]any{"event": "lease", "term": 3, "until_local_ms": until.UnixMilli()}), at, Skew{})
	if !ok || !ev.From.Equal(at) || !ev.Until.Equal(until) {
		t.Fatalf("unskewed lease: %+v", ev)
	}
	// Node 10 s ahead, running twice as fast since at-1s: local(at) =
	// at-1s+10s+2s = at+11s. A lease until local at+11s+600ms ends 300ms
	// of true time after at.
	sk := Skew{At: at.Add(-time.Second), Offset: 10 * time.Second, Rate: 2}
	if got := sk.Local(at); !got.Equal(at.Add(11 * time.Second)) {
		t.Fatalf("Local = %v", got)
	}
	ev, ok = ParseLine(jsonLine(map[string]any{"event": "lease", "term": 3, "until_local_ms": at.Add(11*time.Second + 600*time.Millisecond).UnixMilli()}), at, sk)
	if !ok || !ev.From.Equal(at) || !ev.Until.Equal(at.Add(300*time.Millisecond)) {
		t.Fatalf("skewed lease: from %v until %v", ev.From.Sub(at), ev.Until.Sub(at))
	}
	// A lease already over is clamped to its start.
	ev, _ = ParseLine(jsonLine(map[string]any{"event": "lease", "until_local_ms": at.Add(-time.Hour).UnixMilli()}), at, Skew{})
	if !ev.Until.Equal(ev.From) {
		t.Fatalf("expired lease: %+v", ev)
	}
	// A frozen clock never reaches a later reading.
	frozen := Skew{At: at, Offset: 0, Rate: 0}
	if got := frozen.ToTrue(at.Add(time.Second).UnixMilli()); got.Sub(at) != Never {
		t.Fatalf("frozen clock: %v", got.Sub(at))
	}
}

func jsonLine(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"event":"role","id":"n1","role":"leader","term":5,"local_ms":1764026732123}`,
		`{"event":"lease","id":"n1","term":5,"until_local_ms":1764026732423,"local_ms":1764026732130}`,
		`{"event":"lease","until_local_ms":-9223372036854775808}`,
		`{"event":"lease","until_local_ms":1e300,"term":1e30}`,
		`{"event":"x","term":"12"}`,
		`{"event":"lease","until_local_ms":4000000000000000000}`,
		`not json`, `{}`, `{"event":null}`,
	} {
		f.Add([]byte(s), int64(0), 1.0, true)
		f.Add([]byte(s), int64(0), 1.0, false)
	}
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line []byte, offsetMS int64, rate float64, skewed bool) {
		var sk Skew
		if skewed {
			sk = Skew{At: at.Add(-time.Second), Offset: time.Duration(offsetMS%(1<<40)) * time.Millisecond, Rate: rate}
		}
		ev, ok := ParseLine(line, at, sk)
		if !ok {
			if ev.Event != "" {
				t.Fatalf("not an event but kind %q", ev.Event)
			}
			return
		}
		if ev.Event == "" || ev.Source != "node" || !ev.Time.Equal(at) {
			t.Fatalf("bad event %+v", ev)
		}
		if !json.Valid(ev.Line) {
			t.Fatalf("line not kept as JSON: %q", ev.Line)
		}
		if ev.Until.Before(ev.From) {
			t.Fatalf("lease ends %v before it starts %v", ev.Until, ev.From)
		}
		if _, err := json.Marshal(ev); err != nil {
			t.Fatalf("event doesn't encode: %v", err)
		}
	})
}
