package debian

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAptShow(t *testing.T) {
	out := "Package: libfaketime\nVersion: 0.9.10-2.1\nArchitecture: amd64\nDescription: x\n continued: line\n\n" +
		"Package: libzookeeper-java\nVersion: 3.8.0-11+deb12u2\n\nPackage: libzookeeper-java\nVersion: 3.8.0-11+deb12u1\n"
	assert.Equal(t, map[string]string{"libfaketime": "0.9.10-2.1", "libzookeeper-java": "3.8.0-11+deb12u2"}, ParseAptShow(out))
	assert.Empty(t, ParseAptShow(""))
	assert.Empty(t, ParseAptShow("Version: 1\n"), "a version outside a record")
}

func FuzzParseAptShow(f *testing.F) {
	f.Add("Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n")
	f.Add("Package: \nVersion: \n")
	f.Fuzz(func(t *testing.T, s string) {
		for p, v := range ParseAptShow(s) {
			if p == "" {
				assert.NotEmpty(t, v, "an empty package name with a version")
			}
		}
	})
}

func TestMultiarchOf(t *testing.T) {
	m, err := MultiarchOf("amd64")
	require.NoError(t, err)
	assert.Equal(t, "/lib/x86_64-linux-gnu", m.LibDir())
	assert.Equal(t, "/lib64/ld-linux-x86-64.so.2", m.LoaderPath)
	_, err = MultiarchOf("mips")
	assert.Error(t, err)
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr/lib/x"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "usr/lib/x/libc.so.6"), []byte("c"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "lib"), 0o755))
	// An absolute link is read inside root; a relative one from its directory.
	require.NoError(t, os.Symlink("/usr/lib/x/libc.so", filepath.Join(root, "lib/libc.so")))
	require.NoError(t, os.Symlink("libc.so.6", filepath.Join(root, "usr/lib/x/libc.so")))
	got, err := Resolve(root, "/lib/libc.so")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "usr/lib/x/libc.so.6"), got)
	require.NoError(t, os.Symlink("loop", filepath.Join(root, "loop")))
	_, err = Resolve(root, "/loop")
	assert.Error(t, err)
	_, err = Resolve(root, "/missing")
	assert.Error(t, err)
}

// TestNeeded reads the libraries of the test binary itself when it is
// dynamically linked, as found on this machine's root.
func TestNeeded(t *testing.T) {
	m, err := MultiarchOf("amd64")
	require.NoError(t, err)
	if _, err := os.Stat("/usr/bin/dpkg"); err != nil {
		t.Skip("skipping: needs a Debian root with /usr/bin/dpkg")
	}
	libs, interp, err := Needed("/", "/usr/bin/dpkg", m)
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	assert.Equal(t, m.LoaderPath, interp)
	assert.Contains(t, libs, "/lib/"+m.Triplet+"/libc.so.6")
}

// TestAfterUpdate: only a failed download is retried, once, after apt-get
// update; an update that fails is reported with the download's error.
func TestAfterUpdate(t *testing.T) {
	other := errors.New("no space left")
	tests := []struct {
		name      string
		errs      []error // build's answers, in turn
		updateErr error
		calls     int
		updates   int
		wantErr   []error
	}{
		{name: "built", errs: []error{nil}, calls: 1},
		{name: "another error is not retried", errs: []error{other}, calls: 1, wantErr: []error{other}},
		{name: "a failed download is retried after an update", errs: []error{ErrDownload, nil}, calls: 2, updates: 1},
		{name: "retried once only", errs: []error{ErrDownload, ErrDownload}, calls: 2, updates: 1, wantErr: []error{ErrDownload}},
		{name: "the update fails", errs: []error{ErrDownload}, updateErr: other, calls: 1, updates: 1, wantErr: []error{ErrDownload, other}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.updates > 0 && os.Geteuid() != 0 {
				t.Skip("apt-get update is tried as root only")
			}
			updates := 0
			saved := update
			update = func(context.Context) error { updates++; return tt.updateErr }
			t.Cleanup(func() { update = saved })
			calls := 0
			got, err := AfterUpdate(context.Background(), "test", t.Logf, func() (int, error) {
				calls++
				if err := tt.errs[calls-1]; err != nil {
					return 0, fmt.Errorf("fetching: %w", err)
				}
				return 7, nil
			})
			assert.Equal(t, tt.calls, calls, "builds")
			assert.Equal(t, tt.updates, updates, "updates")
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, 7, got)
				return
			}
			for _, w := range tt.wantErr {
				assert.ErrorIs(t, err, w)
			}
		})
	}
}
