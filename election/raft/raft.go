// Package raft is electd's Raft: leader election, log replication of a
// key/value register of int64s, and linearizable reads, written as a pure
// state machine implementing election.Protocol.
//
// The shape follows etcd-io/raft: Step/Tick/Propose feed the machine, Ready
// hands back records to persist, messages to send, client results and
// events. One Step does the term bookkeeping every role shares, then
// dispatches to stepLeader, stepCandidate (which also serves pre-candidates)
// or stepFollower; only the becomeX helpers change role, and they panic on
// an illegal transition.
//
// What it implements (Raft paper §5, §8; Ongaro's thesis §6.4, §9.6):
//   - RequestVote with the log up-to-date check; currentTerm, votedFor and
//     the log are written as records in the same Ready as any message that
//     depends on them, and the runner persists records before sending;
//   - randomized election timeouts in [ET, 2ET) drawn from Config.Rand;
//   - PreVote, and CheckQuorum: a leader that has not heard from a quorum
//     for an election timeout steps down; a node that heard from a leader
//     within an election timeout ignores (pre)vote requests (leader
//     stickiness);
//   - writes and compare-and-sets answered once committed and applied
//     (a cas is evaluated at apply time);
//   - reads confirmed by a ReadIndex heartbeat round once the leader has
//     committed an entry of its own term (it appends a no-op on election),
//     or, with Config.LeaseReads, served under a leader lease (see
//     DriftBound).
//
// Records (see codec.go) are compact binary: 'H' hard state (term, vote),
// 'E' a run of entries from an index (replaying it truncates the log there
// first), 'C' a commit index known to be committed. New replays them, and
// rebuilds the register from the known-committed prefix; the rest of the
// commit index is re-learned from the leader.
//
// Clocks: every timeout and lease is measured on the clock passed to Tick.
// Step and Propose see the clock of the last Tick, which can be stale after
// a pause, so anything unsafe to judge on a stale clock waits for the next
// Tick: restarting the election timer, stamping leader contact (the
// stickiness window) and answering lease reads. A leader whose clock steps
// back drops its lease. With lease reads a node also refuses votes for an
// election timeout after it starts, since it may have forgotten a leader it
// promised not to betray.
//
// Planted bugs (election/bugs) are single guards around the faithful path;
// grep for "BUG" to find them.
package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/bugs"
)

// Planted bug names handled here.
const (
	bugVoteTwice       = "raft.vote-twice"
	bugVoteVolatile    = "raft.vote-volatile"
	bugQuorumOffByOne  = "raft.quorum-off-by-one"
	bugNoUpToDate      = "raft.no-uptodate"
	bugLocalRead       = "raft.local-read"
	bugLeaseNoDrift    = "raft.lease-no-drift"
	bugAckBeforeCommit = "raft.ack-before-commit"
)

// DriftBound is the clock drift the leader lease tolerates (thesis §6.4.1):
// a lease taken on a heartbeat round sent at local time s lasts until
// s + ElectionTimeout/DriftBound. Voters that acked the round heard the
// leader after s and refuse votes for an election timeout on their own
// clocks, so no other leader can exist before s + ElectionTimeout of true
// time as long as the leader's clock runs no slower than 1/DriftBound (2/3)
// of the voters' clocks.
const DriftBound = 1.5

// Defaults used when Config leaves timeouts zero.
const (
	DefaultElectionTimeout = 300 * time.Millisecond
	DefaultHeartbeat       = 50 * time.Millisecond
)

// state is a node's role; pre-candidates report election.Candidate.
type state int

const (
	stateFollower state = iota
	statePreCandidate
	stateCandidate
	stateLeader
)

var stateNames = [...]string{"follower", "pre-candidate", "candidate", "leader"}

func (s state) String() string { return stateNames[s] }

func (s state) role() election.Role {
	switch s {
	case stateLeader:
		return election.Leader
	case stateFollower:
		return election.Follower
	}
	return election.Candidate
}

// pendingProp is a client write or cas waiting for its entry to apply.
type pendingProp struct {
	id   uint64
	term uint64
}

// pendingRead is a ReadIndex read waiting for a quorum to ack round.
type pendingRead struct {
	req   election.Request
	index uint64
	round uint64
}

// Option configures a Node beyond election.Config.
type Option func(*Node)

// WithLogger makes the node log its decisions at debug level (and invariant
// breaks, only possible with planted bugs, at error level). The default
// discards everything.
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.logger = l } }

