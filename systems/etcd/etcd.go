// Package etcd describes etcd, unmodified, as a system splitbrain runs as
// an ensemble: the files of its image (BuildBinaries: Debian's etcd-server
// 3.4.23 by default, with the C library it links against, or any v3
// version built statically from the Go module proxy), each member's flags
// (System), a probe of who leads in which raft term (Probe), and a
// register client through go.etcd.io/etcd/client/v3 pinned to one member
// (Client) with the workloads package's outcomes.
//
// etcd prints logs, not node-contract events, so leadership is observed
// from outside, by asking each member for its raft status.
//
// Clock faults: etcd is a Go binary, which reads the clock through the
// vDSO itself, so libfaketime cannot reach it; the System has no clock
// control (systems.ClockNone), the node agent answers clock requests as
// unsupported, and the nemesis reports clock faults as unsupported.
package etcd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/systems"
)

// Ports in every member's container (etcd's usual ones).
const (
	ClientPort = 2379 // clients (gRPC and HTTP, where Probe asks)
	PeerPort   = 2380 // raft between members
)

// EtcdPath is where etcd sits in images made by BuildBinaries (Debian's
// path; the module builds use it too).
const EtcdPath = "/usr/bin/etcd"

// ClusterToken is the initial cluster token: every ensemble has its own
// network, so one token for all is enough.
const ClusterToken = "splitbrain"

// Timing of the ensemble, chosen for fast failover on a loaded 2-core
// machine. etcd counts both in milliseconds:
//   - the leader sends a heartbeat every Heartbeat; 50 ms is far above a
//     round trip between containers (well under 1 ms) yet leaves room for
//     a busy scheduler, and even nine members send only 160 heartbeats a
//     second in all;
//   - a follower that hears nothing for ElectionTimeout (randomised by
//     raft to between one and two of them) campaigns, and a leader that
//     hears from no quorum for as long steps down (etcd always runs raft
//     with CheckQuorum): 500 ms is ten heartbeats, the ratio etcd's tuning
//     guide recommends, so a couple of late heartbeats do not depose a
//     healthy leader, while a dead or cut-off one is replaced in about
//     0.5 to 1 s, like ZooKeeper's and electd's settings here. (etcd's
//     defaults are 100 ms and 1000 ms, tuned for a data centre network.)
const (
	Heartbeat       = 50 * time.Millisecond
	ElectionTimeout = 500 * time.Millisecond
)

// Options are the knobs of an etcd ensemble.
type Options struct {
	// Version is the etcd Prepare builds: a version of ServerModule from
	// the Go module proxy ("v3.5.35", "3.6.16"), or Debian's package when
	// empty. Ignored with BaseImage.
	Version string
	// Binaries are the files of BuildBinaries, put into a FROM-scratch
	// image (Prepare fills them in). Leave empty when BaseImage already
	// holds etcd.
	Binaries []systems.Binary
	// BaseImage is a user's image holding etcd (at Etcd); it is never
	// pulled. Empty: FROM scratch with Binaries.
	BaseImage string
	// Etcd is the etcd binary in the image; EtcdPath when empty.
	Etcd string
	// Heartbeat and ElectionTimeout override the package's timing.
	Heartbeat, ElectionTimeout time.Duration
	// NoPreVote turns raft's pre-vote off. It is on by default, as etcd
	// has it since 3.5 (3.4, Debian's, defaults to off): without it a
	// member cut off by a partition raises its term again and again and,
	// when the partition heals, deposes a healthy leader. That is
	// disruption, not a safety bug, and not what users run today.
	NoPreVote bool
	// Extra flags, appended as given (templates).
	Extra []string
}

// Prepare makes (or finds in the cache) the files opts.Version names,
// unless opts.BaseImage holds etcd already, and returns the System with
// them and what was built (zero with a BaseImage). logf, if not nil, gets
// progress messages.
func Prepare(ctx context.Context, opts Options, logf func(string, ...any)) (systems.System, Binaries, error) {
	if opts.BaseImage != "" || len(opts.Binaries) > 0 {
		return System(opts), Binaries{}, nil
	}
	b, err := BuildBinaries(ctx, BinaryOptions{Version: opts.Version, Logf: logf})
	if err != nil {
		return systems.System{}, Binaries{}, err
	}
	opts.Binaries = b.Files
	return System(opts), b, nil
}

// ClientEtcd is the protocol of an etcd system's clients
// (systems.System.Client): etcd's v3 gRPC API, spoken by this package's
// Client.
const ClientEtcd = "etcd"

// timing is opts' heartbeat and election timeout, defaults filled in.
func (o Options) timing() (hb, et time.Duration) {
	hb, et = o.Heartbeat, o.ElectionTimeout
	if hb <= 0 {
		hb = Heartbeat
	}
	if et <= 0 {
		et = ElectionTimeout
	}
	return hb, et
}

// System is etcd as splitbrain runs it. Each member is named by its node
// id (--name n2), so the cluster's member list names nodes; its data
// directory is {data}/etcd, in the container, so a killed and restarted
// member comes back with its data; it listens and advertises on its own
// address only.
func System(opts Options) systems.System {
	bin := opts.Etcd
	if bin == "" {
		bin = EtcdPath
	}
	hb, et := opts.timing()
	url := func(port string) string { return "http://{ip}:{" + port + "}" }
	args := []string{bin,
		"--name", "{id}",
		// etcd makes the directory itself, with the 0700 it insists on.
		"--data-dir", DataDir,
		"--initial-cluster", "{peers}",
		"--initial-cluster-state", "new",
		"--initial-cluster-token", ClusterToken,
		"--listen-client-urls", url("port"),
		"--advertise-client-urls", url("port"),
		"--listen-peer-urls", url("peerport"),
		"--initial-advertise-peer-urls", url("peerport"),
		"--heartbeat-interval", strconv.FormatInt(hb.Milliseconds(), 10),
		"--election-timeout", strconv.FormatInt(et.Milliseconds(), 10),
		"--pre-vote=" + strconv.FormatBool(!opts.NoPreVote),
		// Structured logs on stderr (3.4's default logger is the
		// deprecated capnslog); stdout stays free for events.
		"--logger", "zap", "--log-outputs", "stderr",
	}
	args = append(args, opts.Extra...)
	return systems.System{
		Name:       "etcd",
		BaseImage:  opts.BaseImage,
		Binaries:   opts.Binaries,
		Args:       args,
		ClientPort: ClientPort,
		PeerPort:   PeerPort,
		PeerFormat: "{id}=http://{ip}:{peerport}",
		PeerSep:    ",",
		Client:     ClientEtcd,
		Clock:      systems.ClockNone,
	}
}

// DataDir is a member's --data-dir: under the node's data directory.
const DataDir = "{data}/etcd"

// NodeIndex is the index of node id: n3 is 3.
func NodeIndex(node string) (int, error) {
	s, ok := strings.CutPrefix(node, "n")
	n, err := strconv.Atoi(s)
	if !ok || err != nil || n < 1 || s != strconv.Itoa(n) {
		return 0, fmt.Errorf("node id %q is not nN", node)
	}
	return n, nil
}
