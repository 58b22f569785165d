package nightly

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election/bugs"
)

func parseString(t *testing.T, text string) (Matrix, error) {
	t.Helper()
	return Parse("m.yaml", []byte(text))
}

func countAlgo(algo string) int {
	n := 0
	for _, b := range bugs.All {
		if b.Algo == algo {
			n++
		}
	}
	return n
}

func TestExpand(t *testing.T) {
	raft, zab := countAlgo("raft"), countAlgo("zab")
	require.Positive(t, raft)
	require.Positive(t, zab)
	tests := []struct {
		name  string
		yaml  string
		runs  int
		check func(t *testing.T, runs []Run)
	}{
		{name: "real systems run faithful, with their own read modes", yaml: "systems:\n  - zookeeper\n  - {system: zookeeper, read_mode: local}\n  - etcd\n  - electd\nalgos: [raft]\nbugs: [none, raft.local-read]\nnemeses: [all]\nseeds: 1\n",
			runs: 3 + 2,
			check: func(t *testing.T, runs []Run) {
				assert.Equal(t, "nightly-20260102-zookeeper-none-all-s1", runs[0].Name)
				assert.Equal(t, "zookeeper", runs[0].Config.System)
				assert.Empty(t, runs[0].Config.Algo, "no algorithm for a real system")
				assert.Equal(t, "nightly-20260102-zookeeper-local-none-all-s1", runs[1].Name)
				assert.Equal(t, "local", runs[1].Config.ReadMode)
				assert.Equal(t, "etcd", runs[2].Config.System)
				for _, r := range runs[:3] {
					assert.True(t, r.Faithful())
				}
			}},
		{name: "faithful only", yaml: "systems: [electd]\nalgos: [raft, zab]\nbugs: [none]\nnemeses: [all]\nseeds: 3\n",
			runs: 2 * 3,
			check: func(t *testing.T, runs []Run) {
				for _, r := range runs {
					assert.True(t, r.Faithful())
					assert.Empty(t, r.Config.Bug)
					assert.Empty(t, r.ExpectedCheckers())
				}
				assert.Equal(t, "nightly-20260102-electd-raft-none-all-s1", runs[0].Name)
				assert.Equal(t, []int64{1, 2, 3}, []int64{runs[0].Seed, runs[1].Seed, runs[2].Seed})
			}},
		{name: "all is every bug of each algo, and only its own", yaml: "systems: [electd]\nalgos: [raft, zab]\nbugs: [none, all]\nnemeses: [all]\nseeds: 2\n",
			runs: 2 * (1 + raft + 1 + zab),
			check: func(t *testing.T, runs []Run) {
				seen := map[string]int{}
				for _, r := range runs {
					seen[r.Bug]++
					if !r.Faithful() {
						b, ok := bugs.Lookup(r.Bug)
						require.True(t, ok)
						assert.Equal(t, b.Algo, r.Algo, "%s runs with its own algo", r.Bug)
						assert.Equal(t, r.Bug, r.Config.Bug)
						assert.NotEmpty(t, r.ExpectedCheckers())
					}
				}
				for _, b := range bugs.All {
					assert.Equal(t, 2, seen[b.Name], b.Name)
				}
				assert.Equal(t, 4, seen[Faithful])
			}},
		{name: "named bugs skip the other algo", yaml: "systems: [electd]\nalgos: [raft, zab]\nbugs: [none, raft.local-read, zab.no-stepdown]\nnemeses: [[partition], [partition, kill]]\nseeds: [7]\n",
			runs: 2 * 2 * 2,
			check: func(t *testing.T, runs []Run) {
				var names []string
				for _, r := range runs {
					names = append(names, r.Name)
				}
				assert.Contains(t, names, "nightly-20260102-electd-raft-local-read-partition_kill-s7")
				assert.Contains(t, names, "nightly-20260102-electd-zab-no-stepdown-partition-s7")
				assert.NotContains(t, strings.Join(names, " "), "zab-local-read")
				assert.Equal(t, []string{"partition", "kill"}, runs[1].Config.Nemesis)
			}},
		{name: "contract system runs faithful only, without algo", yaml: "systems:\n  - electd\n  - name: mynode\n    binary: ./bin/mynode\n    args: '--id {id} --listen {listen} --peers {peers} --data {data}'\nalgos: [zab]\nbugs: [none, all]\nnemeses: [none]\nseeds: 1\n",
			runs: 1 + zab + 1,
			check: func(t *testing.T, runs []Run) {
				last := runs[len(runs)-1]
				assert.Equal(t, "nightly-20260102-mynode-none-none-s1", last.Name)
				assert.Equal(t, "contract", last.Config.System)
				assert.Equal(t, "./bin/mynode", last.Config.Binary)
				assert.Empty(t, last.Config.Nemesis)
			}},
		{name: "per-run settings", yaml: "systems: electd\nalgos: raft\nbugs: none\nnemeses: [partition]\nseeds: 1\nnodes: 3\ntime_limit: 20s\nnemesis-interval: 2s\nconcurrency: 4\nkeys: 2\n",
			runs: 1,
			check: func(t *testing.T, runs []Run) {
				c := runs[0].Config
				assert.Equal(t, 3, c.Nodes)
				assert.Equal(t, 20*time.Second, time.Duration(c.TimeLimit))
				assert.Equal(t, 2*time.Second, time.Duration(c.NemesisInterval))
				assert.Equal(t, 4, c.Concurrency)
				assert.Equal(t, 2, c.Keys)
				assert.Equal(t, "/store", c.Store)
				assert.Equal(t, runs[0].Name, c.Name)
				assert.True(t, c.SeedSet)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseString(t, tt.yaml)
			require.NoError(t, err)
			runs, err := Expand(m, "20260102", "/store")
			require.NoError(t, err)
			assert.Len(t, runs, tt.runs)
			names := map[string]bool{}
			for _, r := range runs {
				assert.False(t, names[r.Name], "names are unique: %s", r.Name)
				names[r.Name] = true
				assert.True(t, validName(r.Name), r.Name)
				require.NoError(t, r.Config.Validate())
			}
			tt.check(t, runs)
		})
	}
}

