// Package redis describes Redis Cluster, unmodified (Debian bookworm's
// redis-server 7.0.15), as a system splitbrain runs as an ensemble: the
// files of its image (BuildFiles), each node's flags (System), forming
// the cluster once the nodes are up (Create: masters, slots, replicas),
// the documented manual failover that skips the vote (Takeover), and a
// register client (Client, through github.com/redis/go-redis/v9) that
// sends to the node it was given and follows MOVED and ASK redirections,
// with the workloads package's outcomes. Client.Status reads who serves
// which slots in which config epoch from the node itself.
//
// Redis Cluster is sharded: each master leads one group (shard), the
// slots it serves, in its config epoch, with its replicas following it.
// The group identity a node reports is that slot set ("0-5460").
//
// Redis prints logs, not node-contract events, so leadership is observed
// from outside. README.md has the measurements and the reasons for the
// settings.
package redis

import (
	"context"
	"strconv"
	"time"

	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/systems/zookeeper"
)

// Ports in every node's container. The cluster bus is always the client
// port + 10000 (Redis's fixed offset; cluster-port is left at its 0).
// Partitions cut it like every other port: the agent's drop rules match
// the peer's IP address only (nodeagent's nftables rules on ip saddr and
// daddr), so a cut node loses its client and bus traffic to and from the
// other nodes alike, while the host still reaches every node.
const (
	ClientPort = 6379
	BusPort    = ClientPort + 10000
)

// NodeTimeout is cluster-node-timeout: a node that answers no ping for
// this long is suspected (fail?), and once a majority of masters suspect
// a master it is failed and its replicas elect one of them, which starts
// after 500 ms plus up to 500 ms of jitter (plus 1 s per rank for the
// less up-to-date replicas). It also bounds how long a master cut off
// from the majority keeps taking writes. Redis's default, 15 s, is for a
// data centre. 1 s: each node pings every other at least every half node
// timeout, from a 100 ms cron, so a healthy node has five cron ticks of
// slack before it is suspected; at load 25 on two cores (other tests'
// ensembles, the race detector) the benchmarks here saw no failover but
// the ones they caused, while a paused master is replaced in 2 to 3 s
// (README).
const NodeTimeout = time.Second

// DefaultReplicas is the number of replicas per master when
// Options.Replicas is zero.
const DefaultReplicas = 1

// AppendFsync values (Options.AppendFsync).
const (
	// FsyncAlways: the AOF is written and fsynced before the write is
	// acknowledged (once per event loop round, for every client served
	// in it). An acknowledged write is on disk, so a killed node restarts
	// with every write it acknowledged, whatever the disk's speed. The
	// default: the register's load is a few hundred writes a second.
	FsyncAlways = "always"
	// FsyncEverysec: written at once, fsynced in the background every
	// second (Redis's default). A killed process loses nothing written,
	// but when an fsync is slow Redis postpones the writes (up to 2 s)
	// while still acknowledging them, so a kill then loses acknowledged
	// writes that were never written.
	FsyncEverysec = "everysec"
)

// Options are the knobs of a Redis Cluster.
type Options struct {
	// BaseImage is a user's image holding redis-server (at Server), the
	// --image flag; it is never pulled. Empty: Debian's files
	// (BuildFiles) in an image FROM scratch. A user's image gets no clock
	// control: it may lack libfaketime, and its Redis may link a jemalloc
	// that hangs under it.
	BaseImage string
	// Server is redis-server in the image; ServerPath when empty.
	Server string
	// Replicas is the number of replicas per master that Create makes;
	// DefaultReplicas when zero. (Create takes it as an argument:
	// ReplicaCount gives this one with the default filled in.)
	Replicas int
	// NodeTimeout is cluster-node-timeout; the package's NodeTimeout when
	// zero. Redis counts it in milliseconds.
	NodeTimeout time.Duration
	// AppendFsync is appendfsync: FsyncAlways (the default when empty)
	// or FsyncEverysec.
	AppendFsync string
	// NoClock leaves clock control out (Debian's files untouched,
	// jemalloc included); clock faults are then unsupported.
	NoClock bool
	// Binaries are the files of BuildFiles (Prepare fills them in).
	Binaries []systems.Binary
	// Extra flags, appended as given (templates).
	Extra []string
}

