package nightly

import (
	"fmt"
	"hash/fnv"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/regress"
)

func TestParseShard(t *testing.T) {
	for v, want := range map[string]Shard{"3/8": {3, 8}, "1/1": {1, 1}, " 8/8 ": {8, 8}, "1/1000": {1, 1000}} {
		got, err := ParseShard(v)
		require.NoError(t, err, v)
		assert.Equal(t, want, got, v)
	}
	bad := map[string]string{
		"":       "want K/N",
		"3":      "want K/N",
		"3-8":    "want K/N",
		"a/8":    "want K/N",
		"3/b":    "want K/N",
		"0/8":    "K out of range",
		"9/8":    "K out of range",
		"-1/8":   "K out of range",
		"1/0":    "N out of range",
		"1/1001": "N out of range",
		"3/8/2":  "want K/N",
	}
	for v, want := range bad {
		_, err := ParseShard(v)
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), "--shard: ", v)
		assert.Contains(t, err.Error(), want, v)
		assert.Contains(t, err.Error(), "e.g. 3/8", "says what is expected: %s", v)
	}
}

// repoMatrix is the matrix make nightly runs.
func repoMatrix(t *testing.T) Matrix {
	t.Helper()
	t.Chdir("..") // make nightly runs from the repo's root, where corpus: is
	b, err := os.ReadFile("nightly/matrix.yaml")
	require.NoError(t, err)
	m, err := Parse("nightly/matrix.yaml", b)
	require.NoError(t, err)
	return m
}

// TestShardsCoverTheRepoMatrix: for every N, the N shards of the repo's
// matrix are disjoint, cover it, and differ in size by one at most.
func TestShardsCoverTheRepoMatrix(t *testing.T) {
	all, err := Expand(repoMatrix(t), "20260102", "store")
	require.NoError(t, err)
	require.Len(t, all, 24, "the repo's matrix: 2 x (8 raft + 4 zab)")
	for n := 1; n <= len(all)+3; n++ {
		seen := map[int]int{} // index -> shard
		lo, hi := len(all), 0
		for k := 1; k <= n; k++ {
			part := Select(all, Shard{Index: k, Count: n})
			lo, hi = min(lo, len(part)), max(hi, len(part))
			for j, r := range part {
				if prev, dup := seen[r.Index]; dup {
					t.Fatalf("N=%d: run %s is on shards %d and %d", n, r.Name, prev, k)
				}
				seen[r.Index] = k
				assert.Equal(t, k, Of(r.Index, n))
				if j > 0 {
					assert.Less(t, part[j-1].Index, r.Index, "a shard keeps the file's order")
				}
			}
		}
		assert.Len(t, seen, len(all), "N=%d: the shards cover the matrix", n)
		assert.LessOrEqual(t, hi-lo, 1, "N=%d: shards of %d to %d runs", n, lo, hi)
	}
	assert.Equal(t, all, Select(all, Shard{}), "no shard is the whole matrix")

	// The corpus's entries are dealt on from where the runs end: the
	// shards stay within one of each other, entries and runs together.
	entries := make([]regress.Entry, 5)
	for j := range entries {
		entries[j].Name = fmt.Sprintf("e%d", j)
	}
	for n := 1; n <= 12; n++ {
		seen := map[string]bool{}
		lo, hi := 1000, 0
		for k := 1; k <= n; k++ {
			s := Shard{Index: k, Count: n}
			part := SelectCorpus(entries, len(all), s)
			for _, e := range part {
				assert.False(t, seen[e.Name], "N=%d: %s twice", n, e.Name)
				seen[e.Name] = true
			}
			work := len(part) + len(Select(all, s))
			lo, hi = min(lo, work), max(hi, work)
		}
		assert.Len(t, seen, len(entries), "N=%d", n)
		assert.LessOrEqual(t, hi-lo, 1, "N=%d", n)
	}
	assert.Equal(t, all, Select(all, Shard{Index: 1, Count: 1}))
}

// TestShardIsStable: a shard is the same runs every night (whatever the
// date and the store) and whatever the per-run settings say; runs before
// an edit of the matrix's lists keep their shard.
func TestShardIsStable(t *testing.T) {
	m := repoMatrix(t)
	a, err := Expand(m, "20260102", "store")
	require.NoError(t, err)
	b, err := Expand(m, "20270304-2", "/elsewhere")
	require.NoError(t, err)
	ids := func(rs []Run) []string {
		var out []string
		for _, r := range rs {
			out = append(out, runName("", r))
		}
		return out
	}
	for k := 1; k <= 8; k++ {
		s := Shard{Index: k, Count: 8}
		assert.Equal(t, ids(Select(a, s)), ids(Select(b, s)), "shard %s", s)
	}
	longer, err := Parse("m.yaml", []byte("systems: [electd]\nalgos: [raft, zab]\nbugs: [none, all]\nnemeses: [all]\nseeds: 2\nnodes: 3\ntime_limit: 20s\n"))
	require.NoError(t, err)
	c, err := Expand(longer, "20260102", "store")
	require.NoError(t, err)
	assert.Equal(t, Fingerprint(m, a), Fingerprint(m, b), "the date and the store are not part of the matrix")
	assert.NotEqual(t, Fingerprint(m, a), Fingerprint(longer, c), "the per-run settings are")
	for k := 1; k <= 8; k++ {
		s := Shard{Index: k, Count: 8}
		assert.Equal(t, ids(Select(a, s)), ids(Select(c, s)), "other settings, the same slice: shard %s", s)
	}
	// A system added at the end of systems: every earlier run keeps its shard.
	more, err := Parse("m.yaml", []byte("systems: [electd, {system: electd, read_mode: lease}]\nalgos: [raft, zab]\nbugs: [none, all]\nnemeses: [all]\nseeds: 2\n"))
	require.NoError(t, err)
	d, err := Expand(more, "20260102", "store")
	require.NoError(t, err)
	require.Greater(t, len(d), len(a))
	for i := range a {
		assert.Equal(t, runName("", a[i]), runName("", d[i]))
		assert.Equal(t, Of(a[i].Index, 8), Of(d[i].Index, 8))
	}
}

// TestHashShardsAreUneven is why shards deal by index: dealing the repo's
// matrix by a hash of each run's identity (FNV-1a) gives 8 machines
// uneven work, so the night takes as long as its largest shard.
func TestHashShardsAreUneven(t *testing.T) {
	all, err := Expand(repoMatrix(t), "20260102", "store")
	require.NoError(t, err)
	sizes := make([]int, 8)
	for _, r := range all {
		h := fnv.New32a()
		h.Write([]byte(runName("", r)))
		sizes[h.Sum32()%8]++
	}
	lo, hi := len(all), 0
	for _, n := range sizes {
		lo, hi = min(lo, n), max(hi, n)
	}
	t.Logf("24 runs on 8 shards by hash: %v (by index: 3 each)", sizes)
	assert.Greater(t, hi, 3, "a hash leaves some shard longer than 24/8")
}
