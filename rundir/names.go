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
)

// Faults lists every Fault.
var Faults = []Fault{StartPartition, StopPartition, Kill, Start, Pause, Resume,
	ClockBump, ClockStrobe, ClockReset, StartNetem, StopNetem}

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
)

// Kinds lists every fault kind, the meaning of --nemesis all.
var Kinds = []Kind{KindPartition, KindKill, KindPause, KindClock, KindNetem}
