package linearizable

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
)

// hb builds hand-written histories: one operation per call, with explicit
// times.
type hb struct{ ops []history.Operation }

func (h *hb) add(p int, typ history.Type, f string, key string, in, out history.Value, call, ret int64) *hb {
	if typ == history.Info {
		ret = math.MaxInt64
	}
	h.ops = append(h.ops, history.Operation{Process: history.Process(p), F: f, Key: key, Input: in, Output: out,
		Type: typ, Call: call, Return: ret, Index: int64(len(h.ops))})
	return h
}
func (h *hb) w(p int, typ history.Type, v int64, call, ret int64) *hb {
	return h.add(p, typ, history.FWrite, "x", history.IntValue(v), history.Value{}, call, ret)
}
func (h *hb) r(p int, typ history.Type, out history.Value, call, ret int64) *hb {
	return h.add(p, typ, history.FRead, "x", history.Value{}, out, call, ret)
}
func (h *hb) cas(p int, typ history.Type, from, to int64, call, ret int64) *hb {
	return h.add(p, typ, history.FCAS, "x", history.PairValue(from, to), history.Value{}, call, ret)
}

var (
	ok   = history.OK
	info = history.Info
	fail = history.Fail
	null = history.Value{}
	iv   = history.IntValue
)

func TestHandWritten(t *testing.T) {
	tests := []struct {
		name string
		h    *hb
		want Verdict
	}{
		{"empty", &hb{}, Valid},
		{"read of a fresh key is null", (&hb{}).r(0, ok, null, 0, 1), Valid},
		{"read of a fresh key returning a value", (&hb{}).r(0, ok, iv(1), 0, 1), Invalid},
		{"sequential write then read", (&hb{}).w(0, ok, 1, 0, 1).r(1, ok, iv(1), 2, 3), Valid},
		{"concurrent writes, reads see them in the other order", (&hb{}).
			w(0, ok, 1, 0, 10).w(1, ok, 2, 1, 9).r(2, ok, iv(2), 11, 12).r(3, ok, iv(1), 2, 8), Valid},
		{"read overlapping a write may see old or new", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, ok, 2, 5, 10).r(2, ok, iv(1), 6, 7).r(3, ok, iv(2), 8, 9), Valid},
		{"equal times are concurrent", (&hb{}).w(0, ok, 1, 0, 5).r(1, ok, null, 5, 6), Valid},
		{"stale read", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, ok, 2, 2, 3).r(2, ok, iv(1), 4, 5), Invalid},
		{"stale read among concurrent ones", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, ok, 2, 2, 10).r(2, ok, iv(2), 3, 4).r(3, ok, iv(1), 5, 6), Invalid},
		{"lost acknowledged write: read null after it", (&hb{}).
			w(0, ok, 1, 0, 1).r(1, ok, null, 2, 3), Invalid},
		{"lost acknowledged write: older value comes back", (&hb{}).
			w(0, ok, 1, 0, 1).r(0, ok, iv(1), 2, 3).w(1, ok, 2, 4, 5).r(2, ok, iv(1), 6, 7), Invalid},
		{"cas on the current value", (&hb{}).
			w(0, ok, 1, 0, 1).cas(1, ok, 1, 2, 2, 3).r(2, ok, iv(2), 4, 5), Valid},
		{"cas succeeds on a stale value", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, ok, 2, 2, 3).cas(2, ok, 1, 3, 4, 5), Invalid},
		{"cas on an absent key never succeeds", (&hb{}).cas(0, ok, 0, 1, 0, 1), Invalid},
		{"failed cas is dropped even if it could not have failed", (&hb{}).
			w(0, ok, 1, 0, 1).cas(1, fail, 1, 2, 2, 3).r(2, ok, iv(1), 4, 5), Valid},
		{"failed write is dropped", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, fail, 2, 2, 3).r(2, ok, iv(1), 4, 5), Valid},
		{"a value only a failed write wrote cannot be read", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, fail, 2, 2, 3).r(2, ok, iv(2), 4, 5), Invalid},
		{"failed read is ignored", (&hb{}).w(0, ok, 1, 0, 1).r(1, fail, iv(7), 2, 3), Valid},
		{"info write shows up in a later read", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, info, 2, 2, 0).r(2, ok, iv(2), 10, 11).r(3, ok, iv(2), 12, 13), Valid},
		{"info write that never shows up", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, info, 2, 2, 0).r(2, ok, iv(1), 10, 11).r(3, ok, iv(1), 12, 13), Valid},
		{"info write shows up, then is gone", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, info, 2, 2, 0).r(2, ok, iv(2), 10, 11).r(3, ok, iv(1), 12, 13), Invalid},
		{"info write read before it was invoked", (&hb{}).
			w(0, ok, 1, 0, 1).r(2, ok, iv(2), 2, 3).w(1, info, 2, 4, 0), Invalid},
		{"info cas takes effect late", (&hb{}).
			w(0, ok, 1, 0, 1).cas(1, info, 1, 2, 2, 0).r(2, ok, iv(1), 10, 11).r(3, ok, iv(2), 12, 13), Valid},
		{"info cas chain", (&hb{}).
			w(0, info, 1, 0, 0).cas(1, info, 1, 2, 1, 0).r(2, ok, iv(2), 10, 11), Valid},
		{"info cas from a value never there", (&hb{}).
			w(0, ok, 1, 0, 1).cas(1, info, 5, 2, 2, 0).r(2, ok, iv(2), 10, 11), Invalid},
		{"info read is ignored", (&hb{}).w(0, ok, 1, 0, 1).r(1, info, null, 2, 0), Valid},
		{"non-unique values: an old value comes back by a second write", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, ok, 2, 2, 3).w(2, ok, 1, 4, 5).r(3, ok, iv(1), 6, 7), Valid},
		{"non-unique values: info write of a repeated value", (&hb{}).
			w(0, ok, 1, 0, 1).w(1, ok, 2, 2, 3).w(2, info, 1, 4, 0).r(3, ok, iv(1), 6, 7).r(3, ok, iv(2), 8, 9), Invalid},
		{"non-unique values: info write may land late", (&hb{}).
			w(0, ok, 1, 0, 1).w(2, info, 1, 1, 0).w(1, ok, 2, 2, 3).r(3, ok, iv(1), 6, 7).r(3, ok, iv(1), 8, 9), Valid},
		{"keys are independent", (&hb{}).
			add(0, ok, history.FWrite, "a", iv(1), null, 0, 1).
			add(1, ok, history.FWrite, "b", iv(2), null, 2, 3).
			add(2, ok, history.FRead, "a", null, iv(1), 4, 5).
			add(3, ok, history.FRead, "b", null, iv(2), 4, 5), Valid},
		{"other functions are ignored", (&hb{}).
			add(0, ok, "leader", "x", iv(1), null, 0, 1).r(1, ok, null, 2, 3), Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			got := Check(context.Background(), tt.h.ops, Options{VisualizeDir: dir})
			assert.Equal(t, tt.want, got.Verdict, "%s", got.Summary)
			assert.Equal(t, tt.want, refVerdict(tt.h.ops), "the reference disagrees with the table")
			noPre := Check(context.Background(), tt.h.ops, Options{VisualizeDir: dir, noPrepass: true})
			assert.Equal(t, tt.want, noPre.Verdict, "without pre-pass: %s", noPre.Summary)
			if tt.want == Invalid {
				require.Len(t, got.Keys, 1)
				assert.NotEmpty(t, got.Keys[0].Ops, "an invalid key names operations")
				assert.FileExists(t, filepath.Join(dir, got.Keys[0].Visualization), got.Keys[0].VisualizationError)
				t.Logf("%s", got.Summary)
				assert.NotEmpty(t, got.Keys[0].Reason)
				require.Len(t, noPre.Keys, 1)
				assert.NotEmpty(t, noPre.Keys[0].Ops, "an invalid key names operations (search)")
			} else {
				assert.Empty(t, got.Keys)
			}
		})
	}
}

