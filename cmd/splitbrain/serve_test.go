package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeCommand(t *testing.T) {
	store := t.TempDir()
	writeReportRun(t, filepath.Join(store, "run-1"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	cmd := newServeCmd()
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--store", store})
	cmd.SetOut(pw)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v", err)
	}
	go io.Copy(io.Discard, pr)
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("banner has no URL: %q", line)
	}
	base := strings.TrimSpace(line[i:])

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(""); code != 200 || !strings.Contains(body, "run-1") {
		t.Errorf("index: %d, lists run-1: %v", code, strings.Contains(body, "run-1"))
	}
	// The report is built on first request, and a run's directory leads to it.
	if code, body := get("run-1/"); code != 200 || !strings.Contains(body, `id="timeline-svg"`) {
		t.Errorf("run-1/: %d, has a timeline: %v", code, strings.Contains(body, `id="timeline-svg"`))
	}
	for _, p := range []string{"../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "run-1/..%2f..%2f..%2fetc/passwd"} {
		if code, body := get(p); code == 200 || strings.Contains(body, "root:") {
			t.Errorf("%s: served a file outside the store (%d)", p, code)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after its context ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestServeCannotRun(t *testing.T) {
	if code := run([]string{"serve", "--store", filepath.Join(t.TempDir(), "absent")}); code != exitCannotRun {
		t.Errorf("serve of a missing store exited %d, want %d", code, exitCannotRun)
	}
	if code := run([]string{"serve", "--store", t.TempDir(), "--addr", "256.0.0.1:99999"}); code != exitCannotRun {
		t.Errorf("serve on a bad address exited %d, want %d", code, exitCannotRun)
	}
}
