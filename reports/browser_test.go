package reports

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/splitbrain/splitbrain/rundir"
)

// artifactsDir is where the browser test keeps what a person may want to
// look at after CI: $ARTIFACTS_DIR/reports when set, else
// reports/testdata/artifacts (ignored by git).
func artifactsDir(t *testing.T) string {
	dir := filepath.Join("testdata", "artifacts")
	if d := os.Getenv("ARTIFACTS_DIR"); d != "" {
		dir = filepath.Join(d, "reports")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// chromium finds a Chromium or Chrome binary: $CHROME_PATH, then the usual
// names (Debian's package "chromium" installs /usr/bin/chromium).
func chromium() string {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser starts headless Chromium and records every network request and
// every script error of the pages it opens.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	errors   []string
}

func newBrowser(t *testing.T) *browser {
	path := chromium()
	if path == "" {
		t.Skip("no chromium binary found (install Debian's chromium package or set CHROME_PATH); skipping the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1400, 900),
		// Chromium refuses to sandbox itself as root, which is how CI
		// containers run; the page is our own, from a temporary file.
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{ctx: bctx}
	err := chromedp.Listen(bctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			b.errors = append(b.errors, e.ExceptionDetails.Text)
		}
	})
	if err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return b
}

// take returns and forgets what was recorded so far.
func (b *browser) take() (requests, errors []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	requests, errors = b.requests, b.errors
	b.requests, b.errors = nil, nil
	return requests, errors
}

func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: path}).String()
}

// TestReportInBrowser opens a rendered report in headless Chromium: the
// verdict and the timeline must be on the page, the page must fetch
// nothing but itself, and nothing from the run may run as script. A
// screenshot and the run directory are kept under artifactsDir.
func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if chromium() == "" {
		t.Skip("no chromium binary found (install Debian's chromium package or set CHROME_PATH); skipping the browser test")
	}
	// Make the large run before the browser starts: under -race it takes
	// a while, and the browser's deadline would run meanwhile.
	big := bigRun(t)
	b := newBrowser(t)
	dir := filepath.Join(t.TempDir(), "nightly-2026-11-24-raft")
	genRun(t, dir, genConfig{Ops: 20000, Seed: 7, Bug: true, Evil: true})
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, rundir.ReportFile)

	if err := chromedp.Do(b.ctx, chromedp.Navigate(fileURL(report)), chromedp.WaitVisible(chromedp.ID("timeline-svg"))); err != nil {
		t.Fatal(err)
	}
	verdict := do(t, b, chromedp.Text(chromedp.ID("verdict")))
	lanes := do(t, b, chromedp.Evaluate[int](`document.querySelectorAll('#timeline-svg .lane-name').length`))
	segs := do(t, b, chromedp.Evaluate[int](`document.querySelectorAll('#timeline-svg rect[fill^="hsl"]').length`))
	multi := do(t, b, chromedp.Evaluate[int](`document.querySelectorAll('#timeline-svg rect.multi').length`))
	pwned := do(t, b, chromedp.Evaluate[bool](`'`+evilMarker+`' in window`))
	png := do(t, b, chromedp.FullScreenshot(100))
	if strings.ToLower(strings.TrimSpace(verdict)) != "invalid" {
		t.Errorf("verdict on the page is %q, want invalid", verdict)
	}
	if lanes != 5 || segs < 20 || multi < 1 {
		t.Errorf("timeline has %d lanes, %d role spans, %d multi-leader windows; want 5, 20+, 1+", lanes, segs, multi)
	}
	if pwned {
		t.Error("a string from the run ran as script in the report")
	}
	reqs, errs := b.take()
	if len(reqs) == 0 {
		t.Error("saw no network request at all, not even the page: is the listener working?")
	}
	for _, r := range reqs {
		if r != fileURL(report) {
			t.Errorf("the report made a network request: %s", r)
		}
	}
	if len(errs) > 0 {
		t.Errorf("script errors on the report: %v", errs)
	}

	// The node log page: the <script> line is shown, not run.
	if err := chromedp.Do(b.ctx, chromedp.Navigate(fileURL(filepath.Join(dir, rundir.LogsDir, "n1.html"))), chromedp.WaitVisible(chromedp.CSS("pre.log"))); err != nil {
		t.Fatal(err)
	}
	logText := do(t, b, chromedp.Text(chromedp.CSS("pre.log")))
	pwned = do(t, b, chromedp.Evaluate[bool](`'`+evilMarker+`' in window`))
	if pwned || !strings.Contains(logText, evilLog) {
		t.Errorf("log page: script ran %v, shows the line %v", pwned, strings.Contains(logText, evilLog))
	}
	reqs, _ = b.take()
	for _, r := range reqs {
		if !strings.HasSuffix(r, "/n1.html") {
			t.Errorf("the log page made a network request: %s", r)
		}
	}

	art := artifactsDir(t)
	shot := filepath.Join(art, "report.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(art, filepath.Base(dir))
	os.RemoveAll(keep)
	if err := os.CopyFS(keep, os.DirFS(dir)); err != nil {
		t.Logf("keeping the run directory: %v", err)
	}
	t.Logf("screenshot: %s; run directory: %s", shot, keep)

	// A 100k-operation run: the page opens promptly, still self-contained.
	bigReport := filepath.Join(big, rundir.ReportFile)
	start := time.Now()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(fileURL(bigReport)), chromedp.WaitVisible(chromedp.ID("latency-svg"))); err != nil {
		t.Fatal(err)
	}
	t.Logf("100k-op report loaded in %v", time.Since(start).Round(time.Millisecond))
	points := do(t, b, chromedp.Evaluate[int](`document.querySelectorAll('#latency-svg circle').length`))
	if points == 0 || points > maxPoints {
		t.Errorf("latency plot of a 100k-op run draws %d points; want 1..%d", points, maxPoints)
	}
	png = do(t, b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(art, "report-100k.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	reqs, errs = b.take()
	for _, r := range reqs {
		if r != fileURL(bigReport) {
			t.Errorf("the 100k-op report made a network request: %s", r)
		}
	}
	if len(errs) > 0 {
		t.Errorf("script errors on the 100k-op report: %v", errs)
	}
}

// do runs one action in the browser, failing the test on error.
func do[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