// refVerdict is plain Porcupine on the whole history, partitioned per key,
// without a timeout: fail operations dropped, info operations open to the
// end (info reads kept: they accept any state).
func refVerdict(ops []history.Operation) Verdict {
	return refVerdictTimeout(ops, 0)
}

// refVerdictTimeout is refVerdict with a time limit per key (0: none), for
// histories on which plain Porcupine may take forever; out of time is
// Unknown.
func refVerdictTimeout(ops []history.Operation, timeout time.Duration) Verdict {
	byKey := map[string][]porcupine.Operation{}
	for i, o := range ops {
		if o.Type == history.Fail {
			continue
		}
		op := &rop{src: i, ok: o.Type == history.OK, call: o.Call, ret: o.Return}
		switch o.F {
		case history.FRead:
			op.kind = kRead
			if o.Output.Kind == history.Int {
				op.out = some(o.Output.Int)
			}
		case history.FWrite:
			op.kind, op.v = kWrite, o.Input.Int
		case history.FCAS:
			op.kind, op.from, op.v = kCAS, o.Input.From, o.Input.To
		default:
			continue
		}
		if !op.ok {
			op.ret = math.MaxInt64
		}
		byKey[o.Key] = append(byKey[o.Key], porcupine.Operation{ClientId: int(o.Process), Input: op, Call: op.call, Return: op.ret})
	}
	v := Valid
	for _, h := range byKey {
		switch porcupine.CheckOperationsTimeout(refModel(), h, timeout) {
		case porcupine.Illegal:
			return Invalid
		case porcupine.Unknown:
			v = Unknown
		}
	}
	return v
}

