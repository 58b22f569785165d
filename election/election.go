// Package election defines what electd's protocols have in common: a
// protocol is a plain state machine fed by peer messages, client requests
// and clock ticks, that hands back what to persist, send, answer and
// announce. It does no I/O of its own; election/node runs it over real
// sockets, a write-ahead file and a (possibly skewed) clock, and the tests
// run it over an in-memory network.
//
// The shape follows etcd's raft package: Step/Tick/Propose in, Ready out,
// persist before send.
package election

import (
	"errors"
	"time"
)

// Role is a node's role as reported on /status and in events.
type Role string

// Roles. Raft uses follower, candidate and leader (pre-candidates report
// candidate); ZAB uses looking while FastLeaderElection runs, then follower
// or leader.
const (
	Follower  Role = "follower"
	Candidate Role = "candidate"
	Leader    Role = "leader"
	Looking   Role = "looking"
)

// Op is a client operation on the replicated register.
type Op string

// Client operations.
const (
	OpRead  Op = "read"
	OpWrite Op = "write"
	OpCAS   Op = "cas"
)

// Request is one client operation handed to the leader. ID is chosen by the
// caller and comes back in the matching Result.
type Request struct {
	ID    uint64
	Op    Op
	Key   string
	Value int64 // write: the value written
	From  int64 // cas: the expected value
	To    int64 // cas: the new value
}

// Result answers one Request.
//
// Err is nil when the operation took effect (or the read was served),
// ErrNotLeader or ErrCASMismatch when it definitely did not, and any other
// error when the outcome is unknown (for example the node lost leadership
// with the entry uncommitted).
type Result struct {
	ID     uint64
	Value  int64 // read: the value read
	Exists bool  // read: false when the key has never been written
	Err    error
	Leader string // with ErrNotLeader: the leader this node knows of, or ""
}

// Errors a protocol reports in Result.Err and from Propose.
var (
	// ErrNotLeader means the request was not applied: this node does not lead.
	ErrNotLeader = errors.New("not leader")
	// ErrCASMismatch means the compare-and-set found another value and changed nothing.
	ErrCASMismatch = errors.New("cas: current value differs")
	// ErrLostLeadership means the node stopped leading before the request's
	// fate was known: the request may or may not take effect.
	ErrLostLeadership = errors.New("lost leadership, outcome unknown")
)

// Envelope is a message on its way to one peer, already encoded by the
// protocol in its own wire form.
type Envelope struct {
	To      string
	Payload []byte
}

// Event is something a node announces about itself; the runner prints each
// as one JSON line on stdout (the node contract) and the harness stamps it.
type Event struct {
	Kind string // "role" or "lease"
	Role Role   // with "role"
	Term uint64 // Raft term or ZAB epoch
	// LeaseUntil is the local (possibly skewed) clock time up to which the
	// leader holds a lease, with "lease".
	LeaseUntil time.Time
}

// Ready is what the protocol needs done. The runner must persist Records
// (append to the write-ahead file and fsync) before it sends Messages or
// delivers Results, so that no reply depends on state a crash can lose.
type Ready struct {
	Records  [][]byte
	Messages []Envelope
	Results  []Result
	Events   []Event
}

// IsEmpty reports whether there is nothing to do.
func (r Ready) IsEmpty() bool {
	return len(r.Records) == 0 && len(r.Messages) == 0 && len(r.Results) == 0 && len(r.Events) == 0
}

// Status is a snapshot of a node's view, served on GET /status.
type Status struct {
	ID     string
	Role   Role
	Term   uint64
	Leader string // "" when unknown
	Commit uint64 // highest committed index (Raft) or zxid (ZAB)
}

// Protocol is one node's state machine. Implementations are not safe for
// concurrent use: the runner serialises every call.
type Protocol interface {
	// Step handles one message a peer sent, in the wire form the protocol
	// produced. A malformed payload is an error and changes nothing.
	Step(from string, payload []byte) error
	// Tick tells the protocol the local clock reads now. Every timeout and
	// lease is measured on this clock, so skewing it skews the protocol.
	Tick(now time.Time)
	// Propose submits a client request; its Result comes in a later Ready
	// (or in the next one, when it can be answered at once).
	Propose(req Request)
	// Ready returns and clears what has to be done since the last call.
	Ready() Ready
	// Status describes the node now.
	Status() Status
}

// Config is what every protocol is built from.
type Config struct {
	ID    string   // this node
	Peers []string // every node of the ensemble, this one included, in a fixed order
	// Records are the write-ahead records persisted by earlier runs of this
	// node, oldest first; nil on first start.
	Records [][]byte
	// ElectionTimeout and Heartbeat are measured on the local clock.
	ElectionTimeout time.Duration
	Heartbeat       time.Duration
	// LeaseReads selects Raft's lease-based reads instead of ReadIndex.
	LeaseReads bool
	// Rand draws randomized timeouts: NewRand, seeded by the tests and by
	// electd --seed.
	Rand interface{ Int63n(n int64) int64 }
	// Bugs is the set of planted bugs switched on (see election/bugs).
	Bugs map[string]bool
	// Now is the local clock at construction.
	Now time.Time
}

// Quorum is the number of nodes that make a majority of n.
func Quorum(n int) int { return n/2 + 1 }
