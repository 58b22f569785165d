package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// settingsOf parses a run command line and assembles its settings.
func settingsOf(t *testing.T, args ...string) (runner.Config, error) {
	t.Helper()
	cmd := newRunCmd()
	require.NoError(t, cmd.ParseFlags(args))
	file, _ := cmd.Flags().GetString("file")
	replay, _ := cmd.Flags().GetString("replay")
	values := map[string]*fieldValue{}
	for _, f := range runner.Fields {
		values[f.Name] = cmd.Flags().Lookup(f.Name).Value.(*fieldValue)
	}
	return assemble(cmd.Flags(), values, file, replay)
}

func TestRunSettingsFlagsOverrideFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.yaml")
	require.NoError(t, os.WriteFile(path, []byte("algo: zab\nnodes: 3\ntime-limit: 20s\n"), 0o644))
	cfg, err := settingsOf(t, "-f", path, "--nodes", "7")
	require.NoError(t, err)
	assert.Equal(t, "zab", cfg.Algo)
	assert.Equal(t, 7, cfg.Nodes, "the flag wins")
	assert.Equal(t, 20*time.Second, time.Duration(cfg.TimeLimit))
}

func TestRunBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("algo: raft\nconcurrency: lots\n"), 0o644))
	_, err := settingsOf(t, "-f", path)
	assert.ErrorContains(t, err, "bad.yaml:2: concurrency: want an integer")

	assert.Equal(t, exitCannotRun, run([]string{"run", "--nodes", "2"}))
	assert.Equal(t, exitCannotRun, run([]string{"run", "--time-limit", "soon"}))
	assert.Equal(t, exitCannotRun, run([]string{"run", "--algo", "zab", "--bug", "raft.local-read"}))
	assert.Equal(t, exitCannotRun, run([]string{"run", "--system", "contract"}), "no --binary")
	assert.Equal(t, exitCannotRun, run([]string{"run", "-f", filepath.Join(t.TempDir(), "absent.yaml")}))
	assert.Equal(t, exitCannotRun, run([]string{"run", "--replay", filepath.Join(t.TempDir(), "absent")}))
}

func TestRunSettingsOfRedis(t *testing.T) {
	cfg, err := settingsOf(t, "--system", "redis")
	require.NoError(t, err)
	assert.Equal(t, 6, cfg.Nodes, "Redis's default: three masters, a replica each")
	assert.Contains(t, cfg.Nemesis, rundir.KindTakeover, "all: with the system's own kinds")
	assert.Empty(t, cfg.Expect)

	path := filepath.Join(t.TempDir(), "redis.yaml")
	require.NoError(t, os.WriteFile(path, []byte("system: redis\nnodes: 8\nexpect: linearizable\nnemesis: [partition]\n"), 0o644))
	cfg, err = settingsOf(t, "-f", path)
	require.NoError(t, err)
	assert.Equal(t, 8, cfg.Nodes)
	assert.Equal(t, rundir.ExpectLinearizable, cfg.Expect)
	assert.Equal(t, []string{rundir.KindPartition}, cfg.Nemesis, "a list is what it says")

	_, err = settingsOf(t, "--system", "redis", "--nodes", "5")
	assert.ErrorContains(t, err, "--nodes: redis cluster of 5 nodes")
	assert.Equal(t, exitCannotRun, run([]string{"run", "--expect", "sequential"}))

	cfg, err = settingsOf(t, "--nemesis", "takeover")
	require.NoError(t, err, "on electd: allowed, and reported unsupported by the run")
	assert.Equal(t, 5, cfg.Nodes)
	assert.Equal(t, []string{rundir.KindTakeover}, cfg.Nemesis)
}
