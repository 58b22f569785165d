package rundir

// Fault is the f of a nemesis entry in history.jsonl.
type Fault string

// The faults a nemesis entry can name (docs/run-format.md).
const (
	StartPartition Fault = "start-partition"
	StopPartition  Fault = "stop-partition"
	Kill           Fault = "kill"   // SIGKILL of the server
	Start          Fault = "start"  // a killed server started again
	Pause          Fault = "pause"  // SIGSTOP
	Resume         Fault = "resume" // SIGCONT
	ClockBump      Fault = "clock-bump"
	ClockStrobe    Fault = "clock-strobe"
	ClockReset     Fault = "clock-reset"
	StartNetem     Fault = "start-netem"
	StopNetem      Fault = "stop-netem"
	// StartTakeover cuts a shard's master off and promotes one of its
	// replicas without the vote (Redis Cluster's CLUSTER FAILOVER
	// TAKEOVER); StopTakeover heals the cut.
	StartTakeover Fault = "start-takeover"
	StopTakeover  Fault = "stop-takeover"
)

// Faults lists every Fault.
var Faults = []Fault{StartPartition, StopPartition, Kill, Start, Pause, Resume,
	ClockBump, ClockStrobe, ClockReset, StartNetem, StopNetem, StartTakeover, StopTakeover}

// Role is a role a node reports in a role event.
type Role string

// Roles the checkers and the report know. A node may report others
// (they are kept); only RoleLeader claims leadership.
const (
	RoleLeader    Role = "leader"
	RoleFollower  Role = "follower"
	RoleCandidate Role = "candidate"
	RoleLooking   Role = "looking" // ZooKeeper's electing state
)

// Source says who saw an event.
type Source string

// Event sources.
const (
	SourceNode     Source = "node"     // the node's own output
	SourceObserver Source = "observer" // a status poll by the harness
	SourceAgent    Source = "agent"    // the node agent: the server started, exited, was paused, ...
)

// Event kinds the checkers and the timeline read.
const (
	EventRole  = "role"
	EventLease = "lease"
	// With SourceAgent: the server process started, or exited (killed, or
	// on its own: a crash ends a leader's claim as a kill does).
	EventStart = "start"
	EventExit  = "exit"
	// EventCluster is a node's view of a sharded cluster as a whole (Redis
	// Cluster: its cluster_state and its slot-to-master map), with
	// SourceObserver, from the final phase's polls.
	EventCluster = "cluster"
)

// Cluster states a node reports in a cluster event (Redis's
// cluster_state).
const (
	ClusterOK   = "ok"
	ClusterFail = "fail"
)

// Kind is a kind of fault: a --nemesis value, and what a fault does
// whichever entry began it (the report draws each kind its own way). It is
// a plain string so that settings and schedules hold kinds as written.
type Kind = string

// Fault kinds.
const (
	KindPartition Kind = "partition" // start-partition .. stop-partition
	KindKill      Kind = "kill"      // kill .. start
	KindPause     Kind = "pause"     // pause .. resume
	KindClock     Kind = "clock"     // clock-bump or clock-strobe .. clock-reset
	KindNetem     Kind = "netem"     // start-netem .. stop-netem
	KindTakeover  Kind = "takeover"  // start-takeover .. stop-takeover
)

// Kinds lists the fault kinds every system can have, the meaning of
// --nemesis all.
var Kinds = []Kind{KindPartition, KindKill, KindPause, KindClock, KindNetem}

// SystemKinds lists the fault kinds only some systems have (takeover:
// Redis Cluster's replica promoted without the vote). --nemesis all adds
// those the system under test has; asked for by name on another system,
// they are reported unsupported.
var SystemKinds = []Kind{KindTakeover}

// Expectations (Config.Expect): what the register must be, beyond what
// the system under test promises.
const (
	// ExpectLinearizable makes linearizability a verdict even for a
	// system that does not promise it (Redis Cluster), where it is
	// otherwise reported as information.
	ExpectLinearizable = "linearizable"
)

// SystemRedis is run.json's system of a Redis Cluster run: it is judged by
// what Redis Cluster promises (docs/run-format.md), so the checkers key on
// it.
const SystemRedis = "redis"