// Node is one Raft member. It is not safe for concurrent use.
type Node struct {
	cfg    election.Config
	id     string
	peers  []string // every other member, in Config.Peers order
	bugs   map[string]bool
	logger *slog.Logger
	rand   interface{ Int63n(int64) int64 }

	// persistent state
	term    uint64
	vote    string
	entries []entry // entries[0] is a sentinel; index i is entries[i]
	// what the records emitted so far hold
	savedTerm   uint64
	savedVote   string
	unstable    uint64 // lowest log index changed since the last Ready; 0 if none
	savedCommit uint64

	// volatile state
	commit, applied uint64
	kv              map[string]int64
	state           state
	lead            string
	now             time.Time
	bootAt          time.Time
	electionStart   time.Time
	electionTimeout time.Duration // randomized, in [ET, 2ET)
	lastHeard       time.Time     // last append from the current leader
	// Step and Propose run on the clock of the last Tick, which may be stale
	// (after a pause, say). Whatever must not be judged on a stale clock
	// waits for the next Tick: timer resets, leader contact and lease reads.
	restartTimer bool // restart the election timer at the next Tick
	heard        bool // we heard from the leader since the last Tick
	votes        map[string]bool

	// leader state
	next, match  map[string]uint64
	acked        map[string]uint64    // highest heartbeat round each peer acked
	ackAt        map[string]time.Time // local time of each peer's last response
	round        uint64               // current heartbeat round
	roundSent    map[uint64]time.Time // send time of recent rounds
	lastBcast    time.Time
	leaseUntil   time.Time
	pending      map[uint64]pendingProp // by log index
	reads        []pendingRead
	waitingReads []election.Request // until an entry of this term commits
	leaseReads   []election.Request // answered at the next Tick if the lease holds

	rd           election.Ready
	lastRole     election.Role
	lastRoleTerm uint64
	violations   int
}

var _ election.Protocol = (*Node)(nil)

// New builds a node from cfg, replaying cfg.Records.
func New(cfg election.Config, opts ...Option) (*Node, error) {
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = DefaultElectionTimeout
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.ElectionTimeout < 0 || cfg.Heartbeat < 0 || cfg.Heartbeat >= cfg.ElectionTimeout {
		return nil, fmt.Errorf("raft: need 0 < heartbeat (%v) < election timeout (%v)", cfg.Heartbeat, cfg.ElectionTimeout)
	}
	if cfg.ID == "" || len(cfg.ID) > maxIDLen {
		return nil, errors.New("raft: bad node ID")
	}
	seen := map[string]bool{}
	var peers []string
	for _, p := range cfg.Peers {
		if p == "" || seen[p] {
			return nil, fmt.Errorf("raft: empty or duplicate peer %q", p)
		}
		seen[p] = true
		if p != cfg.ID {
			peers = append(peers, p)
		}
	}
	if !seen[cfg.ID] {
		return nil, fmt.Errorf("raft: %q is not among the peers %v", cfg.ID, cfg.Peers)
	}
	for name, on := range cfg.Bugs {
		if b, ok := bugs.Lookup(name); on && (!ok || b.Algo != "raft") && strings.HasPrefix(name, "raft.") {
			return nil, fmt.Errorf("raft: unknown bug %q", name)
		}
	}
	st, err := replay(cfg.Records)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:         cfg,
		id:          cfg.ID,
		peers:       peers,
		bugs:        cfg.Bugs,
		logger:      slog.New(slog.DiscardHandler),
		rand:        cfg.Rand,
		term:        st.term,
		vote:        st.vote,
		entries:     st.log,
		savedTerm:   st.term,
		savedVote:   st.vote,
		commit:      st.commit,
		savedCommit: st.commit,
		kv:          map[string]int64{},
		now:         cfg.Now,
		bootAt:      cfg.Now,
	}
	if n.bugs == nil {
		n.bugs = map[string]bool{}
	}
	for _, o := range opts {
		o(n)
	}
	if n.rand == nil {
		var seed int64
		for _, c := range []byte(cfg.ID) {
			seed = seed*31 + int64(c)
		}
		n.rand = rand.New(rand.NewSource(seed))
	}
	n.state = stateFollower
	n.apply() // rebuild the state machine from the known-committed prefix
	n.resetElectionTimer()
	n.emitRole()
	return n, nil
}

