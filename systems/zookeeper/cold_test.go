package zookeeper

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/systems/systemtest"
)

// TestBuildBaseCold makes the base image from nothing, in a fresh cache
// directory, twice (cold, then cached), and reports the times. It
// downloads about 10 MB of packages (110 MB more with
// SPLITBRAIN_ZK_DOWNLOAD_JDK=1), so it runs only with SPLITBRAIN_ZK_COLD=1.
func TestBuildBaseCold(t *testing.T) {
	systemtest.NeedEngine(t)
	if os.Getenv("SPLITBRAIN_ZK_COLD") == "" {
		t.Skip("skipping: set SPLITBRAIN_ZK_COLD=1 to build the base image from nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opts := BaseOptions{CacheDir: t.TempDir(), DownloadJDK: os.Getenv("SPLITBRAIN_ZK_DOWNLOAD_JDK") != "", Logf: t.Logf}
	cold, err := buildBase(ctx, opts)
	require.NoError(t, err)
	cli, err := clusters.Docker()
	require.NoError(t, err)
	inspect, err := cli.ImageInspect(ctx, cold.Tag)
	require.NoError(t, err)
	t.Logf("cold: %s in %v (was on the engine already: %v), image %d MB, rootfs tar %d MB", cold.Tag, cold.Build.Round(time.Millisecond), cold.Cached, inspect.Size>>20, cold.Size>>20)
	warm, err := buildBase(ctx, opts)
	require.NoError(t, err)
	require.Equal(t, cold.Tag, warm.Tag)
	require.True(t, warm.Cached)
	t.Logf("cached: %v", warm.Build.Round(time.Millisecond))
}
