package linearizable

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/anishathalye/porcupine"
	"github.com/splitbrain/splitbrain/history"
)

// windowOps is how many operations the evidence window aims at: enough
// context to read the failure, few enough for Porcupine to refute quickly
// and for the visualization to stay readable.
const windowOps = 100

// searchWindow picks the first segment of the evidence window for a
// failure of search in segment fail: earlier segments are added while the
// window stays within windowOps. Starting it from the exact set
// k.sets[lo] keeps the window non-linearizable, because those sets are
// exactly the reachable states.
func (k *keyHist) searchWindow(fail int) int {
	lo := fail
	for lo > 0 && k.segs[fail].hi-k.segs[lo-1].lo <= windowOps {
		lo--
	}
	return lo
}

// prepassWindow picks the evidence window for a pre-pass refutation and
// the states it starts from. The refutation stays valid from any state
// the key may be in at the window's start provided the window holds the
// overwriting operation (ref.mustFrom), so the start set is a cheap
// superset: the values of the writes before the cut that no other write
// before the cut followed in real time (every operation before a cut is
// definite, as an open info operation prevents later cuts).
func (k *keyHist) prepassWindow(ref *refutation) (lo int, init []val) {
	hi := k.segOf(ref.ops[0].op)
	lo = hi
	if ref.mustFrom != nil {
		lo = min(lo, k.segOf(ref.mustFrom))
	}
	want := lo
	if ref.wantFrom != nil {
		want = min(want, k.segOf(ref.wantFrom))
	}
	for lo > 0 && (k.segs[hi].hi-k.segs[lo-1].lo <= windowOps || lo > want && k.segs[hi].hi-k.segs[lo-1].lo <= 2*windowOps) {
		lo--
	}
	return lo, k.supersetAt(lo)
}

func (k *keyHist) supersetAt(s int) []val {
	before := k.ops[:k.segs[s].lo]
	var maxCall int64 = math.MinInt64
	for _, op := range before {
		if op.kind != kRead {
			maxCall = max(maxCall, op.call)
		}
	}
	var set []val
	for _, op := range before {
		if op.kind != kRead && op.ret >= maxCall {
			set = append(set, some(op.v))
		}
	}
	if len(set) == 0 {
		return []val{absent()}
	}
	return normSet(set)
}

// evidence runs Porcupine, with its longest partial linearizations, on the
// segments lo..hi of a key already judged invalid, and writes the
// visualization. With listOps it also reports the operations outside the
// longest partial linearization (the pre-pass names its own).
func (k *keyHist) evidence(res *KeyResult, all []history.Operation, lo, hi int, init []val, opts Options, listOps bool) {
	ops := k.ops[k.segs[lo].lo:k.segs[hi].hi]
	res.Window = len(ops)
	if !listOps && opts.VisualizeDir == "" && !opts.evidenceAlways {
		return
	}
	clients := map[history.Process]int{}
	h := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		o := &all[op.src]
		c, ok := clients[o.Process]
		if !ok {
			c = len(clients)
			clients[o.Process] = c
		}
		meta := fmt.Sprintf("index %d, process %s, %s", o.Index, o.Process, o.Type)
		if op.call != o.Call || op.ret != o.Return {
			// The window shows the intervals the checker judged; say
			// when that is not what the history recorded.
			meta += fmt.Sprintf("; recorded [%d, %s], narrowed by the checker (exactly)", o.Call, retString(o.Return))
		}
		h[i] = porcupine.Operation{ClientId: c, Input: op, Call: op.call, Return: op.ret, Metadata: meta}
	}
	model := setModel(init, nil)
	r, info := porcupine.CheckOperationsVerbose(model, h, VisualizeTimeout)
	if r != porcupine.Illegal {
		what := "Porcupine ran out of time on it"
		if r == porcupine.Ok {
			// Cannot happen if the refutation is right; say so loudly.
			what = "Porcupine found it linearizable (checker bug?)"
		}
		res.VisualizationError = fmt.Sprintf("no evidence for the %d-operation window: %s", len(ops), what)
		if listOps {
			for _, op := range k.ops[k.segs[hi].lo:k.segs[hi].hi] {
				if len(res.Ops) < MaxReportedOps {
					res.Ops = append(res.Ops, opRef(all, op, "in the failing segment"))
				}
			}
		}
		return
	}
	if listOps {
		var longest []int
		for _, p := range info.PartialLinearizations()[0] {
			if len(p) > len(longest) {
				longest = p
			}
		}
		in := make([]bool, len(ops))
		for _, id := range longest {
			in[id] = true
		}
		var out []int
		for i := range ops {
			if !in[i] {
				out = append(out, i)
			}
		}
		slices.SortStableFunc(out, func(a, b int) int {
			switch {
			case ops[a].ret != ops[b].ret:
				return cmpInt(ops[a].ret, ops[b].ret)
			default:
				return cmpInt(ops[a].call, ops[b].call)
			}
		})
		for n, i := range out {
			if n == MaxReportedOps {
				break
			}
			role := "not linearized"
			if n == 0 {
				role = "cannot be linearized"
			}
			res.Ops = append(res.Ops, opRef(all, ops[i], role))
		}
	}
	if opts.VisualizeDir == "" {
		return
	}
	info.AddAnnotations([]porcupine.Annotation{{
		Tag:         "checker",
		Start:       ops[0].call,
		Description: "window starts: " + setString(init),
		Details: fmt.Sprintf("%d operations of key %q around the failure; %s",
			len(ops), k.key, res.Reason),
	}})
	name := VisualizationName(k.key)
	if err := visualize(model, info, filepath.Join(opts.VisualizeDir, name)); err != nil {
		res.VisualizationError = err.Error()
		return
	}
	res.Visualization = name
}

func visualize(model porcupine.Model, info porcupine.LinearizationInfo, path string) (err error) {
	defer func() {
		// Porcupine panics if a model rejects a partial linearization it
		// found; a failed visualization must not take the verdict down.
		if p := recover(); p != nil {
			err = fmt.Errorf("visualization failed: %v", p)
		}
	}()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("visualization: %w", err)
	}
	if err := porcupine.Visualize(model, info, f); err != nil {
		f.Close()
		return fmt.Errorf("visualization: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("visualization: %w", err)
	}
	return nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func retString(t int64) string {
	if t == math.MaxInt64 {
		return "never"
	}
	return fmt.Sprint(t)
}
