package nightly

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/runner"
)

// mixedVerdicts gives the repo's matrix every outcome, the same for the
// same run wherever it runs: a regression, a faithful unknown, a run that
// could not run, bugs found in one seed of two and in none.
func mixedVerdicts(cfg runner.Config) (map[string]checker.Verdict, error) {
	switch {
	case cfg.Bug == "" && cfg.Algo == "zab" && cfg.Seed == 2:
		return map[string]checker.Verdict{"election-safety": checker.Invalid}, nil
	case cfg.Bug == "" && cfg.Algo == "raft" && cfg.Seed == 2:
		return map[string]checker.Verdict{"linearizable": checker.Unknown}, nil
	case cfg.Bug == "raft.vote-volatile" && cfg.Seed == 1:
		return nil, errors.New("no Docker engine answers")
	case cfg.Bug == "raft.vote-twice" && cfg.Seed == 1, cfg.Bug == "zab.no-stepdown":
		return nil, nil // not found
	}
	return plantedFinds(cfg)
}

// pageRows is the runs and bugs tables of a summary page, each run's
// duration left out (it is the time the run took, here or there).
func pageRows(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	page := string(b)
	i := strings.Index(page, `<section id="runs">`)
	require.Positive(t, i)
	body := page[i:]
	dur := regexp.MustCompile(`<td class="num">[^<]*</td></tr>`)
	var rows []string
	for _, row := range strings.Split(body, "<tr")[1:] {
		rows = append(rows, dur.ReplaceAllString(strings.SplitN(row, "</tr>", 2)[0]+"</tr>", "</tr>"))
	}
	return rows
}

// junitCases reads a JUnit file's cases, their times zeroed and the store's
// path in the replay command made STORE.
func junitCases(t *testing.T, path, store string) []reports.JUnitCase {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc reports.JUnitSuites
	require.NoError(t, xml.Unmarshal(b, &doc))
	require.Len(t, doc.Suites, 1)
	cases := doc.Suites[0].Cases
	for i := range cases {
		cases[i].Time = ""
		if cases[i].SystemOut != nil {
			cases[i].SystemOut.Text = strings.ReplaceAll(cases[i].SystemOut.Text, store, "STORE")
		}
		for _, f := range []*reports.JUnitFailure{cases[i].Failure, cases[i].Error} {
			if f != nil {
				f.Body = strings.ReplaceAll(f.Body, store, "STORE")
			}
		}
	}
	return cases
}

