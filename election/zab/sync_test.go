package zab

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
)

func txnsAt(zs ...uint64) []txn {
	out := make([]txn, len(zs))
	for i, z := range zs {
		out[i] = txn{Zxid: z, Op: election.OpWrite, Key: fmt.Sprintf("k%x", z), Value: int64(z)}
	}
	return out
}

func records(acc, cur uint64, zs ...uint64) [][]byte {
	return [][]byte{
		encodeRecord(&record{Kind: 'e', AcceptedEpoch: acc, CurrentEpoch: cur}),
		encodeRecord(&record{Kind: 'x', Txns: txnsAt(zs...)}),
	}
}

// TestSyncDivergentSuffix: a follower whose log diverges below the leader's
// first guess of a common point is walked down to the real one, and only
// its divergent suffix is truncated (TRUNC, then DIFF).
func TestSyncDivergentSuffix(t *testing.T) {
	z := makeZxid
	preset := map[string][][]byte{
		"n1": records(2, 2, z(1, 1), z(1, 2), z(3, 1)),
		"n2": records(5, 5, z(1, 1), z(1, 2), z(1, 3), z(2, 1)),
		"n3": records(5, 5, z(1, 1), z(1, 2), z(1, 3), z(2, 1)),
	}
	net := ensemble{size: 3, seed: 31, tweak: func(cfg *election.Config) {
		if len(cfg.Records) == 0 {
			cfg.Records = preset[cfg.ID]
		}
	}}.start(t)
	require.Equal(t, "n3", waitSettled(t, net, 2*time.Second))
	net.Run(100 * time.Millisecond)
	assert.Equal(t, zabNode(net, "n3").log, zabNode(net, "n1").log)
	var truncs int
	for _, raw := range net.Disk("n1") {
		if r := peekRecord(raw); r.Kind == 't' {
			truncs++
			assert.Equal(t, z(1, 2), r.Zxid, "truncated to the real common point only")
		}
	}
	assert.Equal(t, 1, truncs)
	res := mustDo(t, net, "n3", read(fmt.Sprintf("k%x", z(3, 1))))
	assert.False(t, res.Exists, "the abandoned proposal is gone")
	res = mustDo(t, net, "n3", read(fmt.Sprintf("k%x", z(2, 1))))
	assert.True(t, res.Exists)
	noErrors(t, net)
}

// TestSyncLongHistory: a follower that missed thousands of transactions is
// brought up to date in bounded messages.
func TestSyncLongHistory(t *testing.T) {
	net := ensemble{size: 3, seed: 32}.start(t)
	leader := waitSettled(t, net, 2*time.Second)
	lagger := "n1"
	net.Kill(lagger)
	writes := uint64(3000) // more than a window (1024) and many batches
	if raceEnabled {
		writes = 1500
	}
	for i := uint64(1); i <= writes; i++ {
		net.Propose(leader, election.Request{ID: i, Op: election.OpWrite, Key: fmt.Sprint("k", i%50), Value: int64(i)})
	}
	l := zabNode(net, leader)
	require.True(t, net.RunUntil(5*time.Second, func() bool { return zxidCounter(l.commit) == writes }))
	net.Restart(lagger)
	require.Equal(t, leader, waitSettled(t, net, 3*time.Second))
	require.True(t, net.RunUntil(2*time.Second, func() bool { return zabNode(net, lagger).commit == l.commit }))
	assert.Equal(t, l.log, zabNode(net, lagger).log)
	assert.Equal(t, l.kv, zabNode(net, lagger).kv)
	noErrors(t, net)
}

func peekRecord(raw []byte) record {
	r, err := decodeRecord(raw)
	if err != nil {
		return record{}
	}
	return *r
}
