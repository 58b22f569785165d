package etcd

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
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/systems/systemtest"
)

// TestUserImage runs etcd from a user's image (--image): a base image with
// etcd somewhere else than EtcdPath, which the node image is built FROM.
// No registry is reachable, so the "user's image" is imported here from
// Debian's files, with etcd at /usr/local/bin/etcd as etcd's own images
// have it.
func TestUserImage(t *testing.T) {
	systemtest.NeedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bins, err := BuildBinaries(ctx, BinaryOptions{Logf: t.Logf})
	require.NoError(t, err)
	const userEtcd = "/usr/local/bin/etcd"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := sha256.New()
	for _, f := range bins.Files {
		dest := f.Dest
		if dest == EtcdPath {
			dest = userEtcd
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
	// Parents are made by the engine; a tar without them imports fine.
	tag := "splitbrain-test/user-etcd:" + hex.EncodeToString(h.Sum(nil))[:12]
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

	sys, built, err := Prepare(ctx, Options{BaseImage: tag, Etcd: userEtcd}, t.Logf)
	require.NoError(t, err)
	require.Empty(t, built.Files, "nothing built for a user's image")
	img, err := clusters.BuildImage(ctx, sys)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		cli.ImageRemove(ctx, img.Tag, client.ImageRemoveOptions{PruneChildren: true})
		cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true})
	})
	e, err := clusters.Start(ctx, sys, 3, clusters.Options{Image: img.Tag, Logf: t.Logf})
	require.NoError(t, err)
	defer e.Teardown(context.Background())
	hs := &harness{systemtest.New[*Client](t, e)}
	members := NewMembers()
	var all []string
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Timeout: time.Second, Members: members})
		require.NoError(t, err)
		defer c.Close()
		hs.Clients[n.ID] = c
		all = append(all, n.ID)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	leader, term, _ := hs.WaitLeader(wctx, all, 0)
	t.Logf("etcd from the user's image %s: %s leads in term %d", tag, leader, term)
}