// ---- inputs ----

// Step handles one message from peer from.
func (n *Node) Step(from string, payload []byte) error {
	if !slices.Contains(n.peers, from) {
		return fmt.Errorf("raft: message from unknown peer %q", from)
	}
	m, err := decodeMessage(payload)
	if err != nil {
		return err
	}
	n.step(from, m)
	return nil
}

// Tick advances the node's clock to now, firing elections, heartbeats and
// the CheckQuorum step-down.
func (n *Node) Tick(now time.Time) {
	if now.Before(n.now) && n.state == stateLeader {
		// The clock stepped back: a lease measured on it would stretch in
		// true time. Drop it, and never extend it from rounds sent before.
		n.leaseUntil = time.Time{}
		clear(n.roundSent)
	}
	n.now = now
	if n.restartTimer {
		n.electionStart, n.restartTimer = now, false
	}
	if n.heard {
		n.lastHeard, n.heard = now, false
	}
	if n.state == stateLeader {
		n.serveLeaseReads()
		if now.Before(n.lastBcast) { // clock stepped back
			n.lastBcast = now
		}
		if now.Sub(n.lastBcast) >= n.cfg.Heartbeat {
			n.bcastHeartbeat()
		}
		if now.Sub(n.quorumActive()) >= n.cfg.ElectionTimeout {
			n.logger.Debug("check quorum failed, stepping down", "id", n.id, "term", n.term)
			n.becomeFollower(n.term, "")
		}
		return
	}
	if now.Before(n.electionStart) {
		n.electionStart = now
	}
	if now.Sub(n.electionStart) >= n.electionTimeout {
		n.Campaign()
	}
}

// Campaign starts a (pre-)election now, as if the election timeout had
// fired. Tests use it to script elections; a leader ignores it.
func (n *Node) Campaign() {
	if n.state == stateLeader {
		return
	}
	n.campaign(true)
}

// Propose submits a client request.
func (n *Node) Propose(req election.Request) {
	if n.state != stateLeader {
		n.result(election.Result{ID: req.ID, Err: election.ErrNotLeader, Leader: n.lead})
		return
	}
	if req.Op == election.OpRead {
		n.read(req)
		return
	}
	e, err := entryFor(n.term, req)
	if err != nil {
		n.result(election.Result{ID: req.ID, Err: err})
		return
	}
	n.appendEntries(n.lastIndex()+1, []entry{e})
	idx := n.lastIndex()
	if n.bugs[bugAckBeforeCommit] && req.Op == election.OpWrite {
		// BUG raft.ack-before-commit: acknowledge once appended locally.
		n.result(election.Result{ID: req.ID})
	} else {
		n.pending[idx] = pendingProp{id: req.ID, term: n.term}
	}
	for _, p := range n.peers {
		n.sendAppend(p)
	}
	n.maybeCommit()
}

// Ready returns and clears what the runner has to do: persist Records
// before sending Messages or delivering Results.
func (n *Node) Ready() election.Ready {
	if n.term != n.savedTerm || n.vote != n.savedVote {
		if !n.bugs[bugVoteVolatile] { // BUG raft.vote-volatile: term and vote live in memory only
			n.rd.Records = append(n.rd.Records, hardStateRecord(n.term, n.vote))
		}
		n.savedTerm, n.savedVote = n.term, n.vote
	}
	if n.unstable > 0 {
		n.rd.Records = append(n.rd.Records, entriesRecord(n.unstable, n.entries[n.unstable:]))
		n.unstable = 0
	}
	if n.commit != n.savedCommit {
		// Not needed for safety (a restarted node re-learns it from the
		// leader) but lets a restart rebuild its state machine at once and
		// keeps Status().Commit from going back.
		n.rd.Records = append(n.rd.Records, commitRecord(n.commit))
		n.savedCommit = n.commit
	}
	rd := n.rd
	n.rd = election.Ready{}
	return rd
}

// Status describes the node.
func (n *Node) Status() election.Status {
	return election.Status{ID: n.id, Role: n.state.role(), Term: n.term, Leader: n.lead, Commit: n.commit}
}

// Violations counts invariant breaks the node noticed (a committed entry
// overwritten). It stays 0 unless a planted bug is on.
func (n *Node) Violations() int { return n.violations }

// ---- Step ----

