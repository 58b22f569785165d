package raft

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/election"
)

// BenchmarkCommittedWrites measures committed (acknowledged) writes per
// second of wall time through a simnet cluster with 1 ms links, 64 writes
// in flight at a time. virtual-ms/batch is the simulated commit latency.
func BenchmarkCommittedWrites(b *testing.B) {
	for _, size := range []int{3, 5} {
		b.Run(fmt.Sprintf("n%d", size), func(b *testing.B) {
			const batch = 64
			c := newCluster(b, clusterOpts{size: size, seed: 1})
			lead := c.waitLeader(b, 3*time.Second)
			var virtual time.Duration
			batches := 0
			b.ResetTimer()
			start := time.Now()
			for done := 0; done < b.N; {
				k := min(batch, b.N-done)
				want := c.NumResults() + k
				for i := range k {
					c.Propose(lead, election.Request{ID: c.NextID(), Op: election.OpWrite, Key: "k", Value: int64(done + i)})
				}
				t0 := c.Now()
				if !c.RunUntil(time.Second, func() bool { return c.NumResults() >= want }) {
					b.Fatal("writes not acknowledged")
				}
				virtual += c.Now().Sub(t0)
				batches++
				done += k
			}
			b.StopTimer()
			for _, r := range c.Results() {
				if r.Err != nil {
					b.Fatalf("write failed: %v", r.Err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
			b.ReportMetric(float64(virtual.Milliseconds())/float64(batches), "virtual-ms/batch")
		})
	}
}

// BenchmarkLeaderFailover measures the virtual time from killing the leader
// to a new leader, at the default timeouts (ET 300 ms, heartbeat 50 ms).
func BenchmarkLeaderFailover(b *testing.B) {
	for _, size := range []int{3, 5} {
		b.Run(fmt.Sprintf("n%d", size), func(b *testing.B) {
			var total time.Duration
			var all []time.Duration
			for i := 0; i < b.N; i++ {
				c := newCluster(b, clusterOpts{size: size, seed: int64(i)})
				old := c.waitLeader(b, 3*time.Second)
				c.Run(time.Duration(i%50) * time.Millisecond) // vary the heartbeat phase
				c.Kill(old)
				t0 := c.Now()
				c.waitLeader(b, 5*time.Second, old)
				d := c.Now().Sub(t0)
				total += d
				all = append(all, d)
			}
			slices.Sort(all)
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "virtual-ms/failover")
			b.ReportMetric(float64(all[len(all)-1].Milliseconds()), "max-virtual-ms")
		})
	}
}
