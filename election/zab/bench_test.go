package zab

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/simnet"
)

// BenchmarkCommittedWrites drives writes through the leader of a simulated
// ensemble, 64 in flight, with 1-3 ms one-way delays. ns/op is wall-clock
// cost per committed write of the whole simulation; writes/vs is committed
// writes per second of virtual time.
func BenchmarkCommittedWrites(b *testing.B) {
	for _, size := range []int{3, 5} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			net := ensemble{size: size, seed: 21}.start(b)
			leader := waitSettled(b, net, 2*time.Second)
			nd := zabNode(net, leader)
			base := zxidCounter(nd.commit)
			const inflight = 64
			start := net.Now()
			b.ResetTimer()
			proposed := 0
			for {
				done := int(zxidCounter(nd.commit) - base)
				if done >= b.N {
					break
				}
				for proposed-done < inflight && proposed < b.N {
					proposed++
					net.Propose(leader, election.Request{ID: uint64(proposed), Op: election.OpWrite, Key: fmt.Sprint("k", proposed%16), Value: int64(proposed)})
				}
				net.Run(time.Millisecond)
			}
			b.StopTimer()
			if el := net.Now().Sub(start); el > 0 {
				b.ReportMetric(float64(b.N)/el.Seconds(), "writes/vs")
			}
			require.Empty(b, net.Errors())
		})
	}
}

// failover kills the settled leader of a fresh ensemble and returns how
// long (virtual time) until a new leader is established.
func failover(t testing.TB, size int, seed int64) time.Duration {
	net := ensemble{size: size, seed: seed}.start(t)
	old := waitSettled(t, net, 2*time.Second)
	net.Run(time.Duration(seed%50) * time.Millisecond) // kill at varying points of the ping cycle
	killed := net.Now()
	net.Kill(old)
	ok := net.RunUntil(5*time.Second, func() bool { return len(net.Leaders()) == 1 })
	require.True(t, ok)
	return net.Now().Sub(killed)
}

// BenchmarkLeaderFailover reports the virtual time from killing the leader
// to the next established leader (default timeouts: 300 ms election
// timeout = syncLimit, 50 ms heartbeat, 200 ms finalize wait).
func BenchmarkLeaderFailover(b *testing.B) {
	for _, size := range []int{3, 5} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += failover(b, size, int64(i+1))
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "virtual-ms/failover")
		})
	}
}

// TestFailoverWithinBound: at default timeouts a killed leader is replaced
// within 2 s of virtual time, whatever the seed.
func TestFailoverWithinBound(t *testing.T) {
	for _, size := range []int{3, 5} {
		var worst, total time.Duration
		const runs = 20
		for s := int64(1); s <= runs; s++ {
			d := failover(t, size, s)
			total += d
			worst = max(worst, d)
		}
		t.Logf("%d nodes: leader kill to new leader mean %s, worst %s over %d seeds", size, total/runs, worst, runs)
		assert.Less(t, worst, 2*time.Second)
	}
}

var _ = simnet.New
