package linearizable

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/splitbrain/splitbrain/history"
)

// keyHist is one key's register operations on their way through the
// checker.
type keyHist struct {
	key string
	// ops are the operations still in play, sorted by call once segment
	// has run.
	ops []*rop
	// writers counts, per value, the non-fail operations that write it
	// (writes and cas "to" alike), before any reduction: a value written
	// once is unique, and only then may reductions rely on "whoever
	// observed v observed that operation".
	writers map[int64]int
	segs    []seg
	// sets[i] is the set of states the key can be in before segment i
	// (filled by search as far as it got).
	sets [][]val
}

// seg is a run ops[lo:hi] such that every operation before it returned
// before any operation from it was invoked, and likewise at its end.
type seg struct{ lo, hi int }

// build turns one key's operations into rops, dropping what cannot matter:
// fail operations (they did not happen) and info reads (they have no effect
// and no result to check).
func build(all []history.Operation, idx []int, st *Stats) (*keyHist, error) {
	k := &keyHist{writers: map[int64]int{}}
	for _, i := range idx {
		o := &all[i]
		switch o.Type {
		case history.Fail:
			st.Failed++
			continue
		case history.OK, history.Info:
		default:
			return nil, fmt.Errorf("operation %d has type %q", o.Index, o.Type)
		}
		op := &rop{src: i, hidx: o.Index, node: o.Node, ok: o.Type == history.OK, call: o.Call, ret: o.Return}
		if !op.ok {
			op.ret = math.MaxInt64
		} else if op.ret < op.call {
			return nil, fmt.Errorf("operation %d returns (%d) before it is invoked (%d)", o.Index, op.ret, op.call)
		}
		switch o.F {
		case history.FRead:
			if !op.ok {
				st.InfoReads++
				continue
			}
			op.kind = kRead
			switch o.Output.Kind {
			case history.None:
			case history.Int:
				op.out = some(o.Output.Int)
			default:
				return nil, fmt.Errorf("read %d returned %s, not an integer or null", o.Index, o.Output)
			}
		case history.FWrite:
			if o.Input.Kind != history.Int {
				return nil, fmt.Errorf("write %d has value %s, not an integer", o.Index, o.Input)
			}
			op.kind, op.v = kWrite, o.Input.Int
			k.writers[op.v]++
		case history.FCAS:
			if o.Input.Kind != history.Pair {
				return nil, fmt.Errorf("cas %d has value %s, not [from, to]", o.Index, o.Input)
			}
			op.kind, op.from, op.v = kCAS, o.Input.From, o.Input.To
			k.writers[op.v]++
		}
		k.ops = append(k.ops, op)
	}
	return k, nil
}

// reduce applies two exact reductions to the info writes and cas, until
// neither applies any more. Each keeps the history linearizable if and
// only if it was:
//
//  1. Drop an info write or cas of a value v that no operation reads, or
//     expects in a cas (ok or info). Take any linearization and move the
//     operation to the end (allowed: an info operation is open to the end).
//     Between its old place and the next write, only operations that do
//     not look for v ran; with the old state back they read nothing (there
//     are no ok reads there, those would have returned v) and the only
//     effect that can change is that of info cas, which nobody observes
//     before the next write overwrites it. Conversely a linearization
//     without the operation extends by putting it last. Uniqueness of v is
//     not needed.
//
//  2. Close an info write or cas whose value v is unique (written by no
//     other operation) and observed by an ok read of v or an ok cas from v:
//     in every linearization it took effect, and before each observer, so
//     before the earliest-returning observer returned. Its return becomes
//     that time and it counts as ok (an info cas that set v must have
//     matched). Requires uniqueness: with two writers of v, an observer
//     may have seen the other one.
//
// Dropping takes away references, closing makes new ok observers (a closed
// cas observes its "from"), so the two feed each other; they run on the
// open operations only, which are few.
func (k *keyHist) reduce(st *Stats) {
	refs := make(map[int64]int, len(k.writers))  // readers of v, ok or info, reads or cas
	obs := make(map[int64]int64, len(k.writers)) // earliest return of an ok observer of v
	observe := func(v, ret int64) {
		if r, ok := obs[v]; !ok || ret < r {
			obs[v] = ret
		}
	}
	var open []*rop
	for _, op := range k.ops {
		switch {
		case op.kind == kRead && op.out.present:
			refs[op.out.v]++
			observe(op.out.v, op.ret)
		case op.kind == kCAS:
			refs[op.from]++
			if op.ok {
				observe(op.from, op.ret)
			}
		}
		if !op.ok && op.kind != kRead {
			open = append(open, op)
		}
	}
	dropped := map[*rop]bool{}
	for changed := true; changed; {
		changed = false
		rest := open[:0]
		for _, op := range open {
			if refs[op.v] == 0 {
				dropped[op] = true
				st.InfoDropped++
				if op.kind == kCAS {
					refs[op.from]--
				}
				changed = true
				continue
			}
			if t, ok := obs[op.v]; ok && k.writers[op.v] == 1 && t >= op.call {
				// (An observer that returned before the writer was even
				// invoked is left to the pre-pass, which refutes it.)
				op.ok, op.closed, op.ret = true, true, t
				st.InfoClosed++
				if op.kind == kCAS {
					observe(op.from, t)
				}
				changed = true
				continue
			}
			rest = append(rest, op)
		}
		open = rest
	}
	st.InfoOpen += len(open)
	if len(dropped) > 0 {
		k.ops = slices.DeleteFunc(k.ops, func(op *rop) bool { return dropped[op] })
	}
	st.Narrowed += k.narrow()
}

