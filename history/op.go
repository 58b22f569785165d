// Package history holds the record of a run: the operations clients and
// the nemesis performed (history.jsonl) and what nodes reported about
// themselves (events.jsonl). docs/run-format.md is its public description.
package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Type is the kind of an entry: an invocation or one of its three outcomes.
type Type string

// Entry types, with Jepsen's meaning: ok happened, fail definitely did not,
// info is indeterminate and may take effect at any time after its invoke.
const (
	Invoke Type = "invoke"
	OK     Type = "ok"
	Fail   Type = "fail"
	Info   Type = "info"
)

// Register workload functions.
const (
	FRead  = "read"
	FWrite = "write"
	FCAS   = "cas"
)

// Process identifies who performed an operation: a client number, or the
// nemesis.
type Process int

// Nemesis is the process of every fault entry; it is written as the string "nemesis".
const Nemesis Process = -1

// MarshalJSON writes a client as its number and the nemesis as "nemesis".
func (p Process) MarshalJSON() ([]byte, error) {
	if p == Nemesis {
		return []byte(`"nemesis"`), nil
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

// UnmarshalJSON reads a non-negative integer or "nemesis".
func (p *Process) UnmarshalJSON(b []byte) error {
	if string(b) == `"nemesis"` {
		*p = Nemesis
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil || n < 0 {
		return fmt.Errorf("process must be a non-negative integer or \"nemesis\", got %s", b)
	}
	*p = Process(n)
	return nil
}

func (p Process) String() string {
	if p == Nemesis {
		return "nemesis"
	}
	return strconv.Itoa(int(p))
}

// ValueKind says what a Value holds.
type ValueKind uint8

// Value kinds.
const (
	None  ValueKind = iota // null or absent
	Int                    // an integer (write, read result)
	Pair                   // [from, to] (cas)
	Other                  // any other JSON (nemesis details)
)

// Value is what an entry carries: nothing, an integer, a cas pair, or for
// nemesis entries any JSON.
type Value struct {
	Kind     ValueKind
	Int      int64
	From, To int64
	Raw      json.RawMessage // with Other
}

// IntValue returns a Value holding n.
func IntValue(n int64) Value { return Value{Kind: Int, Int: n} }

// PairValue returns a cas Value from expected to new.
func PairValue(from, to int64) Value { return Value{Kind: Pair, From: from, To: to} }

// RawValue returns a Value holding arbitrary JSON, for nemesis entries.
func RawValue(v any) Value {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprint(v))
	}
	return Value{Kind: Other, Raw: b}
}

// MarshalJSON writes null, an integer, [from,to] or the raw JSON.
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.Kind {
	case Int:
		return strconv.AppendInt(nil, v.Int, 10), nil
	case Pair:
		return fmt.Appendf(nil, "[%d,%d]", v.From, v.To), nil
	case Other:
		if len(v.Raw) == 0 {
			return []byte("null"), nil
		}
		return v.Raw, nil
	default:
		return []byte("null"), nil
	}
}

// UnmarshalJSON recognises null, integers and two-integer arrays; anything
// else is kept raw as Other.
func (v *Value) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*v = Value{}
	if string(b) == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*v = Value{Kind: Int, Int: n}
		return nil
	}
	if from, to, ok := parsePair(b); ok {
		*v = Value{Kind: Pair, From: from, To: to}
		return nil
	}
	if !json.Valid(b) {
		return fmt.Errorf("value is not JSON: %.40s", b)
	}
	*v = Value{Kind: Other, Raw: append(json.RawMessage(nil), b...)}
	return nil
}

// parsePair reads "[a, b]" with two integers; anything else is not a pair.
func parsePair(b []byte) (from, to int64, ok bool) {
	if len(b) < 5 || b[0] != '[' || b[len(b)-1] != ']' {
		return 0, 0, false
	}
	a, c, found := bytes.Cut(b[1:len(b)-1], []byte{','})
	if !found {
		return 0, 0, false
	}
	from, err1 := strconv.ParseInt(string(bytes.TrimSpace(a)), 10, 64)
	to, err2 := strconv.ParseInt(string(bytes.TrimSpace(c)), 10, 64)
	return from, to, err1 == nil && err2 == nil
}

func (v Value) String() string {
	b, _ := v.MarshalJSON()
	return string(b)
}

// Op is one line of history.jsonl.
type Op struct {
	Index   int64   `json:"index"`
	Time    int64   `json:"time"` // nanoseconds since the run started, monotonic
	Process Process `json:"process"`
	Type    Type    `json:"type"`
	F       string  `json:"f"`
	Key     string  `json:"key,omitempty"`
	Value   Value   `json:"value"`
	Node    string  `json:"node,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// Targets returns the nodes a nemesis entry acted on, as docs/run-format.md
// defines them: its "node" field and the "node" and "nodes" of its value
// when the value is an object, each once.
func (op Op) Targets() []string {
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	add(op.Node)
	if op.Value.Kind == Other {
		var v struct {
			Node  string   `json:"node"`
			Nodes []string `json:"nodes"`
		}
		if json.Unmarshal(op.Value.Raw, &v) == nil {
			add(v.Node)
			for _, n := range v.Nodes {
				add(n)
			}
		}
	}
	return out
}
