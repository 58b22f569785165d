package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/splitbrain/splitbrain/rundir"
)

// A small run made by hand: no run.json, results or logs.
const reportHistory = `{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"x","value":1,"node":"n1"}
{"index":1,"time":5000000,"process":"nemesis","type":"info","f":"kill","node":"n1","value":{"nodes":["n1"]}}
{"index":2,"time":9000000,"process":0,"type":"ok","f":"write","key":"x","value":1,"node":"n1"}
`

const reportEvents = `{"time":1,"node":"n1","event":"role","role":"leader","term":1}
{"time":2,"node":"n2","event":"role","role":"follower","term":1}
{"time":7000000,"node":"n2","event":"role","role":"leader","term":2}
`

func writeReportRun(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{rundir.HistoryFile: reportHistory, rundir.EventsFile: reportEvents} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReportCommand(t *testing.T) {
	store := t.TempDir()
	a, b := filepath.Join(store, "a"), filepath.Join(store, "b")
	writeReportRun(t, a)

	// Alone in its directory: a report, no index.
	if code := run([]string{"report", a}); code != exitValid {
		t.Fatalf("report exited %d", code)
	}
	for _, f := range []string{rundir.ReportFile, rundir.JUnitFile} {
		if _, err := os.Stat(filepath.Join(a, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(store, rundir.IndexFile)); err == nil {
		t.Error("a lone run got a store index beside it")
	}

	// With a sibling run the parent is a store, and its index lists both.
	writeReportRun(t, b)
	if code := run([]string{"report", b}); code != exitValid {
		t.Fatalf("report exited %d", code)
	}
	index, err := os.ReadFile(filepath.Join(store, rundir.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`href="./a/report.html"`, `href="./b/report.html"`} {
		if !strings.Contains(string(index), want) {
			t.Errorf("index lacks %s", want)
		}
	}
}

func TestReportCannotRun(t *testing.T) {
	if code := run([]string{"report", filepath.Join(t.TempDir(), "absent")}); code != exitCannotRun {
		t.Errorf("report of a missing directory exited %d, want %d", code, exitCannotRun)
	}
	if code := run([]string{"report"}); code != exitCannotRun {
		t.Errorf("report without DIR exited %d, want %d", code, exitCannotRun)
	}
}
