package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/rundir"
)

func TestDefaults(t *testing.T) {
	c := Defaults()
	assert.Equal(t, "electd", c.System)
	assert.Equal(t, "raft", c.Algo)
	assert.Equal(t, 5, c.Nodes)
	assert.Equal(t, []string{"partition", "kill", "pause", "clock", "netem"}, c.Nemesis)
	assert.Equal(t, rundir.Duration(5*time.Second), c.NemesisInterval)
	assert.Equal(t, rundir.Duration(60*time.Second), c.TimeLimit)
	assert.Equal(t, 10, c.Concurrency)
	assert.Equal(t, 5, c.Keys)
	assert.Equal(t, rundir.Duration(time.Second), c.OpTimeout)
	assert.False(t, c.SeedSet)
	assert.Equal(t, "./store", c.Store)
	assert.NoError(t, c.Validate())
	assert.Empty(t, c.Flags(), "defaults need no flags")
}

func TestLoadYAML(t *testing.T) {
	src := `# a test
system: electd
algo: zab
bug: zab.no-stepdown
nodes: 3
nemesis: [partition, kill]
nemesis_interval: 2s
time-limit: 30s
seed: 42
rate: 100
`
	c := Defaults()
	require.NoError(t, LoadYAML("test.yaml", []byte(src), &c, nil))
	assert.Equal(t, "zab", c.Algo)
	assert.Equal(t, "zab.no-stepdown", c.Bug)
	assert.Equal(t, 3, c.Nodes)
	assert.Equal(t, []string{"partition", "kill"}, c.Nemesis)
	assert.Equal(t, rundir.Duration(2*time.Second), c.NemesisInterval)
	assert.Equal(t, rundir.Duration(30*time.Second), c.TimeLimit)
	assert.Equal(t, int64(42), c.Seed)
	assert.True(t, c.SeedSet)
	assert.Equal(t, 100.0, c.Rate)
	require.NoError(t, c.Validate())
	assert.Equal(t, []string{"--algo", "zab", "--bug", "zab.no-stepdown", "--nodes", "3", "--nemesis", "partition,kill",
		"--nemesis-interval", "2s", "--time-limit", "30s", "--rate", "100", "--seed", "42"}, c.Flags())

	// Flags given on the command line win: keep skips their keys.
	c = Defaults()
	require.NoError(t, LoadYAML("test.yaml", []byte(src), &c, func(name string) bool { return name != "nodes" }))
	assert.Equal(t, 5, c.Nodes)
	assert.Equal(t, "zab", c.Algo)

	c = Defaults()
	require.NoError(t, LoadYAML("empty.yaml", nil, &c, nil))
	assert.Equal(t, Defaults(), c)
}

func TestLoadYAMLErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"bad int", "algo: raft\nnodes: five\n", `test.yaml:2: nodes: want an integer, got "five"`},
		{"out of range", "nodes: 12\n", "test.yaml:1: nodes: want 3 to 9, got 12"},
		{"bad duration", "\n\ntime-limit: soon\n", `test.yaml:3: time-limit: want a duration like 5s or 1m30s, got "soon"`},
		{"unknown key", "nodes: 3\nnodez: 3\n", `test.yaml:2: unknown setting "nodez"`},
		{"unknown fault", "nemesis: [partition, meteor]\n", `test.yaml:1: nemesis: unknown fault kind "meteor"`},
		{"unknown algo", "algo: paxos\n", `test.yaml:1: algo: want one of raft, zab, got "paxos"`},
		{"unknown bug", "bug: raft.nope\n", `test.yaml:1: bug: unknown bug "raft.nope"`},
		{"twice", "nodes: 3\nnodes: 5\n", "test.yaml:2: nodes is set twice (first on line 1)"},
		{"not a mapping", "- nodes\n", "test.yaml:1: want a mapping"},
		{"nested", "nodes:\n  a: 1\n", "test.yaml:2: nodes: want a single value"},
		{"syntax", "nodes: 3\nalgo: [raft\n", "test.yaml:"},
		{"tab", "nodes: 3\n\tkeys: 4\n", "test.yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			err := LoadYAML("test.yaml", []byte(tt.src), &c, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestValidate(t *testing.T) {
	c := Defaults()
	c.System = "contract"
	assert.ErrorContains(t, c.Validate(), "--binary")
	c.Binary, c.Args = "./mynode", "--id {id}"
	assert.NoError(t, c.Validate())

	c = Defaults()
	c.Algo, c.Bug = "zab", "raft.vote-twice"
	assert.ErrorContains(t, c.Validate(), "belongs to --algo raft")

	c = Defaults()
	c.NemesisInterval, c.TimeLimit = rundir.Duration(time.Minute), rundir.Duration(10*time.Second)
	assert.ErrorContains(t, c.Validate(), "no fault would fit")
}

