package clusters

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/splitbrain/splitbrain/systems"
)

func isNotFound(err error) bool { return errdefs.IsNotFound(err) }

// Clean removes the containers and networks that runs no longer alive
// left behind (a killed run, a crashed test): everything labelled LabelRun
// whose owner process on this host is gone. Runs of live processes (other
// tests, a concurrent run) and things from other hosts are left alone.
// Node images stay: they are the cache. It returns how many containers and
// networks it removed.
func Clean(ctx context.Context) (removed int, err error) {
	return clean(ctx, false, "")
}

// CleanAll removes every splitbrain container and network on the engine,
// including those of live runs.
func CleanAll(ctx context.Context) (removed int, err error) {
	return clean(ctx, true, "")
}

// CleanRun removes the containers and networks of one run.
func CleanRun(ctx context.Context, runID string) (removed int, err error) {
	return clean(ctx, true, runID)
}

func clean(ctx context.Context, all bool, runID string) (int, error) {
	cli, err := Docker()
	if err != nil {
		return 0, err
	}
	f := make(client.Filters).Add("label", LabelRun)
	if runID != "" {
		f = make(client.Filters).Add("label", LabelRun+"="+runID)
	}
	dead := func(labels map[string]string) bool {
		if all {
			return true
		}
		alive, known := ownerAlive(labels[LabelOwner])
		return known && !alive
	}
	var errs []error
	removed := 0
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("clean: list containers: %w", err)
	}
	for _, c := range cs.Items {
		if !dead(c.Labels) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
			continue
		}
		removed++
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("clean: list networks: %w", err)
	}
	for _, n := range ns.Items {
		if !dead(n.Labels) {
			continue
		}
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("clean: %w", err)
	}
	return removed, nil
}

// copyFiles writes sys.Files, rendered for self, into a created container.
func copyFiles(ctx context.Context, cli *client.Client, id string, sys systems.System, self systems.Peer, peers []systems.Peer) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range sys.Files {
		content := sys.Expand(f.Content, self, peers)
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.Path[1:], Mode: mode, Size: int64(len(content))}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf}); err != nil {
		return fmt.Errorf("copy files: %w", err)
	}
	return nil
}

// CleanImages removes splitbrain's node images (LabelImage) except the
// newest one of each system and those a container still uses. It returns
// how many it removed. Runs rebuild what they miss, but a run between
// BuildImage and Start fails, so only call it on request (splitbrain clean),
// never behind other runs' backs.
func CleanImages(ctx context.Context) (removed int, err error) {
	cli, err := Docker()
	if err != nil {
		return 0, err
	}
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelImage)})
	if err != nil {
		return 0, fmt.Errorf("clean images: %w", err)
	}
	used := map[string]bool{}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return 0, fmt.Errorf("clean images: %w", err)
	}
	for _, c := range cs.Items {
		used[c.ImageID] = true
	}
	newest := map[string]int64{}
	for _, im := range res.Items {
		if sys := im.Labels[LabelImage]; im.Created > newest[sys] {
			newest[sys] = im.Created
		}
	}
	var errs []error
	for _, im := range res.Items {
		if used[im.ID] || im.Created == newest[im.Labels[LabelImage]] {
			continue
		}
		if _, err := cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %.19s: %w", im.ID, err))
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("clean images: %w", err)
	}
	return removed, nil
}
