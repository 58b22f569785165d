package redis

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildCold makes Redis's files from nothing, in a fresh cache
// directory, twice (cold, then cached), with clock control and without,
// and reports the times. It runs only with SPLITBRAIN_REDIS_COLD=1.
func TestBuildCold(t *testing.T) {
	if os.Getenv("SPLITBRAIN_REDIS_COLD") == "" {
		t.Skip("skipping: set SPLITBRAIN_REDIS_COLD=1 to build Redis's files from nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, noClock := range []bool{false, true} {
		opts := FileOptions{NoClock: noClock, CacheDir: t.TempDir(), Logf: t.Logf}
		cold, err := BuildFiles(ctx, opts)
		require.NoError(t, err)
		assert.False(t, cold.Cached)
		assert.Equal(t, !noClock, cold.Clock)
		t.Logf("cold (no clock %v): %s in %v, %d files, %d MB", noClock, cold.Source, cold.Build.Round(time.Millisecond), len(cold.Files), cold.Size>>20)
		checkFiles(t, cold)
		// A new process would find the cache entry; this one remembers it.
		filesMu.Lock()
		clear(filesCache)
		filesMu.Unlock()
		warm, err := BuildFiles(ctx, opts)
		require.NoError(t, err)
		assert.True(t, warm.Cached)
		assert.Equal(t, cold.Files, warm.Files)
		t.Logf("cached: %v", warm.Build.Round(time.Millisecond))
	}
}

// checkFiles runs the files' redis-server on the host through their own
// loader and libraries only (none of the host's), and checks its version.
func checkFiles(t *testing.T, f Files) {
	t.Helper()
	dest := map[string]string{}
	for _, b := range f.Files {
		dest[b.Dest] = b.File
	}
	var loader, libc string
	for d, p := range dest {
		if strings.HasPrefix(d, "/lib64/ld-linux") || strings.HasPrefix(d, "/lib/ld-linux") {
			loader = p
		}
		if filepath.Base(d) == "libc.so.6" {
			libc = p
		}
	}
	require.NotEmpty(t, dest[ServerPath], "no %s in %+v", ServerPath, f.Files)
	require.NotEmpty(t, loader, "no loader")
	require.NotEmpty(t, libc, "no libc")
	out, err := exec.Command(loader, "--inhibit-cache", "--library-path", filepath.Dir(libc), dest[ServerPath], "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "Redis server v=7.")
	assert.Equal(t, f.Clock, dest[FaketimeLib] != "", "libfaketime in the files exactly with clock control")
}
