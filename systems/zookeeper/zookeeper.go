// Package zookeeper describes Apache ZooKeeper 3.8, unmodified (Debian's
// libzookeeper-java), as a system splitbrain runs as an ensemble: the base
// image it is built on (BuildBase: Debian's jars and a jlink-made Java
// runtime, made without any registry), each node's zoo.cfg and myid, the
// java command line (under zkclock, for clock faults), and a register
// client on znodes (Client) with the workloads package's outcomes.
//
// The servers print logs, not node-contract events, so leadership is
// observed from outside: Client.Status asks the node's AdminServer who
// leads in which epoch. README.md has the measurements and the reasons
// for the settings.
package zookeeper

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/systems"
)

// Ports in every node's container.
const (
	ClientPort   = 2181 // clients
	QuorumPort   = 2888 // followers to the leader
	ElectionPort = 3888 // leader election
	AdminPort    = 8080 // AdminServer (HTTP), where Client.Status asks
)

// Paths in the image.
const (
	// ConfPath is each node's zoo.cfg.
	ConfPath = "/conf/zoo.cfg"
	// DataDir is ZooKeeper's dataDir. It is fixed rather than the node's
	// {data} (/data/nN) because myid must sit in it and file paths are not
	// templates; it lives in the container, so kill and restart keep it.
	DataDir = "/data/zookeeper"
	// JavaHome is where BuildBase puts the Java runtime.
	JavaHome = "/usr/lib/jvm/splitbrain-zk"
	// JarDir holds the jars. zookeeper.jar's manifest names its
	// dependencies by absolute /usr/share/java paths, so they stay there.
	JarDir = "/usr/share/java"
	// FaketimeLib is libfaketime in the image (for clock faults).
	FaketimeLib = "/usr/lib/faketime/libfaketime.so.1"
)

// Jars are the jars of the classpath, in JarDir: zookeeper.jar and the
// ones its manifest names that the server uses, plus an slf4j binding
// (without one the server logs nothing) and the servlet API (without it
// the AdminServer dies with ClassNotFoundException: javax.servlet.Servlet).
var Jars = []string{
	"zookeeper.jar", "zookeeper-jute.jar",
	"slf4j-api.jar", "slf4j-simple.jar", "servlet-api.jar",
	"commons-cli.jar", "commons-io.jar",
	"jackson-annotations.jar", "jackson-core.jar", "jackson-databind.jar",
	"jetty9-http.jar", "jetty9-io.jar", "jetty9-security.jar", "jetty9-server.jar",
	"jetty9-servlet.jar", "jetty9-util.jar",
	"metrics-core.jar",
	"netty-buffer.jar", "netty-common.jar", "netty-handler.jar", "netty-transport.jar",
	"netty-transport-native-epoll.jar",
	"snappy-java.jar", "findbugs-annotations.jar",
}

// Timing of the ensemble, chosen for fast failover on a loaded 2-core
// machine. ZooKeeper counts in ticks:
//   - a follower that hears nothing from its leader for SyncLimit ticks
//     drops it and starts an election, and a leader that has no quorum
//     of followers acknowledging its pings (sent every half tick) for
//     SyncLimit ticks steps down: 4 x 250 ms = 1 s to notice a dead or
//     cut-off leader, about what electd's defaults give, yet long enough
//     that a JVM's GC pause or a starved CPU with nine servers on two
//     cores does not depose a healthy leader every few seconds;
//   - InitLimit ticks (20 x 250 ms = 5 s) bound a follower's connect and
//     sync to a new leader: generous, since a slow sync fails the
//     election and starts another;
//   - a client session lives 2 to 20 ticks (0.5 s to 5 s).
//
// The election itself is not tick-based: FastLeaderElection waits 200 ms
// for more votes once it has a quorum, doubling the wait after each round
// without a decision up to MaxNotificationInterval (ZooKeeper's default
// is 60 s; elections on a loaded machine can need several rounds); CnxTimeout
// bounds its connection attempts to a peer whose packets are dropped
// (ZooKeeper's default, 5 s, would stall every round of votes behind a
// partitioned peer).
const (
	TickTime                = 250 * time.Millisecond
	InitLimit               = 20
	SyncLimit               = 4
	CnxTimeout              = time.Second
	MaxNotificationInterval = time.Second
)

// DefaultHeap is the JVM's maximum heap: nine servers fit in 2 GiB with
// room to spare, and a register's few znodes need a few MB.
const DefaultHeap = "160m"

// Options are the knobs of a ZooKeeper ensemble.
type Options struct {
	// BaseImage is the image the node image is built on: BuildBase's tag,
	// or a user's image with the same layout (Java and ClassPath below
	// tell where its java and jars are). Required.
	BaseImage string
	// Heap is -Xmx; DefaultHeap when empty.
	Heap string
	// Java is the java binary; JavaHome/bin/java when empty.
	Java string
	// ClassPath is the server's classpath; Jars in JarDir when empty.
	ClassPath string
	// TickTime overrides TickTime (the limits stay in ticks).
	TickTime time.Duration
	// NoClock runs the server without libfaketime (and zkclock): no clock
	// faults, clock reads at full speed.
	NoClock bool
}

