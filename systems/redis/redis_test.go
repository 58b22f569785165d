package redis

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/workloads"
)

func TestNewLayout(t *testing.T) {
	l, err := NewLayout(6, 1)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2}, l.Masters)
	assert.Equal(t, []Range{{0, 5460}, {5461, 10921}, {10922, 16383}}, l.Slots)
	assert.Equal(t, map[int]int{3: 0, 4: 1, 5: 2}, l.MasterOf)

	l, err = NewLayout(9, 2)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{3: 0, 4: 1, 5: 2, 6: 0, 7: 1, 8: 2}, l.MasterOf)

	l, err = NewLayout(4, 0)
	require.NoError(t, err)
	assert.Len(t, l.Masters, 4)
	assert.Equal(t, Range{12288, 16383}, l.Slots[3])

	for _, tc := range []struct{ n, r int }{{5, 1}, {4, 1}, {3, 1}, {7, 2}, {6, 2}, {2, 0}, {6, -1}} {
		_, err := NewLayout(tc.n, tc.r)
		assert.Error(t, err, "%d nodes, %d replicas", tc.n, tc.r)
	}
	_, err = NewLayout(5, 1)
	assert.ErrorContains(t, err, "want a multiple of 2 nodes, at least 6")
	// Every slot, once, for any number of masters.
	for m := MinMasters; m <= 9; m++ {
		l, err := NewLayout(m, 0)
		require.NoError(t, err)
		rs := Ranges(l.Slots)
		assert.Equal(t, Slots, rs.Count())
		assert.Equal(t, "0-16383", rs.String())
	}
}

func TestCreateRefusesABadSize(t *testing.T) {
	eps := []workloads.Endpoint{{Node: "n1", Addr: "127.0.0.1:1"}, {Node: "n2", Addr: "127.0.0.1:2"}, {Node: "n3", Addr: "127.0.0.1:3"}, {Node: "n4", Addr: "127.0.0.1:4"}, {Node: "n5", Addr: "127.0.0.1:5"}}
	err := Create(context.Background(), eps, 1)
	assert.ErrorContains(t, err, "5 nodes with 1 replicas")
}

func TestSystem(t *testing.T) {
	sys := System(Options{Binaries: []systems.Binary{{Dest: ServerPath, File: "/x"}}})
	require.NoError(t, sys.Validate())
	assert.Equal(t, "redis", sys.Name)
	assert.Equal(t, ClientPort, sys.ClientPort)
	assert.Equal(t, systems.ClockFile, sys.Clock)
	assert.Equal(t, clockPath, sys.Args[0])
	self := systems.Peer{ID: "n2", Index: 2, IP: "10.1.0.12"}
	argv := strings.Join(sys.Argv(self, []systems.Peer{self}), " ")
	for _, want := range []string{
		"-- " + ServerPath + " --port 6379",
		"--cluster-enabled yes", "--cluster-config-file /data/n2/nodes.conf", "--cluster-node-timeout 1000",
		"--cluster-announce-ip 10.1.0.12", "--dir /data/n2", "--appendonly yes", "--appendfsync always",
		"--protected-mode no",
	} {
		assert.Contains(t, argv, want)
	}
	assert.True(t, slices.ContainsFunc(sys.Binaries, func(b systems.Binary) bool { return b.Package == ClockPackage }))

	user := System(Options{BaseImage: "me/redis:7", Server: "/usr/local/bin/redis-server", NodeTimeout: 3 * time.Second, AppendFsync: FsyncEverysec})
	require.NoError(t, user.Validate())
	assert.Equal(t, systems.ClockNone, user.Clock, "a user's image has no clock control")
	assert.Equal(t, "/usr/local/bin/redis-server", user.Args[0])
	assert.Empty(t, user.Binaries)
	argv = strings.Join(user.Argv(self, nil), " ")
	assert.Contains(t, argv, "--cluster-node-timeout 3000")
	assert.Contains(t, argv, "--appendfsync everysec")

	assert.Equal(t, systems.ClockNone, System(Options{NoClock: true}).Clock)
	assert.Equal(t, 1, Options{}.ReplicaCount())
	assert.Equal(t, 2, Options{Replicas: 2}.ReplicaCount())
}

// TestStandin compiles the jemalloc stand-in and checks it (as BuildFiles
// does); it needs a C compiler.
func TestStandin(t *testing.T) {
	if _, err := exec.LookPath(compiler()); err != nil {
		t.Skipf("skipping: no C compiler: %v", err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "lib", jemallocSoname)
	require.NoError(t, buildStandin(context.Background(), filepath.Join(dir, "src"), out))
	// A library missing a symbol is refused.
	bad := filepath.Join(dir, "bad.so")
	src := filepath.Join(dir, "bad.c")
	require.NoError(t, os.WriteFile(src, []byte("int mallctl(void) { return 2; }\n"), 0o644))
	require.NoError(t, exec.Command(compiler(), "-shared", "-fPIC", "-nostdlib", "-o", bad, src).Run())
	assert.ErrorContains(t, checkStandin(bad), "does not export malloc_stats_print")
	assert.Error(t, checkStandin(src), "not an ELF file")
}