func TestRepoMatrix(t *testing.T) {
	m := repoMatrix(t)
	assert.Equal(t, "corpus", m.CorpusDir, "the repo's corpus is replayed first")
	runs, err := Expand(m, "20260102", "store")
	require.NoError(t, err)
	assert.Len(t, runs, 2*(2+len(bugs.All)), "faithful raft and zab and every planted bug, 2 seeds")
	for _, r := range runs {
		assert.Equal(t, 60*time.Second, time.Duration(r.Config.TimeLimit))
		assert.Equal(t, "all", r.Nemesis)
	}
}

func TestParseErrors(t *testing.T) {
	ok := "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 1\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"yaml syntax", "systems: [electd\nalgos: raft\n", "m.yaml:"},
		{"not a mapping", "- electd\n", "m.yaml:1: want a mapping"},
		{"empty", "", "m.yaml: empty matrix"},
		{"unknown key", ok + "colour: red\n", `m.yaml:6: unknown key "colour"`},
		{"run-owned key", ok + "bug: raft.local-read\n", `m.yaml:6: unknown key "bug"`},
		{"twice", ok + "seeds: 2\n", "m.yaml:6: seeds is set twice (first on line 5)"},
		{"bad setting", ok + "nodes: 2\n", "m.yaml:6: nodes: want 3 to 9"},
		{"bad duration", ok + "time_limit: soon\n", "m.yaml:6: time_limit: want a duration"},
		{"unknown algo", "systems: [electd]\nalgos: [raft, paxos]\nbugs: [none]\nnemeses: [all]\nseeds: 1\n", `m.yaml:2: algos: want raft or zab, got "paxos"`},
		{"unknown bug", "systems: [electd]\nalgos: [raft]\nbugs:\n  - none\n  - raft.typo\nnemeses: [all]\nseeds: 1\n", `m.yaml:5: bugs: unknown bug "raft.typo"`},
		{"bug of an algo not run", "systems: [electd]\nalgos: [zab]\nbugs:\n  - none\n  - raft.vote-twice\nnemeses: [all]\nseeds: 1\n", "m.yaml:5: bugs: raft.vote-twice is a bug of algo raft"},
		{"mixed combination", "systems: [electd]\nalgos: [raft, zab]\nbugs: ['raft.vote-twice,zab.no-stepdown']\nnemeses: [all]\nseeds: 1\n", "m.yaml:3: bugs: \"raft.vote-twice,zab.no-stepdown\" mixes"},
		{"algo with no bug", "systems: [electd]\nalgos: [raft, zab]\nbugs: [raft.local-read]\nnemeses: [all]\nseeds: 1\n", "m.yaml:3: bugs: no bug for algo zab"},
		{"unknown fault", "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses:\n  - [partition, flood]\nseeds: 1\n", `m.yaml:5: nemeses: unknown fault kind "flood"`},
		{"all with others", "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [[all, kill]]\nseeds: 1\n", "m.yaml:4: nemeses: all stands alone"},
		{"empty nemeses", "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: []\nseeds: 1\n", "m.yaml:4: nemeses: the list is empty"},
		{"seeds zero", "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 0\n", "m.yaml:5: seeds: want a count"},
		{"seed twice", "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: [3, 3]\n", "m.yaml:5: seeds: 3 is listed twice"},
		{"missing seeds", "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\n", "m.yaml: seeds is missing"},
		{"missing algos", "systems: [electd]\nbugs: [none]\nnemeses: [all]\nseeds: 1\n", "m.yaml: algos is missing"},
		{"a read mode the system has not", "systems:\n  - {system: etcd, read_mode: local}\nbugs: [none]\nnemeses: [all]\nseeds: 1\n", "reads linearizable or serializable"},
		{"unknown system", "systems: [cassandra]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 1\n", `m.yaml:1: systems: unknown system "cassandra"`},
		{"contract without args", "systems:\n  - electd\n  - binary: ./x\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 1\n", "m.yaml:3: systems: a contract system needs binary and args"},
		{"contract with only bugs", "systems:\n  - {name: x, binary: ./x, args: '{id}'}\nbugs: [all]\nnemeses: [all]\nseeds: 1\n", "m.yaml:3: bugs: only electd has planted bugs"},
		{"bad system name", "systems:\n  - {name: 'a b', binary: ./x, args: '{id}'}\nbugs: [none]\nnemeses: [all]\nseeds: 1\n", "m.yaml:2: systems: name: want"},
		{"interval longer than the run", ok + "time_limit: 5s\nnemesis_interval: 10s\n", "m.yaml: --nemesis-interval 10s is longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(t, tt.yaml)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestStampAvoidsStoredRuns(t *testing.T) {
	store := t.TempDir()
	m, err := parseString(t, "systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 2\n")
	require.NoError(t, err)
	day := time.Date(2026, 1, 2, 23, 0, 0, 0, time.UTC)
	s, err := Stamp(m, store, day, Shard{})
	require.NoError(t, err)
	assert.Equal(t, "20260102", s)
	// One run of that night is in the store: the whole night moves on.
	require.NoError(t, os.Mkdir(store+"/nightly-20260102-electd-raft-none-all-s2", 0o755))
	s, err = Stamp(m, store, day, Shard{})
	require.NoError(t, err)
	assert.Equal(t, "20260102-2", s)
}

func TestPrint(t *testing.T) {
	m, err := parseString(t, "systems: [electd]\nalgos: [zab]\nbugs: [zab.no-stepdown]\nnemeses: [[partition, pause]]\nseeds: [5]\ntime_limit: 30s\n")
	require.NoError(t, err)
	runs, err := Expand(m, "20260102", "./store")
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Print(&buf, runs, "splitbrain"))
	assert.Equal(t, "  1  nightly-20260102-electd-zab-no-stepdown-partition_pause-s5\n"+
		"     splitbrain run --algo zab --bug zab.no-stepdown --nemesis partition,pause --time-limit 30s --seed 5 --store ./store --name nightly-20260102-electd-zab-no-stepdown-partition_pause-s5\n",
		buf.String())
}

func TestCheckerNames(t *testing.T) {
	for text, want := range map[string][]string{
		"election-safety":                        {"election-safety"},
		"election-safety, linearizable":          {"election-safety", "linearizable"},
		"linearizable (lost acknowledged write)": {"linearizable"},
		"":                                       nil,
	} {
		assert.Equal(t, want, CheckerNames(text), text)
	}
	// Every registered bug names checkers the page has columns for.
	known := []string{"linearizable", "election-safety", "lease-safety", "term-monotonic", "liveness"}
	for _, b := range bugs.All {
		for _, c := range CheckerNames(b.Checker) {
			assert.Contains(t, known, c, b.Name)
		}
	}
}

// FuzzParse: the parser never panics, and what it accepts expands into
// valid, uniquely named runs (or says why not).
func FuzzParse(f *testing.F) {
	seeds := []string{
		"systems: [electd]\nalgos: [raft, zab]\nbugs: [none, all]\nnemeses: [all]\nseeds: 2\n",
		"systems:\n  - {name: n, binary: ./n, args: '{id}'}\nbugs: [none]\nnemeses: [[partition, kill], none]\nseeds: [1, 2]\nnodes: 3\n",
		"systems: electd\nalgos: zab\nbugs: zab.no-stepdown\nnemeses: partition,kill\nseeds: 1\n",
		"- a\n", "{}", "seeds: [[1]]", "systems: [{system: electd, read_mode: lease}]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 1\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if b, err := os.ReadFile("matrix.yaml"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := Parse("f.yaml", []byte(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(m.Seeds)*len(m.Nemeses)*len(m.Systems)*(len(m.Bugs)+1)*(len(m.Algos)+1) > 1e5 {
			return // a valid but huge matrix: expanding it says nothing more
		}
		runs, err := Expand(m, "20260102", "store")
		if err != nil {
			return
		}
		names := map[string]bool{}
		for _, r := range runs {
			if names[r.Name] {
				t.Fatalf("%s twice", r.Name)
			}
			names[r.Name] = true
			if err := r.Config.Validate(); err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
		}
	})
}
