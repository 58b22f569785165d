package linearizable

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/history"
)

// The benchmark histories: 10 keys, 20 concurrent clients, unique write
// values, 1% info, as in issue 2. Generating a million operations takes a
// while, so each is made once.
var (
	benchMu   sync.Mutex
	benchHist = map[string][]history.Operation{}
)

func benchOps(b *testing.B, n int, bad bool) []history.Operation {
	benchMu.Lock()
	defer benchMu.Unlock()
	name := fmt.Sprint(n, bad)
	if h, ok := benchHist[name]; ok {
		return h
	}
	ops := Generate(n, 10, 20, 0.01, int64(n))
	if bad {
		ops = AppendImpossibleRead(ops, 1)
	}
	h := history.Operations(ops)
	benchHist[name] = h
	return h
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, c := range []struct {
			name string
			bad  bool
			opts Options
			want Verdict
		}{
			{"valid", false, Options{}, Valid},
			{"impossible-read", true, Options{}, Invalid},
			// The same with the pre-pass off: the segment search has to
			// find the impossible read on its own.
			{"impossible-read-search", true, Options{noPrepass: true}, Invalid},
		} {
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				ops := benchOps(b, n, c.bad)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					res := Check(context.Background(), ops, c.opts)
					if res.Verdict != c.want {
						b.Fatalf("verdict %s, want %s: %s", res.Verdict, c.want, res.Summary)
					}
				}
			})
		}
	}
}

// BenchmarkPorcupineAlone is the baseline: plain Porcupine on the whole
// history, per key, as refVerdict runs it (with a 120 s limit).
func BenchmarkPorcupineAlone(b *testing.B) {
	for _, c := range []struct {
		name string
		bad  bool
		want Verdict
	}{{"valid", false, Valid}, {"impossible-read", true, Invalid}} {
		b.Run(fmt.Sprintf("%s/%d", c.name, 10_000), func(b *testing.B) {
			ops := benchOps(b, 10_000, c.bad)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if v := refVerdictTimeout(ops, 120*time.Second); v != c.want {
					b.Fatalf("verdict %s, want %s", v, c.want)
				}
			}
		})
	}
}
