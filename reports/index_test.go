package reports

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteIndex(t *testing.T) {
	store := t.TempDir()
	genRun(t, filepath.Join(store, "older"), genConfig{Ops: 200, Seed: 10})
	genRun(t, filepath.Join(store, "newer-<i>"), genConfig{Ops: 200, Seed: 11, Bug: true})
	// run.json's start time orders the runs, newest first.
	s, err := os.ReadFile(filepath.Join(store, "older", settingsFile))
	if err != nil {
		t.Fatal(err)
	}
	older := strings.Replace(string(s), "2026-11-24T02:00:00Z", "2026-11-23T02:00:00Z", 1)
	if err := os.WriteFile(filepath.Join(store, "older", settingsFile), []byte(older), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(store, "older")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(store, "not-a-run"), 0o755)

	if err := WriteIndex(store); err != nil {
		t.Fatal(err)
	}
	page := readFile(t, filepath.Join(store, indexFile))
	iNewer := strings.Index(page, "newer-&lt;i&gt;")
	iOlder := strings.Index(page, `href="./older/report.html"`)
	if iNewer < 0 || iOlder < 0 || iNewer > iOlder {
		t.Errorf("index: newer at %d, older at %d; want both, newer first", iNewer, iOlder)
	}
	if strings.Contains(page, "<i>") {
		t.Error("a run name was not escaped")
	}
	if strings.Contains(page, "not-a-run") {
		t.Error("a directory that is not a run was listed")
	}
	for _, want := range []string{"electd / raft", "partition, kill, pause, clock", "2026-11-23 02:00", "(no report yet)", `href="./newer-%3Ci%3E/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("index lacks %q", want)
		}
	}
}

func TestHandler(t *testing.T) {
	store := t.TempDir()
	dir := filepath.Join(store, "run-1")
	genRun(t, dir, genConfig{Ops: 300, Seed: 12})
	srv := httptest.NewServer(Handler(store))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "run-1") {
		t.Fatalf("index: %d %q", code, body)
	}
	// The first request builds the report.
	code, body := get("/run-1/report.html")
	if code != 200 || !strings.Contains(body, `id="verdict"`) {
		t.Fatalf("report: %d", code)
	}
	st1, _ := os.Stat(filepath.Join(dir, reportFile))
	// A fresh report is served as it is...
	get("/run-1/report.html")
	st2, _ := os.Stat(filepath.Join(dir, reportFile))
	if !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("a fresh report was rebuilt")
	}
	// ...and one older than the results is rebuilt.
	later := st1.ModTime().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, resultsFile), later, later)
	get("/run-1/report.html")
	st3, _ := os.Stat(filepath.Join(dir, reportFile))
	if !st3.ModTime().After(st1.ModTime()) {
		t.Error("a stale report was not rebuilt")
	}
	if code, body := get("/run-1/logs/n1.html"); code != 200 || !strings.Contains(body, "became leader") {
		t.Errorf("log page: %d", code)
	}
}
