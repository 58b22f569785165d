package linearizable

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
)

// equivN sets how many random histories TestEquivalentToPorcupine tries;
// raise it for a longer hunt (go test -args -equiv.n=200000).
var (
	equivN    = flag.Int("equiv.n", 6000, "random histories for TestEquivalentToPorcupine (and a fifteenth as many for TestEquivalentLarger)")
	equivSeed = flag.Uint64("equiv.seed", 42, "seed of the random histories")
)

type genParams struct {
	n, keys, procs int
	domain         int     // 0: unique write values; else values from 1..domain
	info, fail     float64 // rates of info and (spontaneous) fail outcomes
	timeSpan       int64   // times fall in 0..timeSpan: small spans give equal times
}

// smallHistory simulates a linearizable register (every operation takes
// effect at an instant inside its interval, info ones maybe never) and
// returns the paired operations. Times are small integers, so equal times
// (concurrent for Porcupine) are frequent.
func smallHistory(rng *rand.Rand, p genParams) []history.Operation {
	type sop struct {
		history.Operation
		at   int64
		tie  int
		info bool
	}
	var ops []sop
	next := make([]int64, p.procs)
	procID := make([]int, p.procs)
	for s := range procID {
		procID[s] = s
	}
	maxDur := max(1, 3*p.timeSpan/int64(max(1, p.n/p.procs)))
	for i := range p.n {
		s := rng.IntN(p.procs)
		call := next[s]
		ret := call + rng.Int64N(maxDur+1)
		o := sop{Operation: history.Operation{Process: history.Process(procID[s]), Key: fmt.Sprintf("k%d", rng.IntN(p.keys)),
			Call: call, Return: ret, Index: int64(i)}, at: call + rng.Int64N(ret-call+1), tie: rng.Int()}
		switch r := rng.Float64(); {
		case r < 0.45:
			o.F = history.FRead
		case r < 0.75:
			o.F = history.FWrite
		default:
			o.F = history.FCAS
		}
		if rng.Float64() < p.info {
			o.info = true
			procID[s] += p.procs
		}
		next[s] = ret + rng.Int64N(3) // may equal ret: closed intervals touch
		ops = append(ops, o)
	}
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(ops[a].at, ops[b].at), cmp.Compare(ops[a].tie, ops[b].tie))
	})
	state := map[string]*int64{}
	var written []int64
	uniq := int64(100)
	val := func() int64 {
		if p.domain == 0 {
			uniq++
			return uniq
		}
		return 1 + rng.Int64N(int64(p.domain))
	}
	for _, i := range order {
		o := &ops[i]
		cur := state[o.Key]
		happens := !o.info || rng.IntN(2) == 0
		failed := !o.info && rng.Float64() < p.fail
		o.Type = history.OK
		switch {
		case o.info:
			o.Type = history.Info
		case failed:
			o.Type = history.Fail
			happens = false
		}
		switch o.F {
		case history.FRead:
			if cur != nil && o.Type == history.OK {
				o.Output = history.IntValue(*cur)
			}
		case history.FWrite:
			v := val()
			written = append(written, v)
			o.Input = history.IntValue(v)
			if happens {
				state[o.Key] = &v
			}
		case history.FCAS:
			from := val()
			if cur != nil && rng.IntN(3) > 0 {
				from = *cur
			} else if len(written) > 0 && rng.IntN(2) == 0 {
				from = written[rng.IntN(len(written))]
			}
			to := val()
			written = append(written, to)
			o.Input = history.PairValue(from, to)
			match := cur != nil && *cur == from
			if !match && o.Type == history.OK {
				o.Type = history.Fail
			}
			if match && happens {
				state[o.Key] = &to
			}
		}
	}
	out := make([]history.Operation, len(ops))
	for i, o := range ops {
		if o.Type == history.Info {
			o.Return = math.MaxInt64
		}
		out[i] = o.Operation
	}
	return out
}

// mutate changes one thing about a history, which may or may not make it
// non-linearizable.
func mutate(rng *rand.Rand, ops []history.Operation) {
	if len(ops) == 0 {
		return
	}
	o := &ops[rng.IntN(len(ops))]
	pick := func() int64 {
		for range 10 {
			c := ops[rng.IntN(len(ops))]
			switch c.F {
			case history.FWrite:
				return c.Input.Int
			case history.FCAS:
				return c.Input.To
			}
		}
		return 1 + rng.Int64N(3)
	}
	switch rng.IntN(6) {
	case 0, 1: // a read returns something else
		if o.F == history.FRead {
			o.Type = history.OK
			if o.Return == math.MaxInt64 {
				o.Return = o.Call + rng.Int64N(5)
			}
			if rng.IntN(4) == 0 {
				o.Output = history.Value{}
			} else {
				o.Output = history.IntValue(pick())
			}
		}
	case 2: // an outcome flips
		switch o.Type {
		case history.OK:
			o.Type = history.Fail
		case history.Fail:
			o.Type = history.OK
		case history.Info:
			o.Type = history.OK
			o.Return = o.Call + rng.Int64N(5)
		}
	case 3: // a cas expects something else
		if o.F == history.FCAS {
			o.Input.From = pick()
		}
	case 4: // an ok operation becomes info
		if o.Type == history.OK {
			o.Type, o.Return = history.Info, math.MaxInt64
		}
	case 5: // times move
		d := rng.Int64N(7) - 3
		o.Call = max(0, o.Call+d)
		if o.Return != math.MaxInt64 {
			o.Return = max(o.Call, o.Return+d)
		}
	}
}