// TestMergeIsOneNight: the repo's matrix run whole on one machine, and
// in 8 shards merged, give the same summary rows, bugs table, JUnit cases
// and exit code.
func TestMergeIsOneNight(t *testing.T) {
	m := repoMatrix(t)
	day := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return day }
	tmp := t.TempDir()

	whole := filepath.Join(tmp, "whole")
	sumW, err := Execute(context.Background(), m, Options{Store: whole, Runner: &fakeRunner{t: t, verdicts: mixedVerdicts}, Now: clock,
		CorpusRunner: fakeCorpus{t: t}})
	require.NoError(t, err)
	require.Len(t, sumW.Runs, 24)

	var shards []string
	ran := 0
	for k := 1; k <= 8; k++ {
		store := filepath.Join(tmp, fmt.Sprintf("shard-%d", k))
		fr := &fakeRunner{t: t, verdicts: mixedVerdicts}
		sum, err := Execute(context.Background(), m, Options{Store: store, Runner: fr, Now: clock, Shard: Shard{Index: k, Count: 8},
			CorpusRunner: fakeCorpus{t: t}})
		require.NoError(t, err)
		assert.Len(t, fr.names, 3, "24 runs in 8 shards")
		assert.Equal(t, Shard{Index: k, Count: 8}, sum.Shard)
		ran += len(fr.names)
		shards = append(shards, store)
	}
	assert.Equal(t, 24, ran)

	out := filepath.Join(tmp, "merged")
	// The shards in any order: the rows come in the matrix's.
	sumM, err := Merge([]string{shards[3], shards[0], shards[7], shards[1], shards[2], shards[6], shards[4], shards[5]}, MergeOptions{Store: out})
	require.NoError(t, err)

	assert.Equal(t, sumW.ExitCode, sumM.ExitCode)
	assert.Equal(t, 1, sumM.ExitCode, "the zab regression")
	assert.Equal(t, sumW.Status, sumM.Status)
	assert.Equal(t, sumW.Checkers, sumM.Checkers)
	assert.Equal(t, sumW.Bugs, sumM.Bugs)
	norm := func(rs []JudgedRun, store string) []JudgedRun {
		var out []JudgedRun
		for _, r := range rs {
			r.Duration, r.Replay = 0, strings.ReplaceAll(r.Replay, store, "STORE")
			out = append(out, r)
		}
		return out
	}
	assert.Equal(t, norm(sumW.Runs, whole), norm(sumM.Runs, out))
	assert.Equal(t, pageRows(t, filepath.Join(whole, SummaryFile)), pageRows(t, filepath.Join(out, SummaryFile)))
	assert.Equal(t, junitCases(t, filepath.Join(whole, JUnitFile), whole), junitCases(t, filepath.Join(out, JUnitFile), out))

	// Every run directory is in the merged store, and its link works.
	for _, r := range sumM.Runs {
		if r.Outcome != OutcomeCouldNotRun {
			assert.FileExists(t, filepath.Join(out, r.Name, "results.json"), r.Name)
			assert.Contains(t, r.Replay, filepath.Join(out, r.Name), "the replay names the merged copy")
		}
	}
	page, err := os.ReadFile(filepath.Join(out, SummaryFile))
	require.NoError(t, err)
	assert.Contains(t, string(page), "merged from 8 shard stores")
	shardPage, err := os.ReadFile(filepath.Join(shards[2], SummaryFile))
	require.NoError(t, err)
	assert.Contains(t, string(shardPage), "shard 3/8: 3 of the matrix&#39;s 24 runs")

	// Merging again into the same store finds its copies and says the same.
	again, err := Merge(shards, MergeOptions{Store: out})
	require.NoError(t, err)
	assert.Equal(t, norm(sumM.Runs, out), norm(again.Runs, out))
}

// shardStores runs the shards of a small matrix with the fake runner.
func shardStores(t *testing.T, text string, n int, verdicts func(runner.Config) (map[string]checker.Verdict, error)) []string {
	t.Helper()
	m, err := Parse("small.yaml", []byte(text))
	require.NoError(t, err)
	var stores []string
	for k := 1; k <= n; k++ {
		store := filepath.Join(t.TempDir(), fmt.Sprintf("shard-%d", k))
		_, err := Execute(context.Background(), m, Options{Store: store, Runner: &fakeRunner{t: t, verdicts: verdicts}, Shard: Shard{Index: k, Count: n}})
		require.NoError(t, err)
		stores = append(stores, store)
	}
	return stores
}

func TestMergeIncomplete(t *testing.T) {
	stores := shardStores(t, smallMatrix, 3, plantedFinds)

	t.Run("a shard not given", func(t *testing.T) {
		sum, err := Merge(stores[:2], MergeOptions{Store: filepath.Join(t.TempDir(), "m")})
		require.NoError(t, err)
		assert.Equal(t, 3, sum.ExitCode, sum.Status)
		assert.Len(t, sum.Runs, 8, "every run of the matrix has its row")
		missing := 0
		for _, r := range sum.Runs {
			if Of(indexOf(t, sum, r.Name), 3) == 3 {
				missing++
				assert.Equal(t, OutcomeCouldNotRun, r.Outcome)
				assert.Equal(t, "not run: shard 3/3 was not merged", r.Message)
			} else {
				assert.NotEqual(t, OutcomeCouldNotRun, r.Outcome, r.Name)
			}
		}
		assert.Equal(t, 2, missing)
	})

	t.Run("a shard killed midway", func(t *testing.T) {
		// Its record as it was when the machine died: the first run done,
		// the second under way.
		man, err := ReadManifest(stores[1])
		require.NoError(t, err)
		man.Runs[1].Done, man.Runs[1].Err = false, ""
		man.Ended = time.Time{}
		require.NoError(t, WriteManifest(stores[1], man))
		sum, err := Merge(stores, MergeOptions{Store: filepath.Join(t.TempDir(), "m")})
		require.NoError(t, err)
		assert.Equal(t, 3, sum.ExitCode)
		r := sum.Runs[man.Runs[1].Index]
		assert.Equal(t, OutcomeCouldNotRun, r.Outcome)
		assert.Contains(t, r.Message, "shard 2/3 stopped before this run ended")
	})
}

