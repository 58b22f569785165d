package linearizable

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// search judges the key segment by segment. Segments follow each other in
// real time, so a linearization of the key is a linearization of each
// segment in turn, each starting in the state the previous one ended in.
// The state at a cut is not known, but the set of states a segment can end
// in is: k.sets[i+1] holds exactly those states s for which segment i is
// linearizable, from some state of k.sets[i], ending in s. The key is
// linearizable iff no set becomes empty (and the last segment passes).
//
// It returns fail = -1 and reason "" for valid; fail = -1 and a reason for
// unknown; otherwise the failing segment and a reason.
func (k *keyHist) search(ctx context.Context) (fail int, reason string) {
	// Porcupine cannot be cancelled; the models watch this flag instead.
	stop := new(atomic.Bool)
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	k.sets = make([][]val, len(k.segs)+1)
	k.sets[0] = []val{absent()}
	for i, sg := range k.segs {
		if ctx.Err() != nil {
			return -1, fmt.Sprintf("%s after %d of %d segments (%d of %d operations)", stopped(ctx), i, len(k.segs), sg.lo, len(k.ops))
		}
		cur := k.sets[i]
		ops := k.ops[sg.lo:sg.hi]
		last := i == len(k.segs)-1
		if len(ops) == 1 {
			// One operation: its successor set is a direct step.
			next := applySet(cur, ops[0])
			if len(next) == 0 {
				return i, fmt.Sprintf("%s cannot take effect in any state the key can be in then (%s)", ops[0].name(), setString(cur))
			}
			k.sets[i+1] = next
			continue
		}
		if last {
			switch porc(ctx, stop, cur, ops, nil) {
			case porcupine.Ok:
				return -1, ""
			case porcupine.Illegal:
				return i, k.segReason(i)
			default:
				return -1, k.timeoutReason(ctx, i)
			}
		}
		cands := k.candidates(ops, cur)
		if len(cands) == 1 {
			switch porc(ctx, stop, cur, ops, nil) {
			case porcupine.Ok:
				k.sets[i+1] = cands
				continue
			case porcupine.Illegal:
				return i, k.segReason(i)
			default:
				return -1, k.timeoutReason(ctx, i)
			}
		}
		var next []val
		for _, c := range cands {
			fin := &rop{src: -1, kind: kRead, ok: true, out: c}
			switch porc(ctx, stop, cur, ops, fin) {
			case porcupine.Ok:
				next = append(next, c)
			case porcupine.Illegal:
			default:
				return -1, k.timeoutReason(ctx, i)
			}
		}
		if len(next) == 0 {
			return i, k.segReason(i)
		}
		k.sets[i+1] = next
	}
	return -1, ""
}

func (k *keyHist) segReason(i int) string {
	sg := k.segs[i]
	return fmt.Sprintf("no linearization of the %d concurrent operations invoked from time %d (index %d on) starting from %s",
		sg.hi-sg.lo, k.ops[sg.lo].call, k.ops[sg.lo].hidx, setString(k.sets[i]))
}

func (k *keyHist) timeoutReason(ctx context.Context, i int) string {
	sg := k.segs[i]
	return fmt.Sprintf("%s in a segment of %d concurrent operations (operations %d-%d of %d)", stopped(ctx), sg.hi-sg.lo, sg.lo, sg.hi, len(k.ops))
}

// stopped says why the search stopped: Check's budget (also when
// Porcupine hit it first), another key's invalidity, or the caller.
func stopped(ctx context.Context) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errOtherKeyInvalid):
		return cause.Error()
	case errors.Is(cause, context.Canceled):
		return "cancelled"
	}
	return "out of time"
}

func setString(s []val) string {
	if len(s) == 1 {
		return "state " + s[0].String()
	}
	return "state " + setModel(s, nil).DescribeState(fromSet(s))
}

// candidates returns the states a non-final segment can possibly end in
// (a superset, tested one by one afterwards). Non-final segments hold only
// definite operations (an open info operation would have prevented the
// cut), so the last write or cas of a linearization sets the final state.
// It cannot be one that another write or cas of the segment was invoked
// after it returned, as that one would come later. With no write or cas at
// all, the state stays one of the current set.
func (k *keyHist) candidates(ops []*rop, cur []val) []val {
	var maxCall int64 = math.MinInt64
	writes := false
	for _, op := range ops {
		if op.kind != kRead {
			writes = true
			maxCall = max(maxCall, op.call)
		}
	}
	if !writes {
		return cur
	}
	var c []val
	for _, op := range ops {
		if op.kind != kRead && op.ret >= maxCall {
			c = append(c, some(op.v))
		}
	}
	return normSet(c)
}

// porcupineStarting, when set by a test, is called as each Porcupine run
// starts.
var porcupineStarting func()

// porc runs Porcupine on ops (plus fin, a final read invoked after all of
// them, if not nil) from the states init, with what is left of ctx's
// budget. It is the only judge of segments of more than one operation.
// stop is set when ctx ends; an answer given after that may come from
// steps the model failed on purpose, so it counts as Unknown. (stop never
// goes back to false, so if it is false afterwards it was all along.)
func porc(ctx context.Context, stop *atomic.Bool, init []val, ops []*rop, fin *rop) porcupine.CheckResult {
	if ctx.Err() != nil {
		return porcupine.Unknown
	}
	var left time.Duration // Porcupine: 0 is no limit
	if dl, ok := ctx.Deadline(); ok {
		if left = time.Until(dl); left <= 0 {
			return porcupine.Unknown
		}
	}
	h := make([]porcupine.Operation, 0, len(ops)+1)
	var end int64 = math.MinInt64
	for _, op := range ops {
		h = append(h, porcupine.Operation{Input: op, Call: op.call, Return: op.ret})
		end = max(end, op.ret)
	}
	if fin != nil {
		h = append(h, porcupine.Operation{Input: fin, Call: end + 1, Return: end + 2})
	}
	if porcupineStarting != nil {
		porcupineStarting()
	}
	r := porcupine.CheckOperationsTimeout(setModel(init, stop), h, left)
	if stop.Load() {
		return porcupine.Unknown
	}
	return r
}
