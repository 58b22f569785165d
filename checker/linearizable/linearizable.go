// Package linearizable checks that the register operations of a run
// (read, write, cas on keys) are linearizable, with Porcupine as the
// reference semantics.
//
// Porcupine alone is too slow for the histories a run produces, above all
// for the ones that are not linearizable: its search has to exhaust a
// whole key before it can say "illegal". So the checker first transforms
// each key's history with exact reductions (each one keeps the history
// linearizable if and only if it was: dropping or closing info operations,
// narrowing intervals; see reduce and narrow), refutes what a cheap pass
// can refute outright (prepass), and then cuts the key's history at quiescent points,
// checking one short segment at a time from the set of states the previous
// segments can end in. Porcupine judges every segment with more than one
// operation and produces the visualizations. The tests check the whole
// pipeline against plain Porcupine on thousands of small random histories.
//
// Register semantics: a key starts absent (a read returns null); write v
// sets it; cas [from, to] succeeds only if the key holds from (absent never
// matches) and then sets to; a read returns the current value. Fail
// operations did not happen and are dropped. Info (indeterminate)
// operations may take effect at any time after their invocation, or never;
// info reads are dropped since they constrain nothing.
//
// Where the speed comes from, and where it stops: with unique write values
// (as the workloads generate them) every info write or cas is either
// dropped or closed by the reductions, so each key's history falls apart
// into short segments and both valid and invalid histories cost about as
// much as reading them. An info operation the reductions cannot resolve
// (possible with repeated values) stays open to the end and no cut is
// possible after its invocation; the rest of that key is then one
// Porcupine search, which may run out of time (Unknown, never Valid).
// Likewise a long operation that narrowing cannot shorten (an ok read, an
// unobserved write) makes one long segment of everything it overlaps.
package linearizable

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/history"
)

// Verdict is the checker's judgement. Its values are the strings package
// checker uses, so a caller converts with checker.Verdict(v).
type Verdict string

// Verdicts. Unknown is never a pass: it means the time budget ran out or
// the history could not be read as register operations.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Unknown Verdict = "unknown"
)

// DefaultTimeout is the time budget when Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// InvalidGrace is how long the other keys may still run once one key is
// invalid; those not done by then are reported unknown.
const InvalidGrace = 5 * time.Second

var errOtherKeyInvalid = errors.New("stopped: another key was already found invalid")

// VisualizeTimeout bounds the Porcupine run that produces the evidence
// (unlinearizable operations, visualization) for a key already judged
// invalid. It is spent after the verdict and does not change it.
const VisualizeTimeout = 10 * time.Second

// Options tune Check.
type Options struct {
	// Timeout is the budget for the verdict; zero means DefaultTimeout.
	// Running out of it gives Unknown, never Valid.
	Timeout time.Duration
	// VisualizeDir, if set, receives one Porcupine visualization per
	// invalid key, named VisualizationName(key).
	VisualizeDir string

	// noPrepass turns the refutation pre-pass off, so that tests and
	// benchmarks can exercise the segment search alone.
	noPrepass bool
	// evidenceAlways runs Porcupine on the evidence window of a pre-pass
	// refutation even without VisualizeDir, so that tests can check the
	// window is non-linearizable on its own.
	evidenceAlways bool
	// grace replaces InvalidGrace when not zero, for tests.
	grace time.Duration
}

// Result is the judgement of a whole history. It is JSON-serialisable.
type Result struct {
	Verdict Verdict `json:"verdict"`
	// Summary is one line for a terminal or a JUnit failure message.
	Summary string `json:"summary"`
	// Keys lists the keys that are not valid (invalid or unknown), in key
	// order; valid keys are only counted.
	Keys  []KeyResult `json:"keys,omitempty"`
	Stats Stats       `json:"stats"`
}

