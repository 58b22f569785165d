package rundir

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSettingsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := Settings{Name: "r1", Started: "2026-12-01T07:00:00Z", Command: "splitbrain run", Replay: "splitbrain run --replay r1",
		Config: Config{System: "electd", Algo: "raft", Nodes: 5, Workload: "register", Nemesis: []string{"kill"},
			NemesisInterval: Duration(5 * time.Second), TimeLimit: Duration(time.Minute), Concurrency: 10, Keys: 8,
			OpTimeout: Duration(time.Second), Seed: 42, Rate: 2.5}}
	require.NoError(t, WriteSettings(dir, in))
	out, err := ReadSettings(dir)
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

// A run.json written before rundir existed reads the same.
func TestReadSettingsOfEarlierRuns(t *testing.T) {
	dir := t.TempDir()
	old := `{"name":"electd-raft-1","started":"2026-11-30T10:00:00Z","system":"electd","algo":"raft","bug":"",
"nodes":5,"nemesis":[],"seed":7,"time_limit":"1m0s","concurrency":10,"keys":8,"command":"x","replay":"y",
"workload":"register","nemesis_interval":"5s","rate":0,"op_timeout":"1s","ensemble":"abc"}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, SettingsFile), []byte(old), 0o644))
	s, err := ReadSettings(dir)
	require.NoError(t, err)
	assert.Equal(t, Duration(time.Minute), s.TimeLimit)
	assert.Equal(t, Duration(5*time.Second), s.NemesisInterval)
	assert.Equal(t, int64(7), s.Seed)
	assert.Equal(t, "abc", s.Ensemble)
	assert.Empty(t, s.Nemesis)
}

func TestReadSettingsErrors(t *testing.T) {
	_, err := ReadSettings(t.TempDir())
	assert.ErrorIs(t, err, ErrNoSettings)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, SettingsFile), []byte(`{"time_limit":"soon"}`), 0o644))
	_, err = ReadSettings(dir)
	assert.ErrorContains(t, err, "run.json")
	assert.ErrorContains(t, err, "duration")
}

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	require.NoError(t, WriteFile(path, []byte("one")))
	require.NoError(t, WriteJSON(path, map[string]int{"a": 1}))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "{\n  \"a\": 1\n}\n", string(b))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")

	assert.Error(t, WriteFile(filepath.Join(dir, "missing", "f"), nil))
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"5s"`, `1000`, `""`, `"1m30s"`, `"x"`, `null`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if err := d.UnmarshalJSON([]byte(s)); err != nil {
			return
		}
		b, err := d.MarshalJSON()
		require.NoError(t, err)
		var back Duration
		require.NoError(t, back.UnmarshalJSON(b))
		assert.Equal(t, d, back)
	})
}

func TestSettingsFields(t *testing.T) {
	s := Settings{Name: "r1", Config: Config{System: "electd", Nodes: 3, Nemesis: []string{"kill", "pause"},
		TimeLimit: Duration(time.Minute)}, Replay: "splitbrain run --replay r1"}
	assert.Equal(t, []Field{
		{"name", "r1"}, {"system", "electd"}, {"nodes", "3"}, {"nemesis", "kill,pause"},
		{"time_limit", "1m0s"}, {"concurrency", "0"}, {"rate", "0"}, {"keys", "0"}, {"seed", "0"},
		{"replay", "splitbrain run --replay r1"},
	}, s.Fields())
}