func (n *Node) step(from string, m message) {
	switch {
	case m.Term > n.term:
		if (m.Type == msgVote || m.Type == msgPreVote) && n.inLease() {
			// Leader stickiness (etcd's inLease): we heard from a leader
			// within an election timeout, so we neither vote nor adopt the term.
			n.logger.Debug("ignoring vote request in lease", "id", n.id, "from", from, "type", m.Type)
			return
		}
		switch {
		case m.Type == msgPreVote:
			// a pre-vote never changes our term
		case m.Type == msgPreVoteResp && !m.Reject:
			// a granted pre-vote carries the future term
		case m.Type == msgApp:
			n.becomeFollower(m.Term, from)
		default:
			n.becomeFollower(m.Term, "")
		}
	case m.Term < n.term:
		switch m.Type {
		case msgApp:
			// tell a deposed leader about the new term
			n.send(from, message{Type: msgAppResp, Term: n.term, Reject: true})
		case msgPreVote:
			n.send(from, message{Type: msgPreVoteResp, Term: n.term, Reject: true})
		}
		return
	}

	switch m.Type {
	case msgPreVote, msgVote:
		n.handleVote(from, m)
		return
	}
	switch n.state {
	case stateLeader:
		n.stepLeader(from, m)
	case stateCandidate, statePreCandidate:
		n.stepCandidate(from, m)
	default:
		n.stepFollower(from, m)
	}
}

// inLease reports whether we should ignore vote requests: we lead, or we
// heard from a leader within an election timeout, or (lease reads only) we
// booted less than an election timeout ago and may have forgotten a leader.
func (n *Node) inLease() bool {
	if n.state == stateLeader {
		return true
	}
	et := n.cfg.ElectionTimeout
	if n.cfg.LeaseReads && n.now.Sub(n.bootAt) < et {
		return true
	}
	return n.lead != "" && (n.heard || n.now.Sub(n.lastHeard) < et)
}

func (n *Node) handleVote(from string, m message) {
	pre := m.Type == msgPreVote
	resp := msgVoteResp
	if pre {
		resp = msgPreVoteResp
	}
	free := n.vote == ""
	if n.bugs[bugVoteTwice] && !pre {
		free = true // BUG raft.vote-twice: ignore the vote already cast this term
	}
	canVote := n.vote == from || (free && n.lead == "") || (pre && m.Term > n.term)
	upToDate := n.isUpToDate(m.LogTerm, m.Index)
	if n.bugs[bugNoUpToDate] {
		upToDate = true // BUG raft.no-uptodate: skip the log check
	}
	if !canVote || !upToDate {
		n.logger.Debug("reject vote", "id", n.id, "term", n.term, "from", from, "pre", pre, "vote", n.vote, "uptodate", upToDate)
		n.send(from, message{Type: resp, Term: n.term, Reject: true})
		return
	}
	n.logger.Debug("grant vote", "id", n.id, "term", m.Term, "to", from, "pre", pre)
	if !pre {
		n.vote = from // persisted by Ready before the grant is sent
		n.resetElectionTimer()
	}
	n.send(from, message{Type: resp, Term: m.Term})
}

// isUpToDate is Raft §5.4.1: the candidate's log ends in a later term, or
// the same term and at least as far.
func (n *Node) isUpToDate(lastTerm, lastIndex uint64) bool {
	ours := n.lastTerm()
	return lastTerm > ours || (lastTerm == ours && lastIndex >= n.lastIndex())
}

func (n *Node) stepFollower(from string, m message) {
	if m.Type == msgApp {
		n.handleAppend(from, m)
	}
}

func (n *Node) stepCandidate(from string, m message) {
	switch m.Type {
	case msgApp:
		n.becomeFollower(m.Term, from)
		n.handleAppend(from, m)
	case msgPreVoteResp:
		if n.state != statePreCandidate || (!m.Reject && m.Term != n.term+1) {
			return
		}
		n.recordVote(from, !m.Reject)
	case msgVoteResp:
		if n.state != stateCandidate {
			return
		}
		n.recordVote(from, !m.Reject)
	}
}

func (n *Node) recordVote(from string, granted bool) {
	if _, ok := n.votes[from]; !ok { // the first answer of each voter counts
		n.votes[from] = granted
	}
	switch countVotes(n.votes, len(n.peers)+1, n.quorum()) {
	case voteWon:
		if n.state == statePreCandidate {
			n.campaign(false)
		} else {
			n.becomeLeader()
		}
	case voteLost:
		n.becomeFollower(n.term, "")
	}
}

