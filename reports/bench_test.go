package reports

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// A 100k-operation run is generated and reported once per test binary and
// shared: it takes seconds to make, many under -race.
var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
	bigRoot string
)

func bigRun(tb testing.TB) string {
	tb.Helper()
	bigOnce.Do(func() {
		bigRoot, bigErr = os.MkdirTemp("", "reports-100k-")
		if bigErr != nil {
			return
		}
		bigDir = filepath.Join(bigRoot, "run-100k")
		bigErr = generate(bigDir, genConfig{Ops: 100_000, Clients: 16, Seed: 100, Bug: true, Duration: 120 * time.Second})
		if bigErr == nil {
			bigErr = Write(bigDir)
		}
	})
	if bigErr != nil {
		tb.Fatal(bigErr)
	}
	return bigDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigRoot != "" {
		os.RemoveAll(bigRoot)
	}
	os.Exit(code)
}

// maxReportBytes is the size a report must stay under whatever the run's
// length: it is mailed, attached to CI jobs and opened on laptops.
const maxReportBytes = 5 << 20

func TestReportSize100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100k-operation run skipped in -short mode")
	}
	dir := bigRun(t)
	st, err := os.Stat(filepath.Join(dir, rundir.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > maxReportBytes {
		t.Errorf("report of a 100k-op run is %d bytes, over %d", st.Size(), maxReportBytes)
	}
	t.Logf("report of a 100k-op run: %d bytes", st.Size())
}

// BenchmarkWrite100k measures Write on a 100k-operation run: reading the
// history and events, laying out and rendering report.html, the log pages
// and junit.xml. It reports the report's size as report-bytes.
func BenchmarkWrite100k(b *testing.B) {
	dir := bigRun(b)
	b.ResetTimer()
	for b.Loop() {
		if err := Write(dir); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st, err := os.Stat(filepath.Join(dir, rundir.ReportFile))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size()), "report-bytes")
}
