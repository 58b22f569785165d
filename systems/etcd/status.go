package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/workloads"
)

// Who leads, in which term, is read from the raft status each member
// publishes on its client port (GET /debug/vars, the expvar "raft.status":
// raft's own Status, taken in raft's goroutine, so its state, term and
// leader belong together).
//
// Not from Maintenance.Status: its RaftTerm is the term of the last entry
// the member has applied (etcdserver's setTerm in applyEntries), while its
// Leader is raft's current leader. A member just elected in term 5 reports
// "leader, term 4" until the empty entry of its term is committed and
// applied, and a probe in that window would see two leaders in term 4: a
// false split brain.

// maxVars caps what is read of a /debug/vars answer (it carries the Go
// runtime's memstats too, a few kB).
const maxVars = 1 << 20

// Raft states as raft.status names them.
const (
	StateLeader       = "StateLeader"
	StateFollower     = "StateFollower"
	StateCandidate    = "StateCandidate"
	StatePreCandidate = "StatePreCandidate"
)

// RaftStatus is a member's raft status as /debug/vars publishes it.
type RaftStatus struct {
	ID        uint64 // the member's id
	Term      uint64 // raft's current term
	Lead      uint64 // the leader it knows in Term; 0 for none
	RaftState string // StateLeader, ...
	Commit    uint64
	Applied   uint64
}

// rawRaftStatus is raft.Status's JSON (ids in hex).
type rawRaftStatus struct {
	ID        string  `json:"id"`
	Term      *uint64 `json:"term"`
	Lead      string  `json:"lead"`
	RaftState string  `json:"raftState"`
	Commit    uint64  `json:"commit"`
	Applied   uint64  `json:"applied"`
}

// errNoRaft: the member answers but its raft has not started.
var errNoRaft = errors.New("raft.status is null: raft not started yet")

// ParseVars reads the raft status out of a /debug/vars answer. It rejects
// anything that is not one JSON object with a complete raft.status.
func ParseVars(b []byte) (RaftStatus, error) {
	var vars struct {
		Raft json.RawMessage `json:"raft.status"`
	}
	if err := workloads.StrictJSON(b, &vars); err != nil {
		return RaftStatus{}, fmt.Errorf("debug/vars: %w", err)
	}
	if len(vars.Raft) == 0 {
		return RaftStatus{}, errors.New("debug/vars: no raft.status")
	}
	if string(vars.Raft) == "null" {
		return RaftStatus{}, errNoRaft
	}
	var raw rawRaftStatus
	if err := json.Unmarshal(vars.Raft, &raw); err != nil {
		return RaftStatus{}, fmt.Errorf("raft.status: %w", err)
	}
	return raw.parse()
}

func (raw rawRaftStatus) parse() (RaftStatus, error) {
	id, err := parseID(raw.ID)
	if err != nil || id == 0 {
		return RaftStatus{}, fmt.Errorf("raft.status: id %q: not a member id", raw.ID)
	}
	lead, err := parseID(raw.Lead)
	if err != nil {
		return RaftStatus{}, fmt.Errorf("raft.status: lead %q: %w", raw.Lead, err)
	}
	if raw.Term == nil {
		return RaftStatus{}, errors.New("raft.status: no term")
	}
	s := RaftStatus{ID: id, Term: *raw.Term, Lead: lead, RaftState: raw.RaftState, Commit: raw.Commit, Applied: raw.Applied}
	switch s.RaftState {
	case StateLeader:
		if s.Lead != s.ID {
			return RaftStatus{}, fmt.Errorf("raft.status: leader %x names %x as leader", s.ID, s.Lead)
		}
	case StateFollower, StateCandidate, StatePreCandidate:
	default:
		return RaftStatus{}, fmt.Errorf("raft.status: unknown raftState %q", s.RaftState)
	}
	if s.Term > 1<<62 || s.Commit > 1<<62 {
		return RaftStatus{}, fmt.Errorf("raft.status: term %d or commit %d out of range", s.Term, s.Commit)
	}
	return s, nil
}

// parseID reads a member id as raft prints it (hex, no prefix).
func parseID(s string) (uint64, error) {
	if s == "" || len(s) > 16 {
		return 0, fmt.Errorf("member id %q: not 1 to 16 hex digits", s)
	}
	return strconv.ParseUint(s, 16, 64)
}

// Members maps etcd member ids to node ids (nN). Each member's own probe
// names it (its raft id and the node it is asked on), the member list the
// rest. Safe for concurrent use; share one among the clients of an
// ensemble.
type Members struct {
	mu   sync.Mutex
	byID map[uint64]string
}

// NewMembers returns an empty book.
func NewMembers() *Members { return &Members{byID: map[uint64]string{}} }

// learn records that member id is node; a different node already
// recorded for id (or id for another node) is an error: two probes
// disagree about who is who.
func (m *Members) learn(id uint64, node string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.byID[id]; ok {
		if old != node {
			return fmt.Errorf("member %x is %s and %s", id, old, node)
		}
		return nil
	}
	for oid, n := range m.byID {
		if n == node {
			return fmt.Errorf("%s is member %x and %x", node, oid, id)
		}
	}
	m.byID[id] = node
	return nil
}

// Node returns the node id of member id.
func (m *Members) Node(id uint64) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.byID[id]
	return n, ok
}

// getVars fetches a member's /debug/vars.
func getVars(ctx context.Context, hc *http.Client, addr string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/vars", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxVars+1))
	if err != nil {
		return nil, fmt.Errorf("debug/vars: reading the answer: %w", err)
	}
	if len(b) > maxVars {
		return nil, fmt.Errorf("debug/vars: answer larger than %d bytes", maxVars)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("debug/vars: HTTP %d: %.100s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}

// toStatus turns node's raft status into the node contract's status:
//
//   - leader: raft's leader state, in its term;
//   - follower: a follower, naming the leader it knows in its term (none
//     right after a term began without one);
//   - candidate: a candidate or pre-candidate (campaigning; no leader).
//
// The leader's node id comes from the book; lookup, when not nil, is
// asked to fill the book when the leader is not in it yet.
func toStatus(node string, rs RaftStatus, book *Members, lookup func() error) (workloads.Status, error) {
	if err := book.learn(rs.ID, node); err != nil {
		return workloads.Status{}, err
	}
	st := workloads.Status{ID: node, Term: int64(rs.Term), Commit: int64(rs.Commit)}
	switch rs.RaftState {
	case StateLeader:
		st.Role, st.Leader = rundir.RoleLeader, node
		return st, nil
	case StateCandidate, StatePreCandidate:
		st.Role = rundir.RoleCandidate
		return st, nil
	}
	st.Role = rundir.RoleFollower
	if rs.Lead == 0 {
		return st, nil
	}
	l, ok := book.Node(rs.Lead)
	if !ok && lookup != nil {
		if err := lookup(); err != nil {
			return workloads.Status{}, fmt.Errorf("who is member %x: %w", rs.Lead, err)
		}
		l, ok = book.Node(rs.Lead)
	}
	if !ok {
		return workloads.Status{}, fmt.Errorf("leader %x is not a member this ensemble knows", rs.Lead)
	}
	st.Leader = l
	return st, nil
}