func (n *Node) stepLeader(from string, m message) {
	if m.Type != msgAppResp {
		return // a same-term App can only come from a second leader (planted bugs)
	}
	n.ackAt[from] = n.now
	if m.Ctx > n.acked[from] && m.Ctx <= n.round {
		n.acked[from] = m.Ctx
		n.extendLease()
	}
	if m.Reject {
		next := min(m.Index, m.Hint+1)
		n.next[from] = max(1, min(next, n.lastIndex()+1))
		n.sendAppend(from)
	} else if m.Index <= n.lastIndex() {
		if m.Index > n.match[from] {
			n.match[from] = m.Index
			n.maybeCommit()
		}
		if n.next[from] <= m.Index {
			n.next[from] = m.Index + 1
		}
		if n.next[from] <= n.lastIndex() {
			n.sendAppend(from)
		}
	}
	if n.state == stateLeader {
		n.serveReads()
	}
}

func (n *Node) handleAppend(from string, m message) {
	n.lead = from
	n.heard = true
	n.resetElectionTimer()
	if m.Index > n.lastIndex() || n.entries[m.Index].Term != m.LogTerm {
		n.send(from, message{Type: msgAppResp, Term: n.term, Reject: true, Index: m.Index, Hint: n.lastIndex(), Ctx: m.Ctx})
		return
	}
	for i, e := range m.Entries {
		idx := m.Index + 1 + uint64(i)
		if idx <= n.lastIndex() && n.entries[idx].Term == e.Term {
			continue
		}
		n.appendEntries(idx, m.Entries[i:])
		break
	}
	last := m.Index + uint64(len(m.Entries))
	if c := min(m.Commit, last); c > n.commit {
		n.commit = c
		n.apply()
	}
	n.send(from, message{Type: msgAppResp, Term: n.term, Index: last, Ctx: m.Ctx})
}

// ---- role transitions ----

func (n *Node) becomeFollower(term uint64, lead string) {
	if n.state == stateLeader {
		n.failPending()
	}
	if term != n.term {
		n.term = term
		n.vote = "" // only a term change clears the vote
	}
	n.state = stateFollower
	n.lead = lead
	if lead != "" {
		n.heard = true
	}
	n.leaseUntil = time.Time{}
	n.resetElectionTimer()
	n.emitRole()
}

func (n *Node) becomePreCandidate() {
	if n.state == stateLeader {
		panic("raft: invalid transition [leader -> pre-candidate]")
	}
	n.state = statePreCandidate
	n.lead = ""
	n.votes = map[string]bool{}
	n.resetElectionTimer()
	n.emitRole()
}

func (n *Node) becomeCandidate() {
	if n.state == stateLeader {
		panic("raft: invalid transition [leader -> candidate]")
	}
	n.term++
	n.vote = n.id
	n.state = stateCandidate
	n.lead = ""
	n.votes = map[string]bool{}
	n.resetElectionTimer()
	n.emitRole()
}

func (n *Node) becomeLeader() {
	if n.state != stateCandidate {
		panic(fmt.Sprintf("raft: invalid transition [%v -> leader]", n.state))
	}
	n.state = stateLeader
	n.lead = n.id
	n.next = map[string]uint64{}
	n.match = map[string]uint64{}
	n.acked = map[string]uint64{}
	n.ackAt = map[string]time.Time{}
	for _, p := range n.peers {
		n.next[p] = n.lastIndex() + 1
		n.ackAt[p] = n.now // CheckQuorum grace period
	}
	n.round = 0
	n.roundSent = map[uint64]time.Time{}
	n.leaseUntil = time.Time{}
	n.pending = map[uint64]pendingProp{}
	n.reads, n.waitingReads, n.leaseReads = nil, nil, nil
	n.emitRole()
	n.logger.Debug("became leader", "id", n.id, "term", n.term)
	n.appendEntries(n.lastIndex()+1, []entry{{Term: n.term, Kind: kindNoop}})
	n.bcastHeartbeat()
	n.maybeCommit()
}

func (n *Node) campaign(pre bool) {
	if pre {
		n.becomePreCandidate()
	} else {
		n.becomeCandidate()
	}
	typ, term := msgVote, n.term
	if pre {
		typ, term = msgPreVote, n.term+1
	}
	n.recordVote(n.id, true)
	if n.state == stateLeader || (n.state == stateCandidate && pre) {
		return // a single-node cluster wins at once
	}
	for _, p := range n.peers {
		n.send(p, message{Type: typ, Term: term, Index: n.lastIndex(), LogTerm: n.lastTerm()})
	}
}

