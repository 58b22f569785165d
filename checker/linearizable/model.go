package linearizable

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/anishathalye/porcupine"
)

// val is a register's content: absent (the zero value) or an integer. It is
// comparable, so it can be a Porcupine state as it is.
type val struct {
	present bool
	v       int64
}

func absent() val      { return val{} }
func some(v int64) val { return val{present: true, v: v} }
func (a val) less(b val) bool {
	if a.present != b.present {
		return !a.present
	}
	return a.v < b.v
}

func (a val) String() string {
	if !a.present {
		return "null"
	}
	return strconv.FormatInt(a.v, 10)
}

func (a val) hash() uint64 {
	if !a.present {
		return 0x9e3779b97f4a7c15
	}
	h := uint64(a.v) * 0xff51afd7ed558ccd
	return h ^ (h >> 33)
}

// Operation kinds on the register.
const (
	kRead uint8 = iota
	kWrite
	kCAS
)

// rop is one register operation of one key as the checker sees it, after
// fail operations and info reads were dropped. The Porcupine models take a
// *rop as input and ignore the output, because everything the step needs
// (including what a read returned) is here.
type rop struct {
	src  int    // index into the []history.Operation given to Check; -1 for synthetic ops
	hidx int64  // the operation's index in history.jsonl, for messages
	node string // the node the client talked to, for messages
	kind uint8  // kRead, kWrite or kCAS
	// ok: the operation definitely took effect (an ok completion, or an info
	// write/cas the reductions proved happened). Otherwise it is an info
	// write or cas that may take effect at any time after call, or never.
	ok   bool
	out  val   // ok read: what it returned
	v    int64 // write: the value; cas: the new value
	from int64 // cas: the expected value
	call int64
	ret  int64 // math.MaxInt64 while an info operation is open
	// closed marks an info operation whose end the reductions moved to the
	// return of the first operation that observed its value.
	closed bool
}

// step applies op to one register state: whether op can take effect in
// state s and the state after it. Info cas that does not match is a no-op
// (it can take effect without effect, or be linearized last, which amounts
// to never).
func step(s val, op *rop) (bool, val) {
	switch op.kind {
	case kRead:
		if !op.ok {
			return true, s
		}
		return op.out == s, s
	case kWrite:
		return true, some(op.v)
	default: // kCAS; an absent register never matches
		if s.present && s.v == op.from {
			return true, some(op.v)
		}
		return !op.ok, s
	}
}

// describe renders op for the visualization and for messages.
func (op *rop) describe() string {
	var b strings.Builder
	switch op.kind {
	case kRead:
		if op.ok {
			fmt.Fprintf(&b, "read() → %s", op.out)
		} else {
			b.WriteString("read() → ?")
		}
	case kWrite:
		fmt.Fprintf(&b, "write(%d)", op.v)
	default:
		fmt.Fprintf(&b, "cas(%d→%d)", op.from, op.v)
	}
	if !op.ok {
		b.WriteString(" (info)")
	} else if op.closed {
		b.WriteString(" (info, happened)")
	}
	return b.String()
}

// name is describe plus the node that answered and where to find the
// operation in history.jsonl.
func (op *rop) name() string {
	if op.node != "" {
		return fmt.Sprintf("%s on %s [index %d]", op.describe(), op.node, op.hidx)
	}
	return fmt.Sprintf("%s [index %d]", op.describe(), op.hidx)
}

// refModel is the plain register model: one key's state is a val. It is
// what the checker must agree with, verdict for verdict; the tests run it
// through Porcupine on whole histories.
func refModel() porcupine.Model {
	return porcupine.Model{
		Init: func() any { return absent() },
		Step: func(state, input, _ any) (bool, any) {
			return step(state.(val), input.(*rop))
		},
		Hash:              func(state any) uint64 { return state.(val).hash() },
		DescribeOperation: func(input, _ any) string { return input.(*rop).describe() },
		DescribeState:     func(state any) string { return state.(val).String() },
	}
}

// multi is a set of two or more possible register states, sorted and
// without duplicates. A single possible state is a plain val, so that the
// common case costs no slice.
type multi []val

// setModel is the register model started from a set of possible initial
// states: the power-set construction over a deterministic model, so a
// history passes iff it is linearizable from at least one of them. Segments
// after the first start from the set of states the previous segments can
// end in.
//
// If stop is not nil and becomes true, every step fails, so that Porcupine
// (which has no way to be cancelled but its own timeout) unwinds quickly;
// the caller must then discard its answer (see porc).
func setModel(init []val, stop *atomic.Bool) porcupine.Model {
	init = normSet(init)
	return porcupine.Model{
		Init: func() any { return fromSet(init) },
		Step: func(state, input, _ any) (bool, any) {
			if stop != nil && stop.Load() {
				return false, state
			}
			return setStep(state, input.(*rop))
		},
		Equal: setEqual,
		Hash: func(state any) uint64 {
			if s, ok := state.(val); ok {
				return s.hash()
			}
			var h uint64
			for _, s := range state.(multi) {
				h ^= s.hash()
			}
			return h
		},
		DescribeOperation: func(input, _ any) string { return input.(*rop).describe() },
		DescribeState: func(state any) string {
			if s, ok := state.(val); ok {
				return s.String()
			}
			parts := make([]string, len(state.(multi)))
			for i, s := range state.(multi) {
				parts[i] = s.String()
			}
			return "one of {" + strings.Join(parts, ", ") + "}"
		},
		DescribeOperationMetadata: func(info any) string {
			if info == nil {
				return ""
			}
			return info.(string)
		},
	}
}

func setStep(state any, op *rop) (bool, any) {
	if s, ok := state.(val); ok {
		return step(s, op)
	}
	var next []val
	for _, s := range state.(multi) {
		if ok, n := step(s, op); ok {
			next = append(next, n)
		}
	}
	if len(next) == 0 {
		return false, state
	}
	return true, fromSet(normSet(next))
}

func setEqual(a, b any) bool {
	sa, oka := a.(val)
	sb, okb := b.(val)
	if oka || okb {
		return oka && okb && sa == sb
	}
	return slices.Equal(a.(multi), b.(multi))
}

// normSet sorts and deduplicates a set of states (in place).
func normSet(s []val) []val {
	slices.SortFunc(s, func(a, b val) int {
		switch {
		case a == b:
			return 0
		case a.less(b):
			return -1
		default:
			return 1
		}
	})
	return slices.Compact(s)
}

// fromSet gives the Porcupine state for a normalised, non-empty set.
func fromSet(s []val) any {
	if len(s) == 1 {
		return s[0]
	}
	return multi(s)
}

// applySet steps every state of set through op and keeps those where op
// can take effect: the exact successor set of a one-operation segment.
func applySet(set []val, op *rop) []val {
	var next []val
	for _, s := range set {
		if ok, n := step(s, op); ok {
			next = append(next, n)
		}
	}
	return normSet(next)
}
