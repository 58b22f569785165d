package runner

import (
	"context"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/systems"
)

// Backend is where a run's ensemble lives. Docker on this host
// (DockerBackend, package clusters) is the one there is; docs/scaling.md
// says how a Kubernetes backend would fit behind the same methods. The
// agent's faults, the node contract and the history do not depend on it.
type Backend interface {
	// Ping says whether the engine answers.
	Ping(ctx context.Context) error
	// Clean removes what runs that died left behind: how many things.
	Clean(ctx context.Context) (int, error)
	// Image builds the node image of sys (or finds it built): its
	// reference, for Start's Options.Image.
	Image(ctx context.Context, sys systems.System) (string, error)
	// Start starts n nodes of sys and returns once each answers.
	Start(ctx context.Context, sys systems.System, n int, opts clusters.Options) (Ensemble, error)
}

// Ensemble is a running ensemble, wherever it runs: what the nemesis
// needs of it, its nodes, their logs and its removal.
type Ensemble interface {
	nemesis.Cluster
	Nodes() []clusters.Node
	Logs(ctx context.Context, id string) ([]byte, error)
	Teardown(ctx context.Context) error
}

// DockerBackend runs ensembles on the Docker engine that DOCKER_HOST (or
// the default socket) names: a container per node on a private network.
type DockerBackend struct{}

// Ping asks the engine for its API version.
func (DockerBackend) Ping(ctx context.Context) error {
	_, err := clusters.Ping(ctx)
	return err
}

// Clean removes the containers and networks of runs whose harness died.
func (DockerBackend) Clean(ctx context.Context) (int, error) { return clusters.Clean(ctx) }

// Image builds the node image from the system's files.
func (DockerBackend) Image(ctx context.Context, sys systems.System) (string, error) {
	img, err := clusters.BuildImage(ctx, sys)
	return img.Tag, err
}

// Start starts the ensemble's containers.
func (DockerBackend) Start(ctx context.Context, sys systems.System, n int, opts clusters.Options) (Ensemble, error) {
	e, err := clusters.Start(ctx, sys, n, opts)
	if err != nil {
		return nil, err
	}
	return e, nil
}
