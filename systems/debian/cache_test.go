package debian

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fill makes a work directory holding the files of dests.
func fill(t *testing.T, root string, dests ...string) string {
	t.Helper()
	work, err := os.MkdirTemp(root, "tmp-")
	require.NoError(t, err)
	for _, d := range dests {
		p := filepath.Join(work, "files", d)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"+d), 0o755))
	}
	return work
}

func TestCacheEntry(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "entry")
	_, ok := ReadEntry(dir)
	assert.False(t, ok, "no entry yet")

	m := Manifest{Version: "7.0.15", Source: "debian redis", Clock: true, Dests: []string{"/usr/bin/a", "/lib/b"}}
	e, err := CommitEntry(fill(t, root, m.Dests...), dir, m)
	require.NoError(t, err)
	assert.False(t, e.Cached, "made by this call")
	assert.Equal(t, m, e.Manifest)
	require.Len(t, e.Files, 2)
	assert.Equal(t, "/usr/bin/a", e.Files[0].Dest)
	assert.FileExists(t, e.Files[0].File)
	assert.Equal(t, int64(len("x/usr/bin/a")+len("x/lib/b")), e.Size)
	assert.True(t, FilesExist(e.Files))

	// A second maker that lost the race gets the first one's entry.
	again, err := CommitEntry(fill(t, root, m.Dests...), dir, m)
	require.NoError(t, err)
	assert.True(t, again.Cached)
	assert.Equal(t, e.Files, again.Files)

	// An entry missing a file is no entry.
	require.NoError(t, os.Remove(e.Files[1].File))
	_, ok = ReadEntry(dir)
	assert.False(t, ok)
	assert.False(t, FilesExist(e.Files))
	assert.False(t, FilesExist(nil))
}

func TestPruneCache(t *testing.T) {
	root := t.TempDir()
	old, work, fresh := filepath.Join(root, "old"), filepath.Join(root, "tmp-1"), filepath.Join(root, "fresh")
	for _, d := range []string{old, work, fresh} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	past := time.Now().Add(-48 * time.Hour)
	require.NoError(t, os.Chtimes(old, past, past))
	require.NoError(t, os.Chtimes(work, past, past))
	PruneCache(root, 72*time.Hour)
	assert.DirExists(t, old, "younger than maxAge")
	assert.NoDirExists(t, work, "a work directory a day old is a killed build's")
	PruneCache(root, time.Hour)
	assert.NoDirExists(t, old)
	assert.DirExists(t, fresh)
}
