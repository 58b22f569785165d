package clusters

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moby/moby/client"
)

// importBase imports a one-file image as tag (a stand-in for a user's
// base image).
func importBase(ctx context.Context, t *testing.T, tag, content string) {
	t.Helper()
	cli, err := Docker()
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "base.txt", Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0)}))
	_, err = tw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: &buf, SourceName: "-"}, tag, client.ImageImportOptions{})
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, res)
	res.Close()
	require.NoError(t, err)
}

// TestBaseImageChange: a node image built FROM a base is tagged by the
// base's content, not its name: the same name on new content gives a new
// node image.
func TestBaseImageChange(t *testing.T) {
	needEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const tag = "splitbrain-test/base:changing"
	cli, err := Docker()
	require.NoError(t, err)
	defer cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})

	sys := fakeSystem
	sys.Name = "fakenode-on-base"
	sys.BaseImage = tag
	importBase(ctx, t, tag, "one")
	first, err := buildImage(ctx, sys)
	require.NoError(t, err)
	again, err := buildImage(ctx, sys)
	require.NoError(t, err)
	require.Equal(t, first.Tag, again.Tag, "the same base: the same node image")
	require.True(t, again.Cached)

	importBase(ctx, t, tag, "two")
	second, err := buildImage(ctx, sys)
	require.NoError(t, err)
	require.NotEqual(t, first.Tag, second.Tag, "a new base under the same name")
	for _, im := range []string{first.Tag, second.Tag} {
		cli.ImageRemove(context.Background(), im, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	}
}