func TestInvalidReportAndVisualization(t *testing.T) {
	dir := t.TempDir()
	ops := history.Operations(AppendImpossibleRead(Generate(3000, 3, 8, 0.02, 7), 1))
	for _, noPre := range []bool{false, true} {
		res := Check(context.Background(), ops, Options{VisualizeDir: dir, noPrepass: noPre})
		require.Equal(t, Invalid, res.Verdict, res.Summary)
		require.Len(t, res.Keys, 1)
		k := res.Keys[0]
		assert.Equal(t, Invalid, k.Verdict)
		assert.Equal(t, VisualizationName(k.Key), k.Visualization, k.VisualizationError)
		require.NotEmpty(t, k.Ops)
		// The appended read is the last operation; the report must name it.
		last := ops[len(ops)-1]
		assert.Equal(t, last.Index, k.Ops[0].Index, "noPrepass=%v: %+v", noPre, k.Ops)
		assert.Positive(t, k.Window)
		st, err := os.Stat(filepath.Join(dir, k.Visualization))
		require.NoError(t, err)
		assert.Positive(t, st.Size())
		_, err = json.Marshal(res)
		require.NoError(t, err)
	}
}

func TestTimeoutGivesUnknown(t *testing.T) {
	// A hard case for any search: one key, values from a tiny domain so
	// that no reduction applies, many concurrent info writes that keep the
	// whole history one segment.
	ops := hardKey("x")
	start := time.Now()
	res := Check(context.Background(), ops, Options{Timeout: 50 * time.Millisecond})
	assert.Equal(t, Unknown, res.Verdict, res.Summary)
	assert.Less(t, time.Since(start), 5*time.Second)
	require.Len(t, res.Keys, 1)
	assert.Contains(t, res.Keys[0].Reason, "out of time")
}

// hardKey is a history Porcupine takes far too long on: see
// TestTimeoutGivesUnknown.
func hardKey(key string) []history.Operation {
	rng := rand.New(rand.NewPCG(1, 2))
	ops := smallHistory(rng, genParams{n: 3000, keys: 1, procs: 30, domain: 3, info: 0.3, timeSpan: 400})
	for i := range ops {
		ops[i].Key = key
	}
	return ops
}