func (n *Node) emitRole() {
	r := n.state.role()
	if r == n.lastRole && n.term == n.lastRoleTerm {
		return
	}
	n.lastRole, n.lastRoleTerm = r, n.term
	n.rd.Events = append(n.rd.Events, election.Event{Kind: "role", Role: r, Term: n.term})
}

func (n *Node) resetElectionTimer() {
	et := n.cfg.ElectionTimeout
	n.electionStart = n.now
	n.restartTimer = true
	n.electionTimeout = et + time.Duration(n.rand.Int63n(int64(et)))
}

// failPending answers every outstanding request of a deposed leader.
func (n *Node) failPending() {
	idx := make([]uint64, 0, len(n.pending))
	for i := range n.pending {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		n.result(election.Result{ID: n.pending[i].id, Err: election.ErrLostLeadership})
	}
	n.pending = map[uint64]pendingProp{}
	for _, r := range n.reads {
		n.result(election.Result{ID: r.req.ID, Err: election.ErrNotLeader})
	}
	for _, r := range n.waitingReads {
		n.result(election.Result{ID: r.ID, Err: election.ErrNotLeader})
	}
	for _, r := range n.leaseReads {
		n.result(election.Result{ID: r.ID, Err: election.ErrNotLeader})
	}
	n.reads, n.waitingReads, n.leaseReads = nil, nil, nil
}

// ---- log, commit, apply ----

func (n *Node) lastIndex() uint64 { return uint64(len(n.entries) - 1) }
func (n *Node) lastTerm() uint64  { return n.entries[len(n.entries)-1].Term }

// quorum is the size of a majority of the ensemble.
func (n *Node) quorum() int {
	size := len(n.peers) + 1
	if n.bugs[bugQuorumOffByOne] {
		return max(1, size/2) // BUG raft.quorum-off-by-one
	}
	return election.Quorum(size)
}

// appendEntries writes es at index at, dropping whatever followed at-1.
func (n *Node) appendEntries(at uint64, es []entry) {
	if at <= n.commit {
		// Only reachable with a planted bug: a committed entry is overwritten.
		n.violations++
		n.logger.Error("overwriting committed entries", "id", n.id, "at", at, "commit", n.commit)
		n.commit = at - 1
		n.applied = 0
		n.kv = map[string]int64{}
		n.apply()
	}
	n.entries = append(n.entries[:at], es...)
	if n.unstable == 0 || at < n.unstable {
		n.unstable = at
	}
}

func (n *Node) maybeCommit() {
	m := []uint64{n.lastIndex()}
	for _, p := range n.peers {
		m = append(m, n.match[p])
	}
	idx := quorumIndex(m, n.quorum())
	// Only entries of the current term commit by counting (Raft §5.4.2).
	if idx > n.commit && n.entries[idx].Term == n.term {
		n.commit = idx
		n.apply()
	}
}

func (n *Node) apply() {
	for n.applied < n.commit {
		n.applied++
		e := n.entries[n.applied]
		var err error
		switch e.Kind {
		case kindWrite:
			n.kv[e.Key] = e.Value
		case kindCAS:
			if cur, ok := n.kv[e.Key]; ok && cur == e.From {
				n.kv[e.Key] = e.To
			} else {
				err = election.ErrCASMismatch
			}
		}
		if p, ok := n.pending[n.applied]; ok {
			delete(n.pending, n.applied)
			if p.term != e.Term {
				err = election.ErrLostLeadership
			}
			n.result(election.Result{ID: p.id, Err: err})
		}
	}
	if n.state != stateLeader {
		return
	}
	if len(n.waitingReads) > 0 && n.committedInTerm() {
		w := n.waitingReads
		n.waitingReads = nil
		for _, r := range w {
			n.read(r)
		}
	}
	n.serveReads()
}

// committedInTerm is etcd's committedEntryInCurrentTerm: until it holds a
// new leader's commit index may lag the old leader's.
func (n *Node) committedInTerm() bool { return n.entries[n.commit].Term == n.term }

// ---- reads and leases ----