func indexOf(t *testing.T, sum Summary, name string) int {
	for i, r := range sum.Runs {
		if r.Name == name {
			return i
		}
	}
	t.Fatalf("%s is not in the summary", name)
	return -1
}

func TestMergeRefuses(t *testing.T) {
	stores := shardStores(t, smallMatrix, 2, plantedFinds)
	other := shardStores(t, strings.Replace(smallMatrix, "seeds: 2", "seeds: 3", 1), 2, plantedFinds)
	four := shardStores(t, smallMatrix, 4, plantedFinds)
	notNightly := t.TempDir()
	out := filepath.Join(t.TempDir(), "m")
	tests := []struct {
		name   string
		stores []string
		store  string
		want   string
	}{
		{"nothing given", nil, out, "no shard store given"},
		{"not a nightly store", []string{stores[0], notNightly}, out, notNightly + ": no nightly.json: not the store of a splitbrain nightly"},
		{"another matrix", []string{stores[0], other[1]}, out, other[1] + " is a night of another matrix than " + stores[0]},
		{"other shard counts", []string{stores[0], four[1]}, out, "cut into different numbers of shards"},
		{"a shard twice", []string{stores[0], stores[0]}, out, "are both shard 1/2"},
		{"into a shard", stores, stores[1], "is one of the shard stores"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(tt.stores, MergeOptions{Store: tt.store})
			require.ErrorIs(t, err, ErrMerge)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := os.Stat(out)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing written for stores that do not fit")

	// A run of that name in the way that is another run.
	out2 := filepath.Join(t.TempDir(), "m")
	_, err = Merge(stores, MergeOptions{Store: out2})
	require.NoError(t, err)
	man, err := ReadManifest(stores[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(out2, man.Runs[0].Name, "run.json"), []byte(`{"name":"other"}`), 0o644))
	sum, err := Merge(stores, MergeOptions{Store: out2})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is in the way")
	assert.Equal(t, 3, sum.ExitCode, "a run not merged leaves the night incomplete")
}

// TestMergeRequireFound: a bug found on one shard's seed is found, though
// the other shard's seed missed it.
func TestMergeRequireFound(t *testing.T) {
	oneSeed := func(cfg runner.Config) (map[string]checker.Verdict, error) {
		if cfg.Seed == 2 {
			return nil, nil
		}
		return plantedFinds(cfg)
	}
	stores := shardStores(t, smallMatrix, 2, oneSeed) // seeds alternate: 1 on shard 1, 2 on shard 2
	sum, err := Merge(stores, MergeOptions{Store: filepath.Join(t.TempDir(), "m"), RequireFound: true})
	require.NoError(t, err)
	assert.Equal(t, 0, sum.ExitCode, sum.Status)
	for _, b := range sum.Bugs {
		assert.Equal(t, 1, b.Found, b.Bug)
		assert.Equal(t, 2, b.Runs, b.Bug)
	}
}

func TestManifestErrors(t *testing.T) {
	stores := shardStores(t, smallMatrix, 2, plantedFinds)
	good, err := os.ReadFile(filepath.Join(stores[0], ManifestFile))
	require.NoError(t, err)
	for name, edit := range map[string]func(string) string{
		"garbage": func(string) string { return "{" },
		"version": func(s string) string { return strings.Replace(s, `"version": 1`, `"version": 7`, 1) },
		"shard": func(s string) string {
			return strings.Replace(s, `"index": 1,`+"\n    \"count\": 2", `"index": 3,`+"\n    \"count\": 2", 1)
		},
		"no matrix": func(s string) string {
			return regexp.MustCompile(`(?s)"matrix": \[.*?\],\n  "runs"`).ReplaceAllString(s, `"matrix": [], "runs"`)
		},
		"odd run name": func(s string) string { return strings.Replace(s, `"name": "nightly-`, `"name": "../nightly-`, 1) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			text := edit(string(good))
			require.NotEqual(t, string(good), text, "the edit applies")
			require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(text), 0o644))
			_, err := ReadManifest(dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), filepath.Join(dir, ManifestFile))
		})
	}
}
