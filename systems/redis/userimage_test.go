package redis

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/systems/systemtest"
)

// TestUserImage runs Redis from a user's image (--image): a base image
// with redis-server somewhere else than ServerPath, which the node image
// is built FROM. No registry is reachable, so the "user's image" is
// imported here from Debian's files (jemalloc and all), with the server
// at /usr/local/bin/redis-server as Redis's own images have it. Three
// masters and no replicas: the smallest cluster Create makes.
func TestUserImage(t *testing.T) {
	systemtest.NeedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	files, err := BuildFiles(ctx, FileOptions{NoClock: true, Logf: t.Logf})
	require.NoError(t, err)
	const userServer = "/usr/local/bin/redis-server"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := sha256.New()
	for _, f := range files.Files {
		dest := f.Dest
		if dest == ServerPath {
			dest = userServer
		}
		b, err := os.ReadFile(f.File)
		require.NoError(t, err)
		h.Write([]byte(dest))
		h.Write(b)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: dest[1:], Mode: 0o755, Size: int64(len(b)), ModTime: time.Unix(0, 0)}))
		_, err = tw.Write(b)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	tag := "splitbrain-test/user-redis:" + hex.EncodeToString(h.Sum(nil))[:12]
	cli, err := clusters.Docker()
	require.NoError(t, err)
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: &buf, SourceName: "-"}, tag, client.ImageImportOptions{})
	require.NoError(t, err)
	d := json.NewDecoder(res)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := d.Decode(&m); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		require.Empty(t, m.Error)
	}
	res.Close()
	t.Cleanup(func() {
		cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{PruneChildren: true})
	})

	opts := Options{BaseImage: tag, Server: userServer}
	sys, err := Prepare(ctx, opts, t.Logf)
	require.NoError(t, err)
	assert.Equal(t, systems.ClockNone, sys.Clock, "no clock control on a user's image")
	t.Cleanup(func() {
		// The node image FROM the user's, after the ensemble's teardown
		// (cleanups run last in, first out).
		if img, err := clusters.BuildImage(context.Background(), sys); err == nil {
			cli.ImageRemove(context.Background(), img.Tag, client.ImageRemoveOptions{PruneChildren: true})
		}
	})
	h2 := startCluster(ctx, t, opts, 3, 0)
	v := h2.poll(ctx, h2.IDs())
	for _, id := range h2.IDs() {
		assert.Equal(t, rundir.RoleLeader, v[id].Role, "%s: %+v", id, v[id])
	}
	assert.Equal(t, "0-5460", v["n1"].Group)
	assert.Equal(t, "10922-16383", v["n3"].Group)
	assert.Equal(t, int64(3), v["n3"].Term)
}
