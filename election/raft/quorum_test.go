package raft

import (
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/splitbrain/splitbrain/election"
)

// naiveQuorumIndex is the oracle: the largest v such that at least q
// values are >= v.
func naiveQuorumIndex(vals []uint64, q int) uint64 {
	var best uint64
	for _, cand := range vals {
		n := 0
		for _, v := range vals {
			if v >= cand {
				n++
			}
		}
		if n >= q && cand > best {
			best = cand
		}
	}
	return best
}

func TestQuorumIndexAgainstOracle(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for range 5000 {
		n := 1 + r.Intn(7)
		vals := make([]uint64, n)
		for i := range vals {
			vals[i] = uint64(r.Intn(10))
		}
		q := election.Quorum(n)
		assert.Equal(t, naiveQuorumIndex(vals, q), quorumIndex(vals, q), "%v q=%d", vals, q)
		ts := make([]time.Time, n)
		for i, v := range vals {
			ts[i] = time.Unix(int64(v), 0)
		}
		assert.Equal(t, time.Unix(int64(naiveQuorumIndex(vals, q)), 0), quorumTime(ts, q))
	}
	assert.Zero(t, quorumIndex([]uint64{1}, 2))
}

func TestCountVotes(t *testing.T) {
	for _, tc := range []struct {
		votes map[string]bool
		n     int
		want  voteResult
	}{
		{map[string]bool{"a": true}, 1, voteWon},
		{map[string]bool{"a": true}, 3, votePending},
		{map[string]bool{"a": true, "b": true}, 3, voteWon},
		{map[string]bool{"a": true, "b": false}, 3, votePending},
		{map[string]bool{"a": true, "b": false, "c": false}, 3, voteLost},
		{map[string]bool{"a": true, "b": true}, 4, votePending},
		{map[string]bool{"a": true, "b": true, "c": true}, 5, voteWon},
		{map[string]bool{"a": true, "b": false, "c": false}, 5, votePending},
		{map[string]bool{"a": true, "b": false, "c": false, "d": false}, 5, voteLost},
	} {
		assert.Equal(t, tc.want, countVotes(tc.votes, tc.n, election.Quorum(tc.n)), "%v of %d", tc.votes, tc.n)
	}
}
