package etcd

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildCold makes etcd's files from nothing, in a fresh cache
// directory, twice (cold, then cached), and reports the times: Debian's
// package by default, or SPLITBRAIN_ETCD_VERSION built from the module
// proxy (which fetches some 100 modules and compiles for a minute or
// two). It runs only with SPLITBRAIN_ETCD_COLD=1.
func TestBuildCold(t *testing.T) {
	if os.Getenv("SPLITBRAIN_ETCD_COLD") == "" {
		t.Skip("skipping: set SPLITBRAIN_ETCD_COLD=1 to build etcd's files from nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	opts := BinaryOptions{Version: os.Getenv("SPLITBRAIN_ETCD_VERSION"), CacheDir: t.TempDir(), Logf: t.Logf}
	cold, err := BuildBinaries(ctx, opts)
	require.NoError(t, err)
	assert.False(t, cold.Cached)
	t.Logf("cold: etcd %s from %s in %v, %d files, %d MB", cold.Version, cold.Source, cold.Build.Round(time.Millisecond), len(cold.Files), cold.Size>>20)
	checkBinaries(t, cold)
	// A new process would find the cache entry; this one remembers it.
	binMu.Lock()
	delete(binCache, [2]string{opts.Version, opts.CacheDir})
	binMu.Unlock()
	warm, err := BuildBinaries(ctx, opts)
	require.NoError(t, err)
	assert.True(t, warm.Cached)
	assert.Equal(t, cold.Files, warm.Files)
	t.Logf("cached: %v", warm.Build.Round(time.Millisecond))
}

// checkBinaries runs the etcd of b on the host and checks its version.
func checkBinaries(t *testing.T, b Binaries) {
	t.Helper()
	var etcd string
	for _, f := range b.Files {
		if f.Dest == EtcdPath {
			etcd = f.File
		}
	}
	require.NotEmpty(t, etcd, "no %s in %+v", EtcdPath, b.Files)
	out, err := exec.Command(etcd, "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	want := strings.TrimPrefix(b.Version, "v")
	if i := strings.IndexAny(want, "-+"); i >= 0 && b.Source != ServerModule+"@"+b.Version {
		want = want[:i] // Debian's revision is not etcd's
	}
	assert.Contains(t, string(out), "etcd Version: "+want)
	if b.Source == ServerModule+"@"+b.Version {
		assert.Len(t, b.Files, 1, "a static binary needs nothing beside it")
	}
	require.NoError(t, System(Options{Binaries: b.Files}).Validate())
}