func TestCancelStopsPorcupine(t *testing.T) {
	// The budget is long; the caller cancels. Porcupine's own timeout would
	// not fire for a minute, the model's stop flag must end it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once Porcupine is under way: before that, on a loaded machine,
	// the cancel would only stop the preparation.
	var once sync.Once
	porcupineStarting = func() { once.Do(func() { time.AfterFunc(100*time.Millisecond, cancel) }) }
	defer func() { porcupineStarting = nil }()
	start := time.Now()
	res := Check(ctx, hardKey("x"), Options{Timeout: time.Minute})
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, Unknown, res.Verdict, res.Summary)
	require.Len(t, res.Keys, 1)
	assert.Contains(t, res.Keys[0].Reason, "cancelled in a segment of")
}

func TestInvalidKeyCutsTheOthersShort(t *testing.T) {
	ops := hardKey("hard")
	ops = append(ops, (&hb{}).w(0, ok, 1, 0, 1).w(1, ok, 2, 2, 3).r(2, ok, iv(1), 4, 5).ops...)
	start := time.Now()
	res := Check(context.Background(), ops, Options{Timeout: time.Minute, grace: 100 * time.Millisecond})
	assert.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, Invalid, res.Verdict, res.Summary)
	require.Len(t, res.Keys, 2)
	assert.Equal(t, "hard", res.Keys[0].Key)
	assert.Equal(t, Unknown, res.Keys[0].Verdict)
	assert.Contains(t, res.Keys[0].Reason, "another key was already found invalid")
	assert.Equal(t, Invalid, res.Keys[1].Verdict)
	assert.Contains(t, res.Summary, `key "x"`)
}

func TestCancelledContextGivesUnknown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := history.Operations(Generate(200, 2, 4, 0.01, 1))
	res := Check(ctx, ops, Options{})
	assert.Equal(t, Unknown, res.Verdict, res.Summary)
}

func TestMalformedIsUnknown(t *testing.T) {
	ops := (&hb{}).add(0, ok, history.FWrite, "x", null, null, 0, 1).ops
	res := Check(context.Background(), ops, Options{})
	assert.Equal(t, Unknown, res.Verdict, res.Summary)
}

func TestGenerateIsAValidHistory(t *testing.T) {
	ops := Generate(5000, 10, 20, 0.05, 3)
	// Round-trip through the history format and its validator.
	f := filepath.Join(t.TempDir(), "history.jsonl")
	var buf []byte
	for _, op := range ops {
		b, err := json.Marshal(op)
		require.NoError(t, err)
		buf = append(append(buf, b...), '\n')
	}
	require.NoError(t, os.WriteFile(f, buf, 0o644))
	back, warnings, err := history.ReadFile(f)
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.Equal(t, len(ops), len(back))

	pairs := history.Operations(back)
	assert.Len(t, pairs, 5000)
	res := Check(context.Background(), pairs, Options{})
	assert.Equal(t, Valid, res.Verdict, res.Summary)
	assert.Positive(t, res.Stats.InfoClosed+res.Stats.InfoDropped)
	assert.Equal(t, 0, res.Stats.InfoOpen, "unique values: every info write is dropped or closed")

	bad := AppendImpossibleRead(ops, 1)
	require.Len(t, bad, len(ops)+2)
	assert.Equal(t, Invalid, Check(context.Background(), history.Operations(bad), Options{}).Verdict)
	assert.Equal(t, Generate(100, 2, 3, 0.1, 9), Generate(100, 2, 3, 0.1, 9), "deterministic")
}

