package splitbraintest_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/splitbraintest"
)

// TestMain leaves the examples out with -short or when no Docker engine
// answers: they run in Docker, and an example cannot skip itself.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	why := ""
	if testing.Short() {
		why = "-short"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := clusters.Ping(ctx); err != nil {
			why = "no Docker engine answers (" + err.Error() + ")"
		}
		cancel()
	}
	if why != "" {
		skip := "^Example"
		if prev := flag.Lookup("test.skip").Value.String(); prev != "" {
			skip = prev + "|" + skip
		}
		if err := flag.Set("test.skip", skip); err != nil {
			fmt.Fprintln(os.Stderr, "splitbraintest:", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "splitbraintest: %s: skipping the examples, which run in Docker\n", why)
	}
	os.Exit(m.Run())
}

// A short real run: three electd nodes under partitions for 5 seconds. In
// a test of your own, splitbraintest.Require(t, res, err) fails the test
// with the report's path unless the run is valid.
func Example() {
	store, err := os.MkdirTemp("", "splitbraintest-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(store)
	cfg, err := splitbraintest.Parse("--system", "electd", "--nodes", "3", "--nemesis", "partition",
		"--time-limit", "5s", "--nemesis-interval", "1s", "--concurrency", "6", "--seed", "1",
		"--store", store, "--name", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := splitbraintest.Run(context.Background(), cfg, splitbraintest.Options{Log: quiet})
	if err := splitbraintest.Check(res, err); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("verdict:", res.Verdict)
	fmt.Println("run:", filepath.Base(res.Dir))
	fmt.Println("report:", filepath.Base(res.Report))
	// Output:
	// verdict: valid
	// run: example
	// report: report.html
}