func (n *Node) read(req election.Request) {
	if n.bugs[bugLocalRead] {
		n.answerRead(req) // BUG raft.local-read: no ReadIndex round, no lease
		return
	}
	if !n.committedInTerm() {
		n.waitingReads = append(n.waitingReads, req)
		return
	}
	if n.cfg.LeaseReads && n.now.Before(n.leaseUntil) {
		// Looks covered by the lease, but n.now may be stale: decide at
		// the next Tick, which reads the clock after this request arrived.
		n.leaseReads = append(n.leaseReads, req)
		return
	}
	n.readIndex(req)
}

// readIndex starts a ReadIndex round for req.
func (n *Node) readIndex(req election.Request) {
	n.reads = append(n.reads, pendingRead{req: req, index: n.commit, round: n.round + 1})
	n.bcastHeartbeat()
	n.serveReads()
}

// serveLeaseReads answers the queued lease reads if the lease still holds
// at the current Tick, and sends them through ReadIndex otherwise.
func (n *Node) serveLeaseReads() {
	rs := n.leaseReads
	n.leaseReads = nil
	for _, r := range rs {
		if n.now.Before(n.leaseUntil) {
			n.answerRead(r)
		} else {
			n.readIndex(r)
		}
	}
}

func (n *Node) answerRead(req election.Request) {
	v, ok := n.kv[req.Key]
	n.result(election.Result{ID: req.ID, Value: v, Exists: ok})
}

// confirmedRound is the latest heartbeat round a quorum (us included) acked.
func (n *Node) confirmedRound() uint64 {
	r := []uint64{n.round}
	for _, p := range n.peers {
		r = append(r, n.acked[p])
	}
	return quorumIndex(r, n.quorum())
}

// quorumActive is the latest local time by which a quorum (us included)
// had answered.
func (n *Node) quorumActive() time.Time {
	ts := []time.Time{n.now}
	for _, p := range n.peers {
		ts = append(ts, n.ackAt[p])
	}
	return quorumTime(ts, n.quorum())
}

func (n *Node) serveReads() {
	if len(n.reads) == 0 {
		return
	}
	c := n.confirmedRound()
	kept := n.reads[:0]
	for _, r := range n.reads {
		if r.round <= c && r.index <= n.applied {
			n.answerRead(r.req)
		} else {
			kept = append(kept, r)
		}
	}
	n.reads = kept
}

// extendLease recomputes the lease after an ack.
func (n *Node) extendLease() {
	c := n.confirmedRound()
	var until time.Time
	if n.bugs[bugLeaseNoDrift] {
		// BUG raft.lease-no-drift: last ack received plus a full election timeout.
		until = n.quorumActive().Add(n.cfg.ElectionTimeout)
	} else {
		sent, ok := n.roundSent[c]
		if !ok {
			return
		}
		until = sent.Add(time.Duration(float64(n.cfg.ElectionTimeout) / DriftBound))
	}
	for r := range n.roundSent {
		if r < c {
			delete(n.roundSent, r)
		}
	}
	if until.After(n.leaseUntil) {
		n.leaseUntil = until
		if n.cfg.LeaseReads {
			n.rd.Events = append(n.rd.Events, election.Event{Kind: "lease", Term: n.term, LeaseUntil: until})
		}
	}
}

// ---- sending ----

// bcastHeartbeat starts a new heartbeat round and sends an append to every
// peer (with any entries it lacks).
func (n *Node) bcastHeartbeat() {
	n.round++
	n.roundSent[n.round] = n.now
	n.lastBcast = n.now
	for _, p := range n.peers {
		n.sendAppend(p)
	}
}

// sendAppend sends p the entries from next[p] on, at most maxEntriesPerMsg,
// and optimistically advances next[p] past them.
func (n *Node) sendAppend(p string) {
	next := max(1, min(n.next[p], n.lastIndex()+1))
	prev := next - 1
	end := min(n.lastIndex(), prev+maxEntriesPerMsg)
	var es []entry
	if end > prev {
		es = slices.Clone(n.entries[next : end+1])
	}
	n.next[p] = end + 1
	n.send(p, message{Type: msgApp, Term: n.term, Index: prev, LogTerm: n.entries[prev].Term, Commit: n.commit, Ctx: n.round, Entries: es})
}

func (n *Node) send(to string, m message) {
	n.rd.Messages = append(n.rd.Messages, election.Envelope{To: to, Payload: m.encode()})
}

func (n *Node) result(r election.Result) { n.rd.Results = append(n.rd.Results, r) }