// TestEquivalentToPorcupine is the guarantee the whole package rests on:
// on thousands of small random histories, valid and mutated, with unique
// and with repeated values, with and without the pre-pass, the checker
// says exactly what plain Porcupine says.
func TestEquivalentToPorcupine(t *testing.T) {
	n := *equivN
	if testing.Short() {
		n = 1000
	}
	rng := rand.New(rand.NewPCG(*equivSeed, 43))
	counts := map[string]int{}
	for i := range n {
		p := genParams{
			n:        2 + rng.IntN(13),
			keys:     1 + rng.IntN(2),
			procs:    1 + rng.IntN(4),
			info:     []float64{0, 0.1, 0.3}[rng.IntN(3)],
			fail:     []float64{0, 0.1}[rng.IntN(2)],
			timeSpan: int64(5 + rng.IntN(40)),
		}
		if rng.IntN(3) == 0 {
			p.domain = 1 + rng.IntN(3)
		}
		ops := smallHistory(rng, p)
		kind := "simulated"
		if rng.IntN(2) == 0 {
			kind = "mutated"
			for range 1 + rng.IntN(2) {
				mutate(rng, ops)
			}
		}
		want := refVerdict(ops)
		counts[kind+"/"+string(want)]++
		for _, noPre := range []bool{false, true} {
			got := Check(context.Background(), ops, Options{noPrepass: noPre, evidenceAlways: true})
			requireEvidence(t, got)
			if !noPre {
				counts["narrowed"] += got.Stats.Narrowed
				counts["info-closed"] += got.Stats.InfoClosed
				counts["info-dropped"] += got.Stats.InfoDropped
				counts["info-open"] += got.Stats.InfoOpen
				if got.Stats.Segments > 1 {
					counts["cut"]++
				}
			}
			if got.Verdict != want {
				for _, o := range ops {
					t.Logf("%+v", o)
				}
				require.Equal(t, want, got.Verdict, "case %d (%s, noPrepass=%v, %+v): %s", i, kind, noPre, p, got.Summary)
			}
		}
	}
	t.Logf("cases: %v", counts)
	require.Zero(t, counts["simulated/invalid"], "simulated histories are linearizable by construction")
	require.Greater(t, counts["mutated/invalid"], n/10, "the mutations must produce enough invalid cases")
	for _, c := range []string{"narrowed", "info-closed", "info-dropped", "info-open", "cut"} {
		require.Greater(t, counts[c], n/20, "every reduction must be exercised: %s", c)
	}
}

// TestEquivalentLarger runs fewer, longer histories with more concurrency,
// where segments have several operations and several possible end states.
func TestEquivalentLarger(t *testing.T) {
	n := *equivN / 15
	if testing.Short() {
		n = 60
	}
	rng := rand.New(rand.NewPCG(*equivSeed, 8))
	for i := range n {
		p := genParams{n: 20 + rng.IntN(40), keys: 1 + rng.IntN(2), procs: 2 + rng.IntN(4),
			info: []float64{0, 0.05, 0.15}[rng.IntN(3)], fail: 0.05, timeSpan: int64(40 + rng.IntN(200))}
		if rng.IntN(4) == 0 {
			p.domain = 2 + rng.IntN(4)
		}
		ops := smallHistory(rng, p)
		if rng.IntN(2) == 0 {
			mutate(rng, ops)
		}
		want := refVerdict(ops)
		for _, noPre := range []bool{false, true} {
			got := Check(context.Background(), ops, Options{noPrepass: noPre, evidenceAlways: true})
			requireEvidence(t, got)
			require.Equal(t, want, got.Verdict, "case %d (noPrepass=%v, %+v): %s", i, noPre, p, got.Summary)
		}
	}
}

// requireEvidence checks what an invalid verdict comes with: named
// operations, and a window Porcupine refutes on its own (the evidence
// window arguments in evidence.go depend on it).
func requireEvidence(t *testing.T, res Result) {
	t.Helper()
	for _, k := range res.Keys {
		if k.Verdict != Invalid {
			continue
		}
		require.NotEmpty(t, k.Ops, "key %s: %s", k.Key, k.Reason)
		require.Empty(t, k.VisualizationError, "key %s: %s", k.Key, k.Reason)
	}
}

// TestEquivalentGenerated compares on histories shaped like the benchmark
// ones (Generate: unique values, never-completed operations, new process
// numbers after info), with a high info rate so the reductions have work,
// mutated half of the time. Plain Porcupine gets stuck on some mutated
// ones (the reason this package exists), so it runs with a time limit here
// and the histories it cannot decide are skipped, and counted.
func TestEquivalentGenerated(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 30
	}
	rng := rand.New(rand.NewPCG(*equivSeed, 9))
	counts := map[Verdict]int{}
	for i := range n {
		ops := history.Operations(Generate(60+rng.IntN(200), 1+rng.IntN(3), 2+rng.IntN(6), 0.15, int64(i)))
		if rng.IntN(2) == 0 {
			for range 1 + rng.IntN(3) {
				mutate(rng, ops)
			}
		}
		want := refVerdictTimeout(ops, 500*time.Millisecond)
		counts[want]++
		if want == Unknown {
			// No reference; the pre-pass and the search must still agree,
			// and decide.
			a := Check(context.Background(), ops, Options{})
			b := Check(context.Background(), ops, Options{noPrepass: true})
			require.NotEqual(t, Unknown, a.Verdict, a.Summary)
			require.Equal(t, a.Verdict, b.Verdict, "%s / %s", a.Summary, b.Summary)
			continue
		}
		for _, noPre := range []bool{false, true} {
			got := Check(context.Background(), ops, Options{noPrepass: noPre, evidenceAlways: true})
			requireEvidence(t, got)
			require.Equal(t, want, got.Verdict, "history %d (noPrepass=%v): %s", i, noPre, got.Summary)
		}
	}
	t.Logf("verdicts: %v", counts)
}