// narrow shortens intervals with the argument that closes info operations
// (reduce, 2), applied to definite ones: if v is unique, every ok observer
// of v comes after v's writer W in every linearization. So W's return can
// move back to the earliest observer's return, and an observer's call can
// move forward to W's call (whatever returned before W was invoked precedes
// W, hence the observer). Both keep the history linearizable iff it was,
// and both make quiescent cuts more frequent: a long operation no longer
// spans everything up to its completion. Each narrowing stands on its own,
// so cascades (a cas is both a writer and an observer) are followed for a
// few rounds only.
func (k *keyHist) narrow() int {
	writer := make(map[int64]*rop, len(k.writers))
	for _, op := range k.ops {
		if op.kind != kRead && k.writers[op.v] == 1 {
			writer[op.v] = op
		}
	}
	observed := func(op *rop) (int64, bool) {
		switch {
		case !op.ok:
		case op.kind == kRead && op.out.present:
			return op.out.v, true
		case op.kind == kCAS:
			return op.from, true
		}
		return 0, false
	}
	n := 0
	obs := make(map[int64]int64, len(writer))
	for round := 0; round < 4; round++ {
		changed := false
		clear(obs)
		for _, op := range k.ops {
			if v, ok := observed(op); ok {
				if r, seen := obs[v]; !seen || op.ret < r {
					obs[v] = op.ret
				}
			}
		}
		for _, op := range k.ops {
			if op.kind != kRead && op.ok && writer[op.v] == op {
				if t, ok := obs[op.v]; ok && t >= op.call && t < op.ret {
					op.ret = t
					changed = true
					n++
				}
			}
			if v, ok := observed(op); ok {
				if w := writer[v]; w != nil && w.ok && w != op && w.call > op.call && w.call <= op.ret {
					op.call = w.call
					changed = true
					n++
				}
			}
		}
		if !changed {
			break
		}
	}
	return n
}

// segment sorts the operations by call and cuts them where every earlier
// operation returned strictly before the next call (Porcupine counts equal
// times as concurrent, so must we). Open info operations never return, so
// no cut comes after one.
func (k *keyHist) segment() {
	sort.SliceStable(k.ops, func(i, j int) bool { return k.ops[i].call < k.ops[j].call })
	k.segs = k.segs[:0]
	lo := 0
	var maxRet int64 = math.MinInt64
	for i, op := range k.ops {
		if i > lo && maxRet < op.call {
			k.segs = append(k.segs, seg{lo, i})
			lo = i
		}
		maxRet = max(maxRet, op.ret)
	}
	if len(k.ops) > 0 {
		k.segs = append(k.segs, seg{lo, len(k.ops)})
	}
}

// segOf returns the segment holding op.
func (k *keyHist) segOf(op *rop) int {
	i := sort.Search(len(k.segs), func(i int) bool { return k.ops[k.segs[i].hi-1].call >= op.call })
	// Equal calls may straddle no cut (a cut needs a strictly later call),
	// so the first segment whose last call is >= op.call holds op.
	return i
}

// refutation is what the pre-pass found.
type refutation struct {
	reason string
	ops    []roleOp // the impossible operation first
	// mustFrom is the operation the visualization window must start at or
	// before for the window alone to be non-linearizable (nil: any start).
	mustFrom *rop
	// wantFrom is an operation worth including if the window allows.
	wantFrom *rop
}