// ReplicaCount is o.Replicas, or DefaultReplicas when zero.
func (o Options) ReplicaCount() int {
	if o.Replicas == 0 {
		return DefaultReplicas
	}
	return o.Replicas
}

// Prepare makes (or finds in the cache) the files of Debian's Redis,
// unless opts.BaseImage holds Redis already, and returns the System with
// them. logf, if not nil, gets progress messages. Clock control is left
// out when the machine has no C compiler for the jemalloc stand-in (logf
// says so; the System's Clock is then systems.ClockNone).
func Prepare(ctx context.Context, opts Options, logf func(string, ...any)) (systems.System, error) {
	if opts.BaseImage != "" || len(opts.Binaries) > 0 {
		return System(opts), nil
	}
	f, err := BuildFiles(ctx, FileOptions{NoClock: opts.NoClock, Logf: logf})
	if err != nil {
		return systems.System{}, err
	}
	opts.Binaries = f.Files
	opts.NoClock = !f.Clock
	return System(opts), nil
}

// ClientRedis is the protocol of a Redis system's clients
// (systems.System.Client): RESP, spoken by this package's Client.
const ClientRedis = "redis"

// ClockPackage is the program that runs the server under libfaketime at
// the skew the node agent writes (systems.ClockFile): zkclock, written for
// ZooKeeper's JVM, does the same for any dynamically linked server.
const ClockPackage = zookeeper.ClockPackage

// Paths of the clock control in the image.
const (
	clockPath    = "/zkclock"
	faketimeFile = zookeeper.FaketimeFile
)

// System is Redis Cluster as splitbrain runs it. Each node:
//   - cluster-enabled, with its cluster-config-file (nodes.conf: its Redis
//     id, epochs and view of the cluster) and its AOF in its data
//     directory in the container, so a killed and restarted node comes
//     back as the same node with its data;
//   - cluster-announce-ip {ip}, so every node lists the others by the
//     addresses the host reaches them at (MOVED and ASK name them);
//   - appendonly yes with AppendFsync (always by default, see
//     FsyncAlways), and no RDB snapshots (save ""): the AOF is the data,
//     and a snapshot's fork would stall a loaded machine for nothing;
//   - protected-mode no and bind 0.0.0.0: clients come from the host, on
//     the ensemble's private network;
//   - logging to stdout (the container log); Redis never prints a line
//     the agent takes for an event.
//
// Without a BaseImage and unless NoClock, the server runs under zkclock
// and libfaketime (systems.ClockFile).
func System(opts Options) systems.System {
	bin := opts.Server
	if bin == "" {
		bin = ServerPath
	}
	nt := opts.NodeTimeout
	if nt <= 0 {
		nt = NodeTimeout
	}
	fsync := opts.AppendFsync
	if fsync == "" {
		fsync = FsyncAlways
	}
	args := []string{bin,
		"--port", strconv.Itoa(ClientPort),
		"--bind", "0.0.0.0",
		"--protected-mode", "no",
		"--cluster-enabled", "yes",
		"--cluster-config-file", "{data}/nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(nt.Milliseconds(), 10),
		"--cluster-announce-ip", "{ip}",
		"--dir", "{data}",
		"--appendonly", "yes",
		"--appendfsync", fsync,
		"--save", "",
	}
	args = append(args, opts.Extra...)
	sys := systems.System{
		Name:       "redis",
		BaseImage:  opts.BaseImage,
		Binaries:   opts.Binaries,
		Args:       args,
		ClientPort: ClientPort,
		PeerPort:   BusPort,
		Client:     ClientRedis,
		Clock:      systems.ClockNone,
	}
	if opts.BaseImage == "" && !opts.NoClock {
		sys.Binaries = append(append([]systems.Binary(nil), sys.Binaries...), systems.Binary{Dest: clockPath, Package: ClockPackage})
		sys.Args = append([]string{clockPath, "--clock-file", systems.ClockFilePath,
			"--faketime-file", faketimeFile, "--lib", FaketimeLib, "--"}, args...)
		sys.Clock = systems.ClockFile
	}
	return sys
}
