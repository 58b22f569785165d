package regress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
)

// testdata/run is a real run's run.json, schedule.json and results.json
// (the details left out): three electd nodes, raft with a single node
// counted a majority, partitioned: linearizable said invalid.
const testRun = "testdata/run"

func TestFromRunAndBack(t *testing.T) {
	e, err := FromRun(testRun, ExpectInvalid)
	require.NoError(t, err)
	assert.Equal(t, "electd", e.System)
	assert.Equal(t, "raft", e.Algo)
	assert.Equal(t, "raft.quorum-off-by-one", e.Bug)
	assert.Equal(t, 3, e.Nodes)
	assert.Equal(t, int64(1), e.Seed)
	assert.Equal(t, []string{"linearizable"}, e.Checkers)
	assert.Equal(t, "2026-12-01", e.Found)
	assert.Equal(t, []Setting{{"concurrency", "6"}}, e.Settings, "only what is not the default, and not the entry's own")
	require.Len(t, e.Schedule.Episodes, 1)
	assert.Equal(t, "halves", e.Schedule.Episodes[0].Variant)

	folder := t.TempDir()
	path, err := Add(folder, "", e)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(folder, "raft.quorum-off-by-one-20261201.yaml"), path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	t.Logf("%s", b)
	assert.Less(t, len(b), 1200, "a small file")
	back, err := Parse(path, b)
	require.NoError(t, err)
	e.File, e.Name = path, "raft.quorum-off-by-one-20261201"
	assert.Equal(t, e, back, "the file reads back as the entry")

	cfg, err := back.Config()
	require.NoError(t, err)
	orig, err := rundir.ReadSettings(testRun)
	require.NoError(t, err)
	assert.Equal(t, orig.Config, cfg.Config, "the replay has the run's settings")
	sched, err := nemesis.ReadFile(filepath.Join(testRun, rundir.ScheduleFile))
	require.NoError(t, err)
	assert.Equal(t, sched, back.Schedule, "and its schedule")

	// A second add of the same run gets a name of its own; a name given is
	// never overwritten.
	path2, err := Add(folder, "", e)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(folder, "raft.quorum-off-by-one-20261201-2.yaml"), path2)
	_, err = Add(folder, "raft.quorum-off-by-one-20261201", e)
	assert.ErrorContains(t, err, "exists; pick another name")
	_, err = Add(folder, "a b", e)
	assert.ErrorContains(t, err, `--name: "a b"`)

	all, err := Load(folder)
	require.NoError(t, err)
	assert.Len(t, all, 2)
}

func TestFromRunRefuses(t *testing.T) {
	_, err := FromRun(testRun, "maybe")
	assert.ErrorContains(t, err, "--expect: want invalid or valid")
	_, err = FromRun(t.TempDir(), ExpectInvalid)
	assert.ErrorIs(t, err, rundir.ErrNoSettings)

	valid := t.TempDir()
	for _, f := range []string{rundir.SettingsFile, rundir.ScheduleFile} {
		b, err := os.ReadFile(filepath.Join(testRun, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(valid, f), b, 0o644))
	}
	_, err = FromRun(valid, ExpectInvalid)
	assert.ErrorContains(t, err, "no verdict (run splitbrain check first)")
	require.NoError(t, checker.WriteReport(valid, checker.Report{Verdict: checker.Valid}))
	_, err = FromRun(valid, ExpectInvalid)
	assert.ErrorContains(t, err, "is valid: the corpus keeps runs that failed")
}

const goodEntry = `system: electd
algo: raft
bug: raft.vote-twice
nodes: 5
seed: 7
expect: invalid
checkers: [election-safety]
source: /store/hunt/t004
found: "2026-12-01"
settings:
  concurrency: 6
schedule:
  interval: 2s
  time_limit: 9s
  kinds: [kill, partition]
  episodes:
    - {"at":"1s","duration":"2s","kind":"kill","variant":"leader","leader":true,"order":["n1","n2","n3","n4","n5"],"count":1}
    - {at: 4s, duration: 1.5s, kind: partition, variant: halves, order: [n5, n4, n3, n2, n1]}
`

func TestParse(t *testing.T) {
	e, err := Parse("corpus/vote-twice.yaml", []byte(goodEntry))
	require.NoError(t, err)
	assert.Equal(t, "vote-twice", e.Name)
	assert.Equal(t, ExpectInvalid, e.Expect)
	require.Len(t, e.Schedule.Episodes, 2)
	assert.Equal(t, rundir.Duration(1500*time.Millisecond), e.Schedule.Episodes[1].Duration)
	assert.Equal(t, []string{"n1", "n2", "n3", "n4", "n5"}, e.Schedule.Nodes)
	assert.Equal(t, int64(7), e.Schedule.Seed)
	cfg, err := e.Config()
	require.NoError(t, err)
	assert.Equal(t, 9*time.Second, time.Duration(cfg.TimeLimit))
	assert.Equal(t, []string{"kill", "partition"}, cfg.Nemesis)
	assert.Equal(t, 6, cfg.Concurrency)
	assert.Zero(t, e.Replays, "the default")

	e, err = Parse("corpus/vote-twice.yaml", []byte(strings.Replace(goodEntry, "checkers: [election-safety]\n", "checkers: [election-safety]\nreplays: 5\n", 1)))
	require.NoError(t, err)
	assert.Equal(t, 5, e.Replays)
	b, err := Format(e)
	require.NoError(t, err)
	assert.Contains(t, string(b), "\nreplays: 5\n")
}