type roleOp struct {
	op   *rop
	role string
}

// prepass looks for ok operations whose result is impossible on grounds
// that need no search, and returns the one invoked first, or nil. Each
// rule is a sufficient condition for non-linearizability:
//
//   - an ok read of v, or ok cas from v, when no operation writes v, or
//     every writer of v was invoked after the observer returned: the state
//     is never v before the observer takes effect;
//   - the same when v is unique, its writer W has returned (or was closed
//     by reduce, whose end is exact) and an ok write or cas X was invoked
//     after W returned and returned before the observer was invoked: X
//     overwrote v for good (X writes another value, v is unique);
//   - an ok read of null after an ok write or cas returned: nothing makes a
//     key absent again.
func (k *keyHist) prepass() *refutation {
	type winfo struct {
		n       int
		minCall int64
		only    *rop
	}
	ws := map[int64]*winfo{}
	// Definite writers sorted by call (k.ops is, since segment), with the
	// suffix minimum of their returns: "is there an X with X.call > t and X.ret < u" is then a
	// binary search.
	var def []*rop
	for _, op := range k.ops {
		if op.kind == kRead {
			continue
		}
		w := ws[op.v]
		if w == nil {
			w = &winfo{minCall: op.call}
			ws[op.v] = w
		}
		w.n++
		w.minCall = min(w.minCall, op.call)
		w.only = op
		if op.ok {
			def = append(def, op)
		}
	}
	suf := make([]int64, len(def)+1)
	suf[len(def)] = math.MaxInt64
	for i := len(def) - 1; i >= 0; i-- {
		suf[i] = min(suf[i+1], def[i].ret)
	}
	var best *refutation
	var bestCall int64
	found := func(o *rop, r *refutation) {
		if best == nil || o.call < bestCall {
			best, bestCall = r, o.call
		}
	}
	for _, o := range k.ops {
		if !o.ok || (best != nil && o.call >= bestCall) {
			continue
		}
		var v int64
		switch {
		case o.kind == kCAS:
			v = o.from
		case o.kind == kRead && o.out.present:
			v = o.out.v
		case o.kind == kRead:
			// read of null: any definite write returned before?
			if suf[0] < o.call {
				x := latestDef(def, math.MinInt64, o.call)
				found(o, &refutation{
					reason:   fmt.Sprintf("%s, but %s had already completed and nothing makes a key absent again", o.name(), x.name()),
					ops:      []roleOp{{o, "impossible result"}, {x, "completed write before it"}},
					mustFrom: x,
				})
			}
			continue
		default:
			continue
		}
		w := ws[v]
		switch {
		case w == nil:
			found(o, &refutation{
				reason: fmt.Sprintf("%s, but no operation writes %d", o.name(), v),
				ops:    []roleOp{{o, "impossible result"}},
			})
			continue
		case w.minCall > o.ret:
			r := &refutation{
				reason: fmt.Sprintf("%s, but every write of %d was invoked after it returned", o.name(), v),
				ops:    []roleOp{{o, "impossible result"}},
			}
			if w.n == 1 {
				r.ops = append(r.ops, roleOp{w.only, "later write of the value"})
			}
			found(o, r)
			continue
		case w.n != 1 || !w.only.ok || k.writers[v] != 1:
			continue
		}
		W := w.only
		i := sort.Search(len(def), func(i int) bool { return def[i].call > W.ret })
		if suf[i] < o.call {
			x := latestDef(def, W.ret, o.call)
			found(o, &refutation{
				reason: fmt.Sprintf("%s is stale: %s overwrote %d first (invoked after %s returned, returned before the %s was invoked)",
					o.name(), x.name(), v, W.name(), kindWord(o)),
				ops:      []roleOp{{o, "impossible result"}, {W, "write of the value"}, {x, "overwrote the value"}},
				mustFrom: x,
				wantFrom: W,
			})
		}
	}
	return best
}

// latestDef returns the definite writer with the latest call among those
// invoked after after and returned before before: the overwriter closest
// to the observer, so that the evidence window stays small.
func latestDef(def []*rop, after, before int64) *rop {
	var x *rop
	for _, d := range def {
		if d.call > after && d.ret < before && (x == nil || d.call > x.call) {
			x = d
		}
	}
	return x
}

func kindWord(op *rop) string {
	switch op.kind {
	case kRead:
		return "read"
	case kWrite:
		return "write"
	}
	return "cas"
}
