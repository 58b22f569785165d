package nightly

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/splitbrain/splitbrain/regress"
)

// maxShards bounds --shard's N: more machines than that is a typo.
const maxShards = 1000

// Shard is one of Count disjoint slices of a matrix (Index from 1). The
// zero Shard is the whole matrix, as is 1/1.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Whole reports whether s is the whole matrix.
func (s Shard) Whole() bool { return s.Count <= 1 }

// String is "K/N", the --shard value.
func (s Shard) String() string {
	if s.Whole() {
		return "1/1"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// ParseShard reads a --shard value: "K/N", the K-th of N slices, 1 ≤ K ≤ N.
func ParseShard(v string) (Shard, error) {
	bad := func(why string) (Shard, error) {
		return Shard{}, fmt.Errorf("--shard: want K/N, the K-th of N slices with 1 ≤ K ≤ N ≤ %d (e.g. 3/8)%s, got %q", maxShards, why, v)
	}
	k, n, ok := strings.Cut(strings.TrimSpace(v), "/")
	if !ok {
		return bad("")
	}
	ki, err1 := strconv.Atoi(strings.TrimSpace(k))
	ni, err2 := strconv.Atoi(strings.TrimSpace(n))
	switch {
	case err1 != nil || err2 != nil:
		return bad("")
	case ni < 1 || ni > maxShards:
		return bad(": N out of range")
	case ki < 1 || ki > ni:
		return bad(": K out of range")
	}
	return Shard{Index: ki, Count: ni}, nil
}

// Of returns which shard of count the run at index i of the whole
// expansion (from 0) belongs to: runs are dealt round robin in the file's
// order, i mod count. See docs/nightly.md for why by index and not by a
// hash of each run's identity: every shard gets the same number of runs,
// give or take one, so that no shard takes twice as long as another.
func Of(i, count int) int {
	if count <= 1 {
		return 1
	}
	return i%count + 1
}

// CorpusShard is the shard of count that replays corpus entry j (in name
// order) of a matrix of runs runs: the deal goes on where the runs' ended,
// so that the shards stay within one replayed entry or run of each other.
func CorpusShard(j, runs, count int) int { return Of(runs+j, count) }

// SelectCorpus returns the corpus entries that belong to s, of a matrix of
// runs runs (CorpusShard).
func SelectCorpus(entries []regress.Entry, runs int, s Shard) []regress.Entry {
	var out []regress.Entry
	for j, e := range entries {
		if s.Whole() || CorpusShard(j, runs, s.Count) == s.Index {
			out = append(out, e)
		}
	}
	return out
}

// Select returns the runs of the whole expansion that belong to s, in
// order.
func Select(runs []Run, s Shard) []Run {
	if s.Whole() {
		return runs
	}
	var out []Run
	for _, r := range runs {
		if Of(r.Index, s.Count) == s.Index {
			out = append(out, r)
		}
	}
	return out
}

// Fingerprint identifies a matrix by what it runs: every run of the whole
// expansion, in order, with its settings (the flags that make it by hand;
// not the date or the store), and the corpus entries it replays. Shards
// of one matrix share it; merge refuses shards whose fingerprints differ,
// since their slices would not fit together (a matrix edited between two
// shards' jobs).
func Fingerprint(m Matrix, runs []Run) string {
	h := sha256.New()
	for _, e := range m.Corpus {
		fmt.Fprintf(h, "corpus\x00%s\x00%s\x00%d\n", e.Name, e.Expect, m.CorpusReplays)
	}
	for _, r := range runs {
		fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s\x00%s\x00%d\x00%s\n", r.Index, r.System, r.Algo, r.Bug, r.Nemesis, r.Seed,
			strings.Join(r.Config.Flags(), "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
