package nightly

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/runner"
)

// fakeCorpus replays an entry: a planted bug is invalid by linearizable,
// unless its seed is in lost (the bug no longer shows); the faithful
// build is valid.
type fakeCorpus struct {
	t    testing.TB
	lost map[int64]bool
}

func (f fakeCorpus) Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, label string) (runner.Result, error) {
	dir := filepath.Join(cfg.Store, cfg.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return runner.Result{}, err
	}
	v := checker.Valid
	if cfg.Bug != "" && !f.lost[cfg.Seed] {
		v = checker.Invalid
	}
	writeRun(f.t, cfg.Store, cfg.Name, cfg, checker.Report{})
	rep := checker.Report{Verdict: v, Checkers: []checker.Result{{Name: "linearizable", Verdict: v, Summary: "linearizable says " + string(v)}}}
	return runner.Result{Dir: dir, Report: rep, Replay: "splitbrain run --replay " + dir}, checker.WriteReport(dir, rep)
}

// entryText is an entry of raft.local-read with seed.
func entryText(seed int) string {
	return fmt.Sprintf(`system: electd
algo: raft
bug: raft.local-read
nodes: 3
seed: %d
expect: invalid
checkers: [linearizable]
schedule:
  interval: 1s
  time_limit: 5s
  kinds: [pause]
  episodes:
    - {at: 1s, duration: 2s, kind: pause, variant: leader, leader: true, order: [n1, n2, n3], count: 1}
`, seed)
}

func corpusMatrix(t *testing.T, entries int) string {
	t.Helper()
	folder := filepath.Join(t.TempDir(), "corpus")
	require.NoError(t, os.MkdirAll(folder, 0o755))
	for i := 1; i <= entries; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(folder, fmt.Sprintf("e%d.yaml", i)), []byte(entryText(i)), 0o644))
	}
	return smallMatrix + "corpus: " + folder + "\ncorpus_replays: 2\n"
}

func TestCorpusFirst(t *testing.T) {
	m, err := Parse("small.yaml", []byte(corpusMatrix(t, 3)))
	require.NoError(t, err)
	require.Len(t, m.Corpus, 3)
	assert.Equal(t, 2, m.CorpusReplays)

	store := t.TempDir()
	fr := &fakeRunner{t: t, verdicts: plantedFinds}
	var out strings.Builder
	sum, err := Execute(context.Background(), m, Options{Store: store, Runner: fr, Out: &out, CorpusRunner: fakeCorpus{t: t, lost: map[int64]bool{2: true}}})
	require.NoError(t, err)
	require.Len(t, sum.Corpus, 3)
	assert.Equal(t, []string{regress.Shows, regress.NoLongerShows, regress.Shows},
		[]string{sum.Corpus[0].Outcome, sum.Corpus[1].Outcome, sum.Corpus[2].Outcome})
	assert.Equal(t, 2, sum.Corpus[1].Replays)
	assert.Equal(t, 1, sum.ExitCode, "an entry that no longer shows fails the night: %s", sum.Status)
	assert.Contains(t, sum.Status, "corpus: 2 of 3 entries as expected (1 no longer shows)")
	assert.True(t, strings.HasPrefix(out.String(), "[corpus] shows"), "the corpus is replayed first:\n%s", out.String())
	assert.DirExists(t, filepath.Join(store, sum.Corpus[0].Decided))
	assert.True(t, strings.HasPrefix(sum.Corpus[0].Decided, "nightly-"), sum.Corpus[0].Decided)

	page, err := os.ReadFile(filepath.Join(store, SummaryFile))
	require.NoError(t, err)
	assert.Contains(t, string(page), `<section id="corpus">`)
	assert.Contains(t, string(page), `href="./`+sum.Corpus[0].Decided+`/"`)
	b, err := os.ReadFile(filepath.Join(store, JUnitFile))
	require.NoError(t, err)
	var doc reports.JUnitSuites
	require.NoError(t, xml.Unmarshal(b, &doc))
	cases := doc.Suites[0].Cases
	require.Len(t, cases, 8+3)
	assert.Equal(t, "corpus e2", cases[9].Name)
	require.NotNil(t, cases[9].Failure)
	assert.Equal(t, regress.NoLongerShows, cases[9].Failure.Type)
	assert.Nil(t, cases[8].Failure)
}

