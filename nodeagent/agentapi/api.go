// Package agentapi is the wire format of the node agent's control API and a
// client for it. The agent (package nodeagent, binary cmd/nodeagent) runs as
// PID 1 of every node container; the harness (package clusters) drives it
// over HTTP on Port.
//
// Endpoints (all JSON):
//
//	GET    /health              -> Health
//	GET    /capabilities        -> Capabilities (which faults this node can have)
//	POST   /server/start        start the server (no-op when it runs) -> Health
//	POST   /server/kill         SIGKILL the server and wait for its exit -> Health
//	POST   /server/pause        SIGSTOP the server's process group -> Health
//	POST   /server/resume       SIGCONT the server's process group -> Health
//	PUT    /net/drops  Drops    replace the packet-drop rules -> Drops
//	POST   /net/netem  Netem    delay/loss on the container's interface;
//	                            without sch_netem loss alone is done by
//	                            netfilter, delay is 501 with the reason
//	POST   /clock      Clock    skew the server's clock (501 when it can't)
//	GET    /events?from=N       the stamped events with Seq >= N as JSON
//	                            lines; follow=1 keeps the stream open
//
// Errors come back as a non-2xx status with an Error body.
package agentapi

import (
	"encoding/json"
	"time"

	"github.com/splitbrain/splitbrain/rundir"
)

// Port is the TCP port the agent serves its control API on.
const Port = 7070

// Server states in Health.Server.
const (
	StateRunning = "running" // started and not paused
	StatePaused  = "paused"  // SIGSTOPped
	StateExited  = "exited"  // exited or killed, not restarted yet
	StateIdle    = "idle"    // never started
)

// Health is the agent's view of its server.
type Health struct {
	Node     string `json:"node"`
	Server   string `json:"server"`             // one of the State constants
	PID      int    `json:"pid,omitempty"`      // server pid while it runs
	Starts   int    `json:"starts"`             // how often the server was started
	ExitCode *int   `json:"exit_code,omitzero"` // last exit: code, or -1 when signalled
	Signal   string `json:"signal,omitempty"`   // last exit: signal name when signalled
	Drops    Drops  `json:"drops"`
	Clock    *Clock `json:"clock,omitempty"` // skew in effect, nil when none
	Events   int64  `json:"events"`          // events kept so far
}

// Capabilities say which faults a node can have; a missing one comes with
// the reason.
type Capabilities struct {
	Drops       bool   `json:"drops"`
	DropsReason string `json:"drops_reason,omitempty"`
	Netem       bool   `json:"netem"` // delay and loss
	NetemReason string `json:"netem_reason,omitempty"`
	// Loss alone works even without netem (netfilter drops at random).
	Loss  bool `json:"loss"`
	Clock bool `json:"clock"`
}

// Drops are the packet-drop rules of one node: packets from In are dropped
// on the way in, packets to Out on the way out (IPv4 addresses). Replacing
// them with empty lists heals the node.
type Drops struct {
	In  []string `json:"in"`
	Out []string `json:"out"`
}

// Netem asks for delay and loss on the node's network interface.
// Zero values remove them.
type Netem struct {
	DelayMS  int64   `json:"delay_ms"`
	JitterMS int64   `json:"jitter_ms,omitempty"`
	Loss     float64 `json:"loss"` // 0..1
}

// Clock is a clock skew, in the node contract's terms (docs/node-contract.md
// 3.4): from the moment it is applied (At, true time), the node's clock reads
// At+Offset and advances Rate times as fast as the true clock. Rate is sent
// as given: 1 is the true rate, 0 freezes the clock.
type Clock struct {
	OffsetMS int64     `json:"offset_ms"`
	Rate     float64   `json:"rate"`
	At       time.Time `json:"at,omitzero"` // set by the agent when it applied the skew
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error       string `json:"error"`
	Unsupported bool   `json:"unsupported,omitempty"` // the fault can't be had here (kernel, system)
}

// Event sources.
const (
	SourceNode  = "node"  // a JSON line on the server's stdout
	SourceAgent = "agent" // something the agent did (start, exit, kill, pause, ...)
)

// Agent event kinds (Source "agent").
const (
	EventStart  = rundir.EventStart // server started; Pid in Line
	EventExit   = rundir.EventExit  // server exited (also after kill)
	EventPause  = "pause"           // server SIGSTOPped
	EventResume = "resume"          // server SIGCONTed
	EventDrops  = "drops"           // drop rules replaced
	EventClock  = "clock"           // clock skew applied
	EventNetem  = "netem"           // netem applied
)

// Event is one stamped event of a node. Time is the host's clock (shared by
// every container, so it is the true time) when the agent read the line or
// did the thing.
type Event struct {
	Seq    int64     `json:"seq"` // 1, 2, ... per agent
	Node   string    `json:"node"`
	Time   time.Time `json:"time"`
	Source string    `json:"source"` // SourceNode or SourceAgent
	Event  string    `json:"event"`  // the line's "event" field, or an agent event kind
	Role   string    `json:"role,omitempty"`
	Term   int64     `json:"term,omitempty"`
	// Lease start and end in true time, converted from the node's local
	// clock with the skew the agent had applied when the line was read.
	From  time.Time `json:"from,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Line is the node's raw JSON line, or the agent's details.
	Line json.RawMessage `json:"line,omitempty"`
}