// Stats count what the checker did, for the report.
type Stats struct {
	Keys       int `json:"keys"`
	Operations int `json:"operations"` // register operations given (all types)
	Failed     int `json:"failed"`     // fail operations, dropped
	InfoReads  int `json:"info_reads"` // info reads, dropped
	// InfoDropped counts info writes and cas whose value nobody read: they
	// can always be linearized last, so they are dropped.
	InfoDropped int `json:"info_dropped"`
	// InfoClosed counts info writes and cas with a unique value that an ok
	// operation observed: they happened before that observer returned.
	InfoClosed int `json:"info_closed"`
	// InfoOpen counts info writes and cas left open to the end of the
	// history; each one prevents cutting its key's history after it.
	InfoOpen int `json:"info_open"`
	// Narrowed counts interval ends moved by the checker (exactly: see
	// the narrow step) so that long operations do not prevent cuts.
	Narrowed int `json:"narrowed"`
	// Ignored counts operations whose f is not read, write or cas.
	Ignored  int   `json:"ignored"`
	Segments int   `json:"segments"`   // pieces the keys' histories were cut into
	Largest  int   `json:"largest"`    // operations in the largest piece
	Millis   int64 `json:"elapsed_ms"` // wall-clock time of the check
}

// KeyResult is the judgement of one key that is not valid.
type KeyResult struct {
	Key     string  `json:"key"`
	Verdict Verdict `json:"verdict"`
	// Reason says in words why the key is invalid or unknown.
	Reason string `json:"reason"`
	// Ops are the operations that cannot be linearized. For a refutation
	// by the pre-pass: the operation whose result is impossible first,
	// then the operations that make it impossible. For a refutation by
	// Porcupine: first the operation the search could not place (the
	// earliest-returning operation outside the longest partial
	// linearization), then the other operations outside it (at most
	// MaxReportedOps in all).
	Ops []OpRef `json:"ops,omitempty"`
	// Visualization is the file name of the Porcupine visualization in
	// Options.VisualizeDir; VisualizationError says why there is none.
	Visualization      string `json:"visualization,omitempty"`
	VisualizationError string `json:"visualization_error,omitempty"`
	// Window is how many operations, around the failure, the
	// visualization (and the Porcupine evidence) covers.
	Window int `json:"window,omitempty"`
}

// MaxReportedOps bounds KeyResult.Ops.
const MaxReportedOps = 12

// OpRef names one operation of the history.
type OpRef struct {
	Index   int64           `json:"index"` // index of the invocation in history.jsonl
	Process history.Process `json:"process"`
	Type    history.Type    `json:"type"`
	F       string          `json:"f"`
	Value   history.Value   `json:"value"`  // what was invoked
	Output  history.Value   `json:"output"` // what the completion carried
	Call    int64           `json:"call"`
	// Return is absent for an info operation, which never returned.
	Return *int64 `json:"return,omitempty"`
	// Role says what the operation has to do with the failure.
	Role string `json:"role"`
}

// VisualizationName is the file name of the visualization of key:
// linearizable-<key>.html, with characters unsafe in a file name replaced
// and then, so that two keys cannot share a file, a hash of the key added.
func VisualizationName(key string) string {
	var b strings.Builder
	replaced := key == ""
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
			replaced = true
		}
	}
	if replaced {
		h := fnv.New32a()
		h.Write([]byte(key))
		fmt.Fprintf(&b, "-%08x", h.Sum32())
	}
	return "linearizable-" + b.String() + ".html"
}

// Check judges whether the register operations in ops (as paired by
// history.Operations) are linearizable, key by key. Operations whose f is
// not read, write or cas are ignored. It returns Unknown, never Valid, if
// the budget (opts.Timeout, or ctx) runs out first.
func Check(ctx context.Context, ops []history.Operation, opts Options) Result {
	start := time.Now()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var st Stats
	byKey := map[string][]int{}
	var keys []string
	for i := range ops {
		o := &ops[i]
		switch o.F {
		case history.FRead, history.FWrite, history.FCAS:
		default:
			st.Ignored++
			continue
		}
		st.Operations++
		if _, ok := byKey[o.Key]; !ok {
			keys = append(keys, o.Key)
		}
		byKey[o.Key] = append(byKey[o.Key], i)
	}
	sort.Strings(keys)
	st.Keys = len(keys)

	// Keys are independent (Porcupine's P-compositionality), so they are
	// judged in parallel, one worker per CPU. Once a key is invalid the
	// verdict is settled: the other keys get InvalidGrace to finish (so
	// that the report names every invalid key it can) and are then cut.
	kctx, stopKeys := context.WithCancelCause(ctx)
	defer stopKeys(nil)
	var (
		graceMu sync.Mutex
		grace   *time.Timer
	)
	outs := make([]keyOutcome, len(keys))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), max(len(keys), 1)) {
		wg.Go(func() {
			for i := range next {
				outs[i] = checkKey(kctx, keys[i], ops, byKey[keys[i]], opts)
				if outs[i].res.Verdict == Invalid {
					graceMu.Lock()
					if grace == nil {
						d := cmp.Or(opts.grace, InvalidGrace)
						grace = time.AfterFunc(d, func() { stopKeys(errOtherKeyInvalid) })
					}
					graceMu.Unlock()
				}
			}
		})
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	graceMu.Lock()
	if grace != nil {
		grace.Stop()
	}
	graceMu.Unlock()

	res := Result{Verdict: Valid}
	for _, o := range outs {
		st.Failed += o.stats.Failed
		st.InfoReads += o.stats.InfoReads
		st.InfoDropped += o.stats.InfoDropped
		st.InfoClosed += o.stats.InfoClosed
		st.InfoOpen += o.stats.InfoOpen
		st.Narrowed += o.stats.Narrowed
		st.Segments += o.stats.Segments
		st.Largest = max(st.Largest, o.stats.Largest)
		if o.res.Verdict == Valid {
			continue
		}
		res.Keys = append(res.Keys, o.res)
		if o.res.Verdict == Invalid {
			res.Verdict = Invalid
		} else if res.Verdict == Valid {
			res.Verdict = Unknown
		}
	}
	st.Millis = time.Since(start).Milliseconds()
	res.Stats = st
	res.Summary = summarize(res)
	return res
}

