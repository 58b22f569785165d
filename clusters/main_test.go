package clusters

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

var engineErr error

func TestMain(m *testing.M) {
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, engineErr = Ping(ctx)
	cancel()
	if engineErr == nil {
		// What killed earlier test runs left behind.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if n, err := Clean(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "clean:", err)
		} else if n > 0 {
			fmt.Fprintf(os.Stderr, "clean: removed %d leftovers\n", n)
		}
		cancel()
	}
	// Node images stay: they are the cache (labelled LabelImage), and other
	// runs on the same engine may be about to use any of them.
	os.Exit(m.Run())
}

// needEngine skips t when no Docker engine answers.
func needEngine(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: a Docker integration test (-short)")
	}
	if engineErr != nil {
		t.Skipf("skipping: needs a Docker engine: %v", engineErr)
	}
}