func TestVisualizationName(t *testing.T) {
	assert.Equal(t, "linearizable-k1.html", VisualizationName("k1"))
	assert.NotEqual(t, VisualizationName("a/b"), VisualizationName("a_b"))
	assert.NotEqual(t, VisualizationName("a/b"), VisualizationName("a:b"))
	assert.NotContains(t, VisualizationName("../x"), "/")
	assert.Regexp(t, `^linearizable-[A-Za-z0-9._-]+\.html$`, VisualizationName(""))
}

// TestReductions pins down which info operations are dropped, closed or
// left open (their exactness is what the equivalence tests check).
func TestReductions(t *testing.T) {
	tests := []struct {
		name                  string
		h                     *hb
		dropped, closed, open int
		narrowed, segments    int
	}{
		{"a long write observed early no longer spans the rest", (&hb{}).
			w(0, ok, 1, 0, 100).r(1, ok, iv(1), 1, 2).w(2, ok, 2, 3, 4).r(3, ok, iv(2), 5, 6), 0, 0, 0, 1, 3},
		{"a long read starts where the write it saw starts", (&hb{}).
			w(0, ok, 1, 0, 1).r(1, ok, iv(2), 0, 10).w(2, ok, 2, 3, 4), 0, 0, 0, 1, 2},
		{"unobserved info write is dropped", (&hb{}).w(0, info, 1, 0, 0).r(1, ok, null, 5, 6), 1, 0, 0, 0, 1},
		{"observed unique info write is closed", (&hb{}).w(0, info, 1, 0, 0).r(1, ok, iv(1), 5, 6), 0, 1, 0, 0, 1},
		{"observed repeated value stays open", (&hb{}).w(0, info, 1, 0, 0).w(2, ok, 1, 1, 2).r(1, ok, iv(1), 5, 6), 0, 0, 1, 0, 1},
		{"value only an unresolvable info cas expects stays open", (&hb{}).
			w(0, info, 1, 0, 0).cas(1, info, 1, 2, 1, 0).w(3, ok, 2, 2, 3).r(2, ok, iv(2), 5, 6), 0, 0, 2, 0, 1},
		{"chain: cas closed by its observer, then the write it observed", (&hb{}).
			w(0, info, 1, 0, 0).cas(1, info, 1, 2, 1, 0).r(2, ok, iv(2), 5, 6), 0, 2, 0, 0, 1},
		{"chain: unobserved cas dropped, then the write only it expected", (&hb{}).
			w(0, info, 1, 0, 0).cas(1, info, 1, 2, 1, 0).r(2, ok, null, 5, 6), 2, 0, 0, 0, 1},
		{"observer that returned before the write was invoked: left to the pre-pass", (&hb{}).
			r(1, ok, iv(1), 0, 1).w(0, info, 1, 2, 0), 0, 0, 1, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Check(context.Background(), tt.h.ops, Options{})
			assert.Equal(t, refVerdict(tt.h.ops), res.Verdict, res.Summary)
			assert.Equal(t, tt.dropped, res.Stats.InfoDropped, "dropped")
			assert.Equal(t, tt.narrowed, res.Stats.Narrowed, "narrowed")
			assert.Equal(t, tt.segments, res.Stats.Segments, "segments")
			assert.Equal(t, tt.closed, res.Stats.InfoClosed, "closed")
			assert.Equal(t, tt.open, res.Stats.InfoOpen, "open")
		})
	}
}

// A stale read's reason names the node that served it, the question a user
// asks first (which follower lagged).
func TestStaleReadNamesNode(t *testing.T) {
	h := (&hb{}).w(0, ok, 1, 0, 1).w(1, ok, 2, 2, 3).r(2, ok, iv(1), 4, 5)
	h.ops[0].Node, h.ops[1].Node, h.ops[2].Node = "n1", "n1", "n3"
	got := Check(context.Background(), h.ops, Options{})
	require.Equal(t, Invalid, got.Verdict)
	require.Len(t, got.Keys, 1)
	assert.Contains(t, got.Keys[0].Reason, "read() → 1 on n3 [index 2] is stale")
}