func TestCorpusShardsAndMerge(t *testing.T) {
	m, err := Parse("small.yaml", []byte(corpusMatrix(t, 3)))
	require.NoError(t, err)
	whole := t.TempDir()
	sumW, err := Execute(context.Background(), m, Options{Store: whole, Runner: &fakeRunner{t: t, verdicts: plantedFinds}, CorpusRunner: fakeCorpus{t: t}})
	require.NoError(t, err)
	var stores []string
	for k := 1; k <= 2; k++ {
		store := filepath.Join(t.TempDir(), "s")
		sum, err := Execute(context.Background(), m, Options{Store: store, Runner: &fakeRunner{t: t, verdicts: plantedFinds},
			CorpusRunner: fakeCorpus{t: t}, Shard: Shard{Index: k, Count: 2}})
		require.NoError(t, err)
		// 8 runs, 4 a shard; the 3 entries are dealt on from there: to
		// shards 1, 2 and 1.
		assert.Len(t, sum.Corpus, []int{2, 1}[k-1], "entries are dealt round robin where the runs end")
		stores = append(stores, store)
	}
	out := filepath.Join(t.TempDir(), "merged")
	sumM, err := Merge(stores, MergeOptions{Store: out})
	require.NoError(t, err)
	assert.Equal(t, sumW.ExitCode, sumM.ExitCode)
	assert.Equal(t, sumW.Status, sumM.Status)
	require.Len(t, sumM.Corpus, 3)
	for i := range sumW.Corpus {
		w, g := sumW.Corpus[i], sumM.Corpus[i]
		assert.Equal(t, []any{w.Entry, w.Outcome, w.Class, w.Replays, w.Decided}, []any{g.Entry, g.Outcome, g.Class, g.Replays, g.Decided})
		assert.DirExists(t, filepath.Join(out, g.Decided))
		assert.Contains(t, g.Replay, out)
	}
	assert.Equal(t, pageRows(t, filepath.Join(whole, SummaryFile)), pageRows(t, filepath.Join(out, SummaryFile)))

	// Shard 1 missing: its entries are not replayed, and the night is incomplete.
	half, err := Merge(stores[1:], MergeOptions{Store: filepath.Join(t.TempDir(), "half")})
	require.NoError(t, err)
	assert.Equal(t, 3, half.ExitCode)
	assert.Equal(t, regress.CouldNotRun, half.Corpus[0].Outcome)
	assert.Equal(t, "not replayed: shard 1/2 was not merged", half.Corpus[0].Message)
	assert.Equal(t, regress.Shows, half.Corpus[1].Outcome)
}

func TestCorpusMatrixErrors(t *testing.T) {
	folder := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(folder, "bad.yaml"), []byte("system: electd\nnodes: 1\n"), 0o644))
	for text, want := range map[string]string{
		smallMatrix + "corpus: " + folder + "\n":                          "small.yaml:8: corpus: " + filepath.Join(folder, "bad.yaml") + ":2: nodes: want 3 to 9",
		smallMatrix + "corpus: " + filepath.Join(folder, "absent") + "\n": "small.yaml:8: corpus: corpus: stat",
		smallMatrix + "corpus: [a]\n":                                     "small.yaml:8: corpus: want the corpus folder",
		smallMatrix + "corpus_replays: 2\n":                               "small.yaml:8: corpus_replays: no corpus: to replay",
		smallMatrix + "corpus: " + t.TempDir() + "\ncorpus_replays: 0\n":  "small.yaml:9: corpus_replays: want 1 to 100",
	} {
		_, err := Parse("small.yaml", []byte(text))
		require.Error(t, err, text)
		assert.Contains(t, err.Error(), want)
	}
	// A fake runner and no corpus runner: no half-real night.
	m, err := Parse("small.yaml", []byte(corpusMatrix(t, 1)))
	require.NoError(t, err)
	_, err = Execute(context.Background(), m, Options{Store: t.TempDir(), Runner: &fakeRunner{t: t, verdicts: plantedFinds}})
	assert.ErrorContains(t, err, "Options.CorpusRunner is needed")
}