// ClockPackage is zkclock, which runs the server under libfaketime at the
// skew the node agent writes (systems.ClockFile).
const ClockPackage = "github.com/splitbrain/splitbrain/systems/zookeeper/zkclock"

// FaketimeFile is libfaketime's spec file, which zkclock writes.
const FaketimeFile = "/tmp/splitbrain.faketime"

// System is ZooKeeper as splitbrain runs it, built on opts.BaseImage.
func System(opts Options) systems.System {
	heap := opts.Heap
	if heap == "" {
		heap = DefaultHeap
	}
	java := opts.Java
	if java == "" {
		java = JavaHome + "/bin/java"
	}
	cp := opts.ClassPath
	if cp == "" {
		paths := make([]string, len(Jars))
		for i, j := range Jars {
			paths[i] = JarDir + "/" + j
		}
		cp = strings.Join(paths, ":")
	}
	tick := opts.TickTime
	if tick <= 0 {
		tick = TickTime
	}
	args := []string{java,
		"-Xmx" + heap, "-Xms32m", "-Xss512k",
		// One GC thread and C1 only: less CPU and memory per JVM, so nine
		// of them share two cores; ZooKeeper's throughput here is bound by
		// fsync and the network, not by the JIT.
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-XX:-UsePerfData", "-XX:+ExitOnOutOfMemoryError",
		"-Djava.net.preferIPv4Stack=true",
		"-Dzookeeper.cnxTimeout=" + strconv.FormatInt(CnxTimeout.Milliseconds(), 10),
		"-Dzookeeper.fastleader.maxNotificationInterval=" + strconv.FormatInt(MaxNotificationInterval.Milliseconds(), 10),
		"-Dzookeeper.jmx.log4j.disable=true",
		// slf4j-simple writes to stderr: stdout stays free for events.
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
		"-cp", cp,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", ConfPath,
	}
	sys := systems.System{
		Name:      "zookeeper",
		BaseImage: opts.BaseImage,
		Args:      args,
		Files: []systems.File{
			{Path: ConfPath, Content: Config(tick)},
			{Path: DataDir + "/myid", Content: "{index}\n"},
		},
		ClientPort: ClientPort,
		PeerPort:   QuorumPort,
		PeerFormat: "server.{index}={ip}:{peerport}:" + strconv.Itoa(ElectionPort),
		PeerSep:    "\n",
		Client:     ClientZooKeeper,
	}
	if !opts.NoClock {
		sys.Binaries = []systems.Binary{{Dest: "/zkclock", Package: ClockPackage}}
		sys.Args = append([]string{"/zkclock", "--clock-file", systems.ClockFilePath,
			"--faketime-file", FaketimeFile, "--lib", FaketimeLib, "--"}, args...)
		sys.Clock = systems.ClockFile
	}
	return sys
}

// ClientZooKeeper is the protocol of a ZooKeeper system's clients
// (systems.System.Client): ZooKeeper's own, spoken by this package's
// Client.
const ClientZooKeeper = "zookeeper"

// Config is the zoo.cfg template (systems templates: {peers} renders one
// server.N line per node, N being the node's index, which is also its myid).
func Config(tick time.Duration) string {
	lines := []string{
		"# splitbrain: one ZooKeeper node of an ensemble; see package systems/zookeeper.",
		"tickTime=" + strconv.FormatInt(tick.Milliseconds(), 10),
		"initLimit=" + strconv.Itoa(InitLimit),
		"syncLimit=" + strconv.Itoa(SyncLimit),
		"dataDir=" + DataDir,
		"clientPort=" + strconv.Itoa(ClientPort),
		// Every client of a run comes from the host's one address.
		"maxClientCnxns=0",
		// Bind the quorum and election ports on every interface, so a
		// node's own server line needs no special address.
		"quorumListenOnAllIPs=true",
		"standaloneEnabled=false",
		"reconfigEnabled=false",
		"admin.enableServer=true",
		"admin.serverAddress=0.0.0.0",
		"admin.serverPort=" + strconv.Itoa(AdminPort),
		"4lw.commands.whitelist=srvr,stat,mntr,ruok",
		// Transaction log files grow in 4 MB steps instead of 64 MB.
		"preAllocSize=4096",
		"{peers}",
		"",
	}
	return strings.Join(lines, "\n")
}

// MyID is node id's ZooKeeper server id: n3 is 3.
func MyID(node string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(node, "n"), 10, 64)
	if err != nil || !strings.HasPrefix(node, "n") || n < 1 {
		return 0, fmt.Errorf("node id %q is not nN", node)
	}
	return n, nil
}
