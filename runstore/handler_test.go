package runstore

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/rundir"
)

// rawGet sends path to srv exactly as written (no client-side cleaning or
// escaping) and returns the status and body, following no redirect.
func rawGet(t *testing.T, srv *httptest.Server, method, path string) (int, http.Header, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: store\r\nConnection: close\r\n\r\n", method, path)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHandler(t *testing.T) {
	store := t.TempDir()
	dir := filepath.Join(store, "run-1")
	writeRun(t, dir, testRun{Verdict: checker.Valid})
	require.NoError(t, os.WriteFile(filepath.Join(store, "nightly.html"), []byte("the nightly page"), 0o644))
	srv := httptest.NewServer(Handler(store))
	defer srv.Close()
	get := func(path string) (int, http.Header, string) { return rawGet(t, srv, "GET", path) }

	t.Run("index", func(t *testing.T) {
		for _, p := range []string{"/", "/index.html"} {
			code, h, body := get(p)
			assert.Equal(t, http.StatusOK, code, p)
			assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"), p)
			assert.Contains(t, body, `href="./run-1/"`, "%s: rendered afresh, run-1 has no report yet", p)
		}
		assert.NoFileExists(t, filepath.Join(store, rundir.IndexFile), "serving the index writes nothing")
	})

	t.Run("a run's directory leads to its report, built on demand", func(t *testing.T) {
		code, h, _ := get("/run-1")
		assert.Equal(t, http.StatusMovedPermanently, code)
		assert.Equal(t, "run-1/", h.Get("Location"))
		code, h, _ = get("/run-1/")
		assert.Equal(t, http.StatusFound, code)
		assert.Equal(t, "/run-1/report.html", h.Get("Location"))
		assert.FileExists(t, filepath.Join(dir, rundir.ReportFile))
	})

	t.Run("a fresh report is served as it is, a stale one rebuilt", func(t *testing.T) {
		code, _, body := get("/run-1/report.html")
		require.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, `id="verdict"`)
		st1, err := os.Stat(filepath.Join(dir, rundir.ReportFile))
		require.NoError(t, err)
		get("/run-1/report.html")
		st2, err := os.Stat(filepath.Join(dir, rundir.ReportFile))
		require.NoError(t, err)
		assert.Equal(t, st1.ModTime(), st2.ModTime(), "a fresh report was rebuilt")

		later := st1.ModTime().Add(time.Minute)
		require.NoError(t, os.Chtimes(filepath.Join(dir, rundir.ResultsFile), later, later))
		get("/run-1/report.html")
		st3, err := os.Stat(filepath.Join(dir, rundir.ReportFile))
		require.NoError(t, err)
		assert.True(t, st3.ModTime().After(st1.ModTime()), "a stale report was not rebuilt")
	})

	t.Run("files", func(t *testing.T) {
		code, _, body := get("/run-1/logs/n1.html")
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "became leader")
		code, _, body = get("/run-1/logs/")
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "n1.log", "a directory is listed")
		code, _, body = get("/nightly.html")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "the nightly page", body)
		code, _, _ = get("/run-1/absent.txt")
		assert.Equal(t, http.StatusNotFound, code)
	})

	t.Run("only GET and HEAD", func(t *testing.T) {
		code, _, _ := rawGet(t, srv, "POST", "/")
		assert.Equal(t, http.StatusMethodNotAllowed, code)
		code, _, _ = rawGet(t, srv, "HEAD", "/run-1/report.html")
		assert.Equal(t, http.StatusOK, code)
	})
}

// TestHandlerStaysInStore asks for files outside the store every way a
// path can say it, and for hidden files inside it: none is served.
func TestHandlerStaysInStore(t *testing.T) {
	top := t.TempDir()
	const secret = "the secret outside the store"
	outside := filepath.Join(top, "outside")
	require.NoError(t, os.MkdirAll(outside, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte(secret), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(top, "secret"), []byte(secret), 0o644))
	// A run elsewhere, linked into the store: the handler must not write
	// a report into it, nor serve its files.
	writeRun(t, outside, testRun{Verdict: checker.Valid})

	store := filepath.Join(top, "store")
	writeRun(t, filepath.Join(store, "run-1"), testRun{Verdict: checker.Valid})
	require.NoError(t, os.Symlink(outside, filepath.Join(store, "linked-run")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(store, "run-1", "linked-file")))
	require.NoError(t, os.WriteFile(filepath.Join(store, "run-1", ".report.html.12345"), []byte(secret), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(store, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(store, ".git", "config"), []byte(secret), 0o644))

	srv := httptest.NewServer(Handler(store))
	defer srv.Close()
	for _, p := range []string{
		"/../secret",
		"/../outside/secret",
		"/run-1/../../secret",
		"/%2e%2e/secret",
		"/%2e%2e%2fsecret",
		"/run-1/%2e%2e/%2e%2e/secret",
		"/run-1%2f..%2f..%2fsecret",
		"/run-1/..%2f..%2fsecret",
		"/..%5csecret",
		"/run-1/..%5c..%5csecret",
		"/linked-run/secret",
		"/linked-run/",
		"/linked-run/" + rundir.ReportFile,
		"/run-1/linked-file",
		"/run-1/.report.html.12345",
		"/.git/config",
		"/.git/",
		"//secret",
		"/run-1//../../secret",
	} {
		t.Run(p, func(t *testing.T) {
			code, h, body := rawGet(t, srv, "GET", p)
			assert.NotContains(t, body, secret)
			if code/100 == 3 {
				// A redirect is fine when it stays in the store: follow it once.
				loc := h.Get("Location")
				if !strings.HasPrefix(loc, "/") {
					loc = "/" + loc
				}
				code, _, body = rawGet(t, srv, "GET", loc)
				assert.NotContains(t, body, secret, "after the redirect to %s", loc)
			}
			assert.NotEqual(t, http.StatusOK, code)
		})
	}
	assert.NoFileExists(t, filepath.Join(outside, rundir.ReportFile), "a report was written outside the store")
}
