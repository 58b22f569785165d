package raft

import (
	"slices"
	"time"
)

// quorum arithmetic, kept apart from the protocol so it can be tested
// against a naive oracle (quorum_test.go).

// voteResult is the state of a vote count.
type voteResult int

const (
	votePending voteResult = iota
	voteWon
	voteLost
)

// countVotes decides a vote among n voters needing q grants: won once q
// voters granted, lost once more than n-q refused.
func countVotes(votes map[string]bool, n, q int) voteResult {
	granted, refused := 0, 0
	for _, v := range votes {
		if v {
			granted++
		} else {
			refused++
		}
	}
	switch {
	case granted >= q:
		return voteWon
	case refused > n-q:
		return voteLost
	}
	return votePending
}

// quorumIndex returns the largest value that at least q of vals reach (the
// q-th largest), or 0 when there are fewer than q values. With match
// indexes it is the commit candidate; with acked heartbeat rounds it is the
// last round a quorum confirmed.
func quorumIndex(vals []uint64, q int) uint64 {
	if q <= 0 || q > len(vals) {
		return 0
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	return s[len(s)-q]
}

// quorumTime returns the latest time that at least q of ts reach (the
// q-th latest), or the zero time when there are fewer than q.
func quorumTime(ts []time.Time, q int) time.Time {
	if q <= 0 || q > len(ts) {
		return time.Time{}
	}
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	return s[len(s)-q]
}
