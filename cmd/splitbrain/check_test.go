package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/rundir"
)

// writeRun writes a run directory; events "" means no events.jsonl.
func writeRun(t *testing.T, history, events string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.HistoryFile), []byte(history), 0o644))
	if events != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.EventsFile), []byte(strings.TrimPrefix(events, "\n")), 0o644))
	}
	return dir
}

const okHistory = `{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"index":1,"time":20,"process":0,"type":"ok","f":"write","key":"x","value":1}
{"index":2,"time":30,"process":1,"type":"invoke","f":"read","key":"x","value":null}
{"index":3,"time":40,"process":1,"type":"ok","f":"read","key":"x","value":1}
`

const staleHistory = okHistory + `{"index":4,"time":50,"process":1,"type":"invoke","f":"write","key":"x","value":2}
{"index":5,"time":60,"process":1,"type":"ok","f":"write","key":"x","value":2}
{"index":6,"time":70,"process":2,"type":"invoke","f":"read","key":"x","value":null}
{"index":7,"time":80,"process":2,"type":"ok","f":"read","key":"x","value":1}
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
		{"no events.jsonl: the leader checkers are skipped, the history decides", okHistory, "", exitValid},
		{"no events.jsonl, not linearizable", staleHistory, "", exitInvalid},
		{"an events.jsonl with no role event: unknown", okHistory, "\n", exitUnknown},
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

	dir = writeRun(t, staleHistory, oneLeader)
	assert.Equal(t, exitInvalid, run([]string{"check", dir}))
	rep, err := checker.ReadReport(dir)
	require.NoError(t, err)
	assert.Equal(t, checker.Invalid, rep.Checkers[0].Verdict)
	assert.Contains(t, rep.Checkers[0].Summary, "x")
	assert.FileExists(t, filepath.Join(dir, "linearizable-x.html"), "a visualization per failing key")
}

func TestCheckSkippedWithoutEvents(t *testing.T) {
	dir := writeRun(t, okHistory, "")
	var out bytes.Buffer
	cmd := newRoot()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"check", dir})
	require.NoError(t, cmd.Execute())
	assert.Contains(t, out.String(), "liveness         skipped  no events.jsonl")
	assert.Contains(t, out.String(), "verdict: valid")
	assert.Contains(t, out.String(), "4 checker(s) skipped")
	rep, err := checker.ReadReport(dir)
	require.NoError(t, err)
	assert.Equal(t, checker.Skipped, rep.Checker(checker.NameElectionSafety).Verdict)
	assert.Equal(t, checker.Valid, rep.Verdict)
}

func TestCheckOnlyNamed(t *testing.T) {
	dir := writeRun(t, okHistory, oneLeader)
	assert.Equal(t, exitValid, run([]string{"check", "--checkers", "linearizable,election-safety", dir}))
	rep, err := checker.ReadReport(dir)
	require.NoError(t, err)
	require.Len(t, rep.Checkers, 2)
	assert.Equal(t, checker.NameElectionSafety, rep.Checkers[1].Name)

	assert.Equal(t, exitCannotRun, run([]string{"check", "--checkers", "linearizable,split-brain", dir}), "unknown checker")
}