func TestReadSettings(t *testing.T) {
	dir := t.TempDir()
	st := rundir.Settings{Name: "x", Config: rundir.Config{System: "electd", Algo: "zab", Bug: "zab.no-stepdown", Nodes: 3,
		Nemesis: []string{"kill"}, Seed: 9, TimeLimit: rundir.Duration(20 * time.Second), Concurrency: 4, Keys: 2,
		NemesisInterval: rundir.Duration(2 * time.Second), OpTimeout: rundir.Duration(500 * time.Millisecond), Workload: "register"}}
	require.NoError(t, rundir.WriteSettings(dir, st))
	c, err := ReadSettings(dir)
	require.NoError(t, err)
	assert.Equal(t, st.Config, c.Config, "run.json reads straight into the config")
	assert.True(t, c.SeedSet)
	assert.Equal(t, Defaults().Store, c.Store, "harness-only settings keep their defaults")
	assert.Empty(t, c.Replay)
}

// A run.json as runner wrote it before rundir (every key, durations as
// strings, "nemesis": [] for none) replays with the same settings.
func TestReadSettingsOfEarlierRuns(t *testing.T) {
	const old = `{
  "name": "electd-raft-20261130-100000",
  "started": "2026-11-30T10:00:00Z",
  "system": "electd",
  "algo": "raft",
  "bug": "raft.vote-twice",
  "nodes": 3,
  "nemesis": [],
  "seed": 1234,
  "time_limit": "30s",
  "concurrency": 6,
  "keys": 4,
  "command": "splitbrain run --nodes 3 --nemesis none --store ./store --seed 1234",
  "replay": "splitbrain run --replay store/electd-raft-20261130-100000",
  "workload": "register",
  "nemesis_interval": "2s",
  "rate": 50,
  "op_timeout": "750ms",
  "read_mode": "quorum",
  "ensemble": "9a8b7c6d5e4f"
}`
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.SettingsFile), []byte(old), 0o644))
	c, err := ReadSettings(dir)
	require.NoError(t, err)
	want := Defaults()
	want.Bug, want.Nodes, want.Nemesis, want.Seed, want.SeedSet = "raft.vote-twice", 3, nil, 1234, true
	want.TimeLimit, want.NemesisInterval, want.OpTimeout = rundir.Duration(30*time.Second), rundir.Duration(2*time.Second), rundir.Duration(750*time.Millisecond)
	want.Concurrency, want.Keys, want.Rate, want.ReadMode = 6, 4, 50, "quorum"
	want.NodesSet, want.NemesisAll = true, false // as stored: no system default replaces them
	assert.Equal(t, want, c)
	assert.Equal(t, []string{"--bug", "raft.vote-twice", "--read-mode", "quorum", "--nodes", "3", "--nemesis", "none",
		"--nemesis-interval", "2s", "--time-limit", "30s", "--concurrency", "6", "--rate", "50", "--keys", "4",
		"--op-timeout", "750ms", "--seed", "1234"}, c.Flags())
}

// testdata/run-before-rundir.json was written by runner's own writer
// before rundir (commit f40bbe7); that version's ReadSettings gave these
// flags for it.
func TestReadSettingsWrittenBeforeRundir(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "run-before-rundir.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.SettingsFile), b, 0o644))
	c, err := ReadSettings(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"--algo", "zab", "--bug", "zab.no-stepdown", "--read-mode", "lease", "--nemesis", "partition,clock",
		"--nemesis-interval", "3s", "--time-limit", "45s", "--concurrency", "8", "--rate", "12.5", "--keys", "3",
		"--op-timeout", "800ms", "--seed", "77"}, c.Flags())
	assert.Equal(t, 5, c.Nodes)
}

func TestReadSettingsErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"out of range", `{"nodes": 42}`, "nodes: want 3 to 9, got 42"},
		{"unknown algo", `{"algo": "paxos"}`, `algo: want one of raft, zab, got "paxos"`},
		{"unknown fault", `{"nemesis": ["meteor"]}`, `nemesis: unknown fault kind "meteor"`},
		{"short interval", `{"nemesis_interval": "1ms"}`, "nemesis-interval: want at least 100ms, got 1ms"},
		{"negative rate", `{"rate": -1}`, "rate: want a number of operations per second, 0 or more"},
		{"combination", `{"nemesis": ["kill"], "nemesis_interval": "2m", "time_limit": "1m"}`, "no fault would fit"},
		{"bad duration", `{"time_limit": "soon"}`, "duration"},
		{"not JSON", `{"nodes": `, "run.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.SettingsFile), []byte(tt.json), 0o644))
			_, err := ReadSettings(dir)
			require.Error(t, err)
			assert.ErrorContains(t, err, "--replay")
			assert.ErrorContains(t, err, tt.want)
		})
	}
	_, err := ReadSettings(t.TempDir())
	assert.ErrorIs(t, err, rundir.ErrNoSettings)
}