func summarize(res Result) string {
	st := res.Stats
	switch res.Verdict {
	case Valid:
		return fmt.Sprintf("%d register operations on %d keys are linearizable", st.Operations, st.Keys)
	case Invalid:
		var bad []string
		var first *KeyResult
		for i := range res.Keys {
			if res.Keys[i].Verdict == Invalid {
				if first == nil {
					first = &res.Keys[i]
				}
				bad = append(bad, res.Keys[i].Key)
			}
		}
		s := fmt.Sprintf("not linearizable: key %q: %s", first.Key, first.Reason)
		if len(bad) > 1 {
			s += fmt.Sprintf(" (%d invalid keys in all: %s)", len(bad), strings.Join(bad, ", "))
		}
		return s
	default:
		k := res.Keys[0]
		return fmt.Sprintf("could not decide %d of %d keys; key %q: %s", len(res.Keys), st.Keys, k.Key, k.Reason)
	}
}

// keyOutcome is what checkKey hands back to Check.
type keyOutcome struct {
	res   KeyResult
	stats Stats
}

// checkKey judges one key: build its register operations, reduce, try to
// refute cheaply, then search segment by segment.
func checkKey(ctx context.Context, key string, all []history.Operation, idx []int, opts Options) keyOutcome {
	out := keyOutcome{res: KeyResult{Key: key, Verdict: Valid}}
	k, err := build(all, idx, &out.stats)
	if err != nil {
		out.res.Verdict, out.res.Reason = Unknown, err.Error()
		return out
	}
	k.key = key
	k.reduce(&out.stats)
	k.segment()
	out.stats.Segments = len(k.segs)
	for _, s := range k.segs {
		out.stats.Largest = max(out.stats.Largest, s.hi-s.lo)
	}

	if !opts.noPrepass {
		if ref := k.prepass(); ref != nil {
			out.res.Verdict, out.res.Reason = Invalid, ref.reason
			for _, r := range ref.ops {
				out.res.Ops = append(out.res.Ops, opRef(all, r.op, r.role))
			}
			lo, init := k.prepassWindow(ref)
			k.evidence(&out.res, all, lo, k.segOf(ref.ops[0].op), init, opts, false)
			return out
		}
	}

	fail, reason := k.search(ctx)
	switch {
	case fail < 0 && reason == "":
		return out
	case fail < 0:
		out.res.Verdict, out.res.Reason = Unknown, reason
		return out
	}
	out.res.Verdict, out.res.Reason = Invalid, reason
	lo := k.searchWindow(fail)
	k.evidence(&out.res, all, lo, fail, k.sets[lo], opts, true)
	return out
}

// opRef describes the operation behind op for the report.
func opRef(all []history.Operation, op *rop, role string) OpRef {
	o := &all[op.src]
	r := OpRef{Index: o.Index, Process: o.Process, Type: o.Type, F: o.F, Value: o.Input, Output: o.Output, Call: o.Call, Role: role}
	if o.Return != math.MaxInt64 {
		ret := o.Return
		r.Return = &ret
	}
	return r
}
