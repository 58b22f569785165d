package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
)

func writeRun(t *testing.T, history, events string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "history.jsonl"), []byte(history), 0o644))
	if events != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "events.jsonl"), []byte(events), 0o644))
	}
	return dir
}

const okHistory = `{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"index":1,"time":20,"process":0,"type":"ok","f":"write","key":"x","value":1}
{"index":2,"time":30,"process":1,"type":"invoke","f":"read","key":"x","value":null}
{"index":3,"time":40,"process":1,"type":"ok","f":"read","key":"x","value":1}
`

const oneLeader = `{"time":1,"node":"n1","event":"role","role":"leader","term":1}
{"time":2,"node":"n2","event":"role","role":"follower","term":1}
`

func TestCheckExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		history string
		events  string
		want    int
	}{
		{"two leaders in one term", okHistory, oneLeader + `{"time":3,"node":"n2","event":"role","role":"leader","term":1}` + "\n", exitInvalid},
		{"no events: nothing to judge the invariants on", okHistory, "", exitUnknown},
		{"garbage in the middle", "{\n" + okHistory, oneLeader, exitCannotRun},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeRun(t, tt.history, tt.events)
			assert.Equal(t, tt.want, run([]string{"check", dir}))
			if tt.want != exitCannotRun {
				rep, err := checker.ReadReport(dir)
				require.NoError(t, err)
				assert.Equal(t, tt.want, rep.Verdict.ExitCode())
			}
		})
	}
}

func TestCheckCannotRun(t *testing.T) {
	assert.Equal(t, exitCannotRun, run([]string{"check", filepath.Join(t.TempDir(), "absent")}))
	assert.Equal(t, exitCannotRun, run([]string{"check", t.TempDir()}), "no history.jsonl")
	assert.Equal(t, exitCannotRun, run([]string{"check"}), "missing argument")
	assert.Equal(t, exitCannotRun, run([]string{"check", "--timeout", "soon", t.TempDir()}), "bad flag")
}

func TestCheckValidAndStaleRead(t *testing.T) {
	dir := writeRun(t, okHistory, oneLeader)
	assert.Equal(t, exitValid, run([]string{"check", dir}))

	stale := okHistory + `{"index":4,"time":50,"process":1,"type":"invoke","f":"write","key":"x","value":2}
{"index":5,"time":60,"process":1,"type":"ok","f":"write","key":"x","value":2}
{"index":6,"time":70,"process":2,"type":"invoke","f":"read","key":"x","value":null}
{"index":7,"time":80,"process":2,"type":"ok","f":"read","key":"x","value":1}
`
	dir = writeRun(t, stale, oneLeader)
	assert.Equal(t, exitInvalid, run([]string{"check", dir}))
	rep, err := checker.ReadReport(dir)
	require.NoError(t, err)
	assert.Equal(t, checker.Invalid, rep.Checkers[0].Verdict)
	assert.Contains(t, rep.Checkers[0].Summary, "x")
	assert.FileExists(t, filepath.Join(dir, "linearizable-x.html"), "a visualization per failing key")
}