// TestParseErrors: every error names the file and the line.
func TestParseErrors(t *testing.T) {
	edit := func(old, new string) string {
		require.Contains(t, goodEntry, old)
		return strings.Replace(goodEntry, old, new, 1)
	}
	tests := []struct {
		name, text, want string
	}{
		{"yaml", "system: [electd\n", "e.yaml:1: "},
		{"empty", "", "e.yaml: empty entry"},
		{"not a mapping", "- a\n", "e.yaml:1: want a mapping"},
		{"unknown key", edit("seed: 7", "sed: 7"), "e.yaml:5: unknown key \"sed\""},
		{"twice", edit("seed: 7", "seed: 7\nseed: 8"), "e.yaml:6: seed is set twice (first on line 5)"},
		{"nodes", edit("nodes: 5", "nodes: 12"), "e.yaml:4: nodes: want 3 to 9"},
		{"seed", edit("seed: 7", "seed: x"), "e.yaml:5: seed: want an integer"},
		{"expect", edit("expect: invalid", "expect: red"), "e.yaml:6: expect: want invalid (the bug must still show) or valid"},
		{"checker", edit("[election-safety]", "[election-safty]"), "e.yaml:7: checkers: want some of"},
		{"no checkers", edit("[election-safety]", "[]"), "e.yaml:7: checkers: want the checkers"},
		{"replays", edit("checkers: [election-safety]", "checkers: [election-safety]\nreplays: 99"), "e.yaml:8: replays: want 1 to 10"},
		{"missing", edit("expect: invalid\n", ""), "e.yaml: expect is missing"},
		{"setting owned", edit("concurrency: 6", "nodes: 3"), "e.yaml:11: settings: \"nodes\" is not a setting"},
		{"setting value", edit("concurrency: 6", "concurrency: lots"), "e.yaml:11: settings: concurrency: want an integer"},
		{"interval", edit("interval: 2s", "interval: soon"), "e.yaml:13: schedule: interval: want a duration"},
		{"kind", edit("kinds: [kill, partition]", "kinds: [kill, flood]"), "e.yaml:15: schedule: kinds: unknown fault kind \"flood\""},
		{"episode field", edit("variant: halves", "varient: halves"), "e.yaml:18: schedule: episode: unknown field \"varient\""},
		{"episode type", edit("duration: 1.5s", "duration: [1]"), "e.yaml:18: schedule: episode: "},
		{"episode kind", edit("kind: partition,", "kind: flood,"), "e.yaml:18: schedule: episode: unknown kind \"flood\""},
		{"episode order", edit("[n5, n4, n3, n2, n1]", "[n5, n6]"), "e.yaml:18: schedule: episode: order: \"n6\" is not one of n1, n2, n3, n4, n5"},
		{"episode nodes twice", edit("[n5, n4, n3, n2, n1]", "[n5, n5]"), "e.yaml:18: schedule: episode: order: \"n5\""},
		{"no order", edit(`,"order":["n1","n2","n3","n4","n5"]`, ""), "e.yaml:17: schedule: episode: order: want every node"},
		{"schedule key", edit("interval: 2s", "intervall: 2s"), "e.yaml:13: schedule: unknown key \"intervall\""},
		{"schedule missing", edit("  time_limit: 9s\n", ""), "e.yaml:13: schedule: time_limit is missing"},
		{"bug of the other algo", edit("algo: raft", "algo: zab"), "e.yaml:1: --bug: "},
		{"electd without algo", edit("algo: raft\n", ""), "e.yaml:1: algo: electd needs raft or zab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("e.yaml", []byte(tt.text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := Parse("bad name!.yaml", []byte(goodEntry))
	assert.ErrorContains(t, err, "an entry's file name must be")
}

func TestLoad(t *testing.T) {
	folder := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(folder, "b.yaml"), []byte(goodEntry), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(folder, "a.yaml"), []byte(goodEntry), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(folder, "README.md"), []byte("not an entry"), 0o644))
	es, err := Load(folder)
	require.NoError(t, err)
	require.Len(t, es, 2)
	assert.Equal(t, "a", es[0].Name, "in name order")

	require.NoError(t, os.WriteFile(filepath.Join(folder, "c.yaml"), []byte("nodes: x\n"), 0o644))
	_, err = Load(folder)
	assert.ErrorContains(t, err, filepath.Join(folder, "c.yaml")+":1: nodes")

	empty, err := Load(t.TempDir())
	require.NoError(t, err)
	assert.Empty(t, empty, "an empty corpus is no error")
	_, err = Load(filepath.Join(folder, "absent"))
	assert.Error(t, err)
}

// FuzzParse: the parser never panics, every error names the file, and an
// entry it accepts is written and read back the same.
func FuzzParse(f *testing.F) {
	f.Add(goodEntry)
	if b, err := os.ReadFile("../corpus/README.md"); err == nil {
		f.Add(string(b))
	}
	for _, s := range []string{"", "{}", "- a", "schedule: {episodes: [{}]}", "nodes: 3\nschedule: []", "checkers: linearizable"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		e, err := Parse("f.yaml", []byte(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		b, err := Format(e)
		if err != nil {
			t.Fatalf("format: %v", err)
		}
		back, err := Parse("f.yaml", b)
		if err != nil {
			t.Fatalf("an accepted entry does not read back: %v\n%s", err, b)
		}
		assert.Equal(t, e, back)
	})
}
