package node_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func benchEachAlgo(b *testing.B, f func(b *testing.B, algo string, size int)) {
	for _, algo := range []string{"raft", "zab"} {
		if algos[algo] == nil {
			continue
		}
		for _, size := range []int{3, 5} {
			b.Run(fmt.Sprintf("%s/%d", algo, size), func(b *testing.B) { f(b, algo, size) })
		}
	}
}

// BenchmarkCommittedWrites measures acknowledged (committed, fsynced)
// writes per second through HTTP, 16 concurrent clients on the leader.
func BenchmarkCommittedWrites(b *testing.B) {
	benchEachAlgo(b, func(b *testing.B, algo string, size int) {
		e := newEnsemble(b, algo, size)
		e.client = &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64},
		}
		leader, _ := e.waitLeader(5 * time.Second)
		m := e.member(leader)
		var seq, failed atomic.Int64
		b.SetParallelism(8) // 8 × GOMAXPROCS clients
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := seq.Add(1)
				code, _ := e.do(m, "PUT", fmt.Sprintf("/kv/k%d", i%64), fmt.Sprintf(`{"value": %d}`, i))
				if code != 200 {
					failed.Add(1)
				}
			}
		})
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/el.Seconds(), "writes/s")
		if f := failed.Load(); f > 0 {
			b.Logf("%d of %d writes not acknowledged", f, b.N)
		}
	})
}

// BenchmarkLeaderFailover measures the time from killing the leader to a
// stable new leader (every survivor following it), at default timeouts.
func BenchmarkLeaderFailover(b *testing.B) {
	benchEachAlgo(b, func(b *testing.B, algo string, size int) {
		e := newEnsemble(b, algo, size)
		var total, worst time.Duration
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			leader, _ := e.waitLeader(10 * time.Second)
			m := e.member(leader)
			b.StartTimer()
			start := time.Now()
			e.stop(m)
			e.waitLeader(10 * time.Second)
			took := time.Since(start)
			b.StopTimer()
			total += took
			worst = max(worst, took)
			e.start(m, nil)
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/failover")
		b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
	})
}