func TestSetLeavesConfigAloneOnError(t *testing.T) {
	c := Defaults()
	f, ok := FieldByName("nodes")
	require.True(t, ok)
	require.Error(t, f.Set(&c, "12"))
	assert.Equal(t, 5, c.Nodes)
	require.NoError(t, f.Set(&c, "7"))
	assert.Equal(t, 7, c.Nodes)
	d, _ := FieldByName("time_limit")
	require.NoError(t, d.Set(&c, "90s"))
	assert.Equal(t, rundir.Duration(90*time.Second), c.TimeLimit)
	assert.Equal(t, "1m30s", d.Get(&c))
}

func TestShellQuote(t *testing.T) {
	assert.Equal(t, `run --args '--id {id} --peers {peers}' --name 'it'\''s'`, ShellQuote([]string{"run", "--args", "--id {id} --peers {peers}", "--name", "it's"}))
}

// FuzzLoadYAML: no input makes the parser panic, and every error names the
// file.
func FuzzLoadYAML(f *testing.F) {
	f.Add("nodes: 3\nalgo: zab\n")
	f.Add("nemesis: [partition, kill]\ntime-limit: 30s\n")
	f.Add("nemesis:\n  - clock\nseed: -5\nrate: 1e3\n")
	f.Add("- a\n- b\n")
	f.Add("nodes: &a 3\nkeys: *a\n")
	f.Add("{nodes: 3, keys: [1]}")
	f.Fuzz(func(t *testing.T, src string) {
		c := Defaults()
		err := LoadYAML("f.yaml", []byte(src), &c, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if c.Nodes < 3 || c.Nodes > 9 || c.Concurrency < 1 || c.Keys < 1 || c.Rate < 0 {
			t.Fatalf("accepted an out-of-range setting: %+v", c)
		}
	})
}

// FuzzReadSettings: no run.json makes ReadSettings panic, and what it
// accepts passes Validate (it is as good as flags).
func FuzzReadSettings(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "run-before-rundir.json"))
	require.NoError(f, err)
	f.Add(string(b))
	f.Add(`{"nodes": 3, "nemesis": ["kill"], "time_limit": 1000000000}`)
	f.Add(`{"nemesis": null, "rate": 1e308}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, src string) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.SettingsFile), []byte(src), 0o644))
		c, err := ReadSettings(dir)
		if err != nil {
			return
		}
		require.NoError(t, c.Validate())
		assert.True(t, c.SeedSet)
	})
}

func TestValidateSystems(t *testing.T) {
	tests := []struct {
		name string
		set  func(c *Config)
		err  string // "" for valid
	}{
		{"zookeeper with its default reads", func(c *Config) { c.System = SystemZooKeeper }, ""},
		{"zookeeper local reads", func(c *Config) { c.System, c.ReadMode = SystemZooKeeper, "local" }, ""},
		{"zookeeper with electd's read mode", func(c *Config) { c.System, c.ReadMode = SystemZooKeeper, "lease" }, "reads quorum, sync or local"},
		{"etcd serializable", func(c *Config) { c.System, c.ReadMode = SystemEtcd, "serializable" }, ""},
		{"etcd with zookeeper's read mode", func(c *Config) { c.System, c.ReadMode = SystemEtcd, "local" }, "reads linearizable or serializable"},
		{"electd with etcd's read mode", func(c *Config) { c.ReadMode = "serializable" }, "reads quorum or lease"},
		{"a planted bug on zookeeper", func(c *Config) { c.System, c.Bug = SystemZooKeeper, "raft.vote-twice" }, "--bug applies to --system electd only"},
		{"an image for electd", func(c *Config) { c.Image = "mine:1" }, "--image applies to"},
		{"an image for etcd", func(c *Config) { c.System, c.Image = SystemEtcd, "mine:1" }, ""},
		{"an etcd version for zookeeper", func(c *Config) { c.System, c.EtcdVersion = SystemZooKeeper, "v3.5.21" }, "--etcd-version applies to --system etcd only"},
		{"an etcd version and an image", func(c *Config) { c.System, c.EtcdVersion, c.Image = SystemEtcd, "v3.5.21", "mine:1" }, "give one"},
		{"binary for etcd", func(c *Config) { c.System, c.Binary = SystemEtcd, "./x" }, "--binary and --args apply to --system contract only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.set(&c)
			if tt.err == "" {
				assert.NoError(t, c.Validate())
			} else {
				assert.ErrorContains(t, c.Validate(), tt.err)
			}
		})
	}
}

// A real system's replay command does not carry electd's --algo.
func TestFlagsOfRealSystems(t *testing.T) {
	c := Defaults()
	c.System, c.Algo, c.ReadMode = SystemZooKeeper, "", "local"
	assert.Equal(t, []string{"--system", "zookeeper", "--read-mode", "local"}, c.Flags())
}
