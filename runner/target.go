package runner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/systems/contract"
	"github.com/splitbrain/splitbrain/systems/electd"
	"github.com/splitbrain/splitbrain/systems/etcd"
	"github.com/splitbrain/splitbrain/systems/redis"
	"github.com/splitbrain/splitbrain/systems/zookeeper"
	"github.com/splitbrain/splitbrain/workloads"
)

// Systems are the --system values.
const (
	SystemElectd    = "electd"
	SystemContract  = "contract"
	SystemZooKeeper = "zookeeper"
	SystemEtcd      = "etcd"
	SystemRedis     = rundir.SystemRedis // Redis Cluster
)

// Node counts when --nodes is not given, and Redis Cluster's shape.
const (
	defaultNodes  = 5
	redisNodes    = 6                     // three masters, a replica each
	redisReplicas = redis.DefaultReplicas // replicas per master
)

// systemKinds are the fault kinds a system has beyond rundir.Kinds: what
// --nemesis all adds for it.
var systemKinds = map[string][]string{SystemRedis: {rundir.KindTakeover}}

// readModes are each system's --read-mode values ("" is its default).
var readModes = map[string][]string{
	SystemElectd:    {"", "quorum", "lease"},
	SystemContract:  {""},
	SystemZooKeeper: {"", zookeeper.ReadQuorum, zookeeper.ReadSync, zookeeper.ReadLocal},
	SystemEtcd:      {"", etcd.ReadLinearizable, etcd.ReadSerializable},
	SystemRedis:     {""},
}

// target is the system under test as a run needs it: what runs in each
// container, and how a client reaches a node.
type target struct {
	sys  systems.System
	dial workloads.Dial
	// setup, when set, makes one system of the ensemble's servers once
	// they answer, before the observer and the clients start (Redis
	// Cluster: its masters, slots and replicas).
	setup func(ctx context.Context, eps []workloads.Endpoint) error
	// promote, when set, makes the follower at ep lead its group without
	// the vote: the takeover fault (Redis's CLUSTER FAILOVER TAKEOVER).
	promote func(ctx context.Context, ep workloads.Endpoint) error
	// views, when set, asks every node for its view of the cluster, for
	// the final phase (Redis Cluster: cluster_state and slot map).
	views func(ctx context.Context, eps []workloads.Endpoint) []clusterView
}

// target works out the system the settings name. For ZooKeeper and etcd
// that may build files or a base image first (once per machine).
func (c Config) target(ctx context.Context, log *slog.Logger) (target, error) {
	logf := func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) }
	switch c.System {
	case SystemContract:
		bin, err := filepath.Abs(c.Binary)
		if err != nil {
			return target{}, err
		}
		if st, err := os.Stat(bin); err != nil || st.IsDir() {
			return target{}, fmt.Errorf("--binary %s: not a file", c.Binary)
		}
		sys, err := contract.System(bin, c.Args, 0)
		return target{sys: sys, dial: workloads.DialContract}, err
	case SystemZooKeeper:
		opts := zookeeper.Options{BaseImage: c.Image}
		if opts.BaseImage == "" {
			base, err := zookeeper.BuildBase(ctx, zookeeper.BaseOptions{Logf: logf})
			if err != nil {
				return target{}, fmt.Errorf("building ZooKeeper's base image: %w", err)
			}
			opts.BaseImage = base.Tag
		}
		dial := zookeeper.Dial(zookeeper.ClientOptions{ReadMode: c.ReadMode, Logger: log})
		return target{sys: zookeeper.System(opts), dial: dial}, nil
	case SystemRedis:
		sys, err := redis.Prepare(ctx, redis.Options{BaseImage: c.Image, Replicas: redisReplicas}, logf)
		if err != nil {
			return target{}, fmt.Errorf("preparing Redis: %w", err)
		}
		return target{sys: sys, dial: redis.Dial(redis.ClientOptions{Logger: log}),
			setup: func(ctx context.Context, eps []workloads.Endpoint) error {
				return redis.Create(ctx, eps, redisReplicas)
			},
			promote: redis.Takeover,
			views:   redisViews,
		}, nil
	case SystemEtcd:
		sys, _, err := etcd.Prepare(ctx, etcd.Options{Version: c.EtcdVersion, BaseImage: c.Image}, logf)
		if err != nil {
			return target{}, fmt.Errorf("preparing etcd: %w", err)
		}
		return target{sys: sys, dial: etcd.Dial(etcd.ClientOptions{ReadMode: c.ReadMode, Logger: log})}, nil
	default:
		var bs []string
		if c.Bug != "" {
			bs = strings.Split(c.Bug, ",")
		}
		return target{sys: electd.System(electd.Options{Algo: c.Algo, Bugs: bs, ReadMode: c.ReadMode}), dial: workloads.DialContract}, nil
	}
}
