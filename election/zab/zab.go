package zab

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/splitbrain/splitbrain/election"
)

// state is a server's FLE state (ZooKeeper's ServerState, without OBSERVING).
type state uint8

const (
	stateLooking state = iota + 1
	stateFollowing
	stateLeading
)

func (s state) String() string {
	switch s {
	case stateLooking:
		return "LOOKING"
	case stateFollowing:
		return "FOLLOWING"
	case stateLeading:
		return "LEADING"
	}
	return "?"
}

// phase is where a leader or follower stands in ZAB.
type phase uint8

const (
	phaseDiscovery phase = iota // waiting for / exchanging epochs
	phaseSync                   // epoch agreed, history being synchronized
	phaseBroadcast              // established: NEWLEADER acked by a quorum (leader) or by me (follower)
)

// Default timing (see the package comment).
const (
	defaultHeartbeat       = 50 * time.Millisecond
	defaultElectionTimeout = 300 * time.Millisecond
	finalizeWait           = 200 * time.Millisecond
	maxNotifyInterval      = 8 * finalizeWait
)

// Planted bug names (election/bugs).
const (
	bugCounterOnly = "zab.zxid-counter-only"
	bugAckTwice    = "zab.ackepoch-twice"
	bugNoStepdown  = "zab.no-stepdown"
)

var timeZero time.Time

// Node is one ZAB server. It implements election.Protocol.
type Node struct {
	id    string
	sid   uint64
	names map[uint64]string // server id -> peer name
	sids  map[string]uint64 // peer name -> server id
	peers []uint64          // every server id, this one included

	tick, syncLimit, initLimit time.Duration

	counterOnly, ackTwice, noStepdown bool

	now time.Time

	// Persistent state: written as records before anything depends on it.
	acceptedEpoch uint64
	currentEpoch  uint64
	log           []txn

	// The register, rebuilt by applying committed transactions in order.
	commit  uint64 // last committed zxid
	applied int    // log[:applied] is applied to kv
	kv      map[string]int64

	state  state
	leader uint64 // the leader followed, or my own sid when leading

	// incarnation tells this run of the server from earlier ones, so that
	// a leader can tell a restarted follower's new session from a
	// duplicate of an old one; sessions counts following sessions within
	// this run (see nextSession).
	incarnation uint64
	sessions    uint64

	// FLE.
	round         uint64 // logicalclock
	proposal      vote
	recvset       map[uint64]vote
	outofelection map[uint64]vote
	finalizeAt    time.Time // zero until a quorum agrees with proposal
	notifyAt      time.Time
	notifyEvery   time.Duration
	decided       vote // the vote this server decided on, sent to LOOKING peers

	f *follower
	l *leader

	rd       election.Ready
	lastRole election.Role
	lastTerm uint64
}

var _ election.Protocol = (*Node)(nil)

// vote is an FLE vote: the proposed leader, its last zxid and its epoch,
// with the voter's round and state.
type vote struct {
	Leader uint64
	Zxid   uint64
	Epoch  uint64
	Round  uint64
	State  state
}

// New builds a server from cfg, replaying cfg.Records, and starts it LOOKING.
func New(cfg election.Config) (*Node, error) {
	n := &Node{
		id:    cfg.ID,
		names: map[uint64]string{},
		sids:  map[string]uint64{},
		kv:    map[string]int64{},
		now:   cfg.Now,
	}
	ids, err := serverIDs(cfg.Peers)
	if err != nil {
		return nil, err
	}
	for i, p := range cfg.Peers {
		n.names[ids[i]] = p
		n.sids[p] = ids[i]
		n.peers = append(n.peers, ids[i])
	}
	sid, ok := n.sids[cfg.ID]
	if !ok {
		return nil, fmt.Errorf("zab: %q is not among the peers %v", cfg.ID, cfg.Peers)
	}
	n.sid = sid

	n.tick = cfg.Heartbeat
	if n.tick <= 0 {
		n.tick = defaultHeartbeat
	}
	n.syncLimit = cfg.ElectionTimeout
	if n.syncLimit <= 0 {
		n.syncLimit = defaultElectionTimeout
	}
	if n.syncLimit < 2*n.tick {
		// A follower must get at least two pings before it gives up on
		// its leader, or one late ping would cost an election.
		n.syncLimit = 2 * n.tick
	}
	n.initLimit = 2 * n.syncLimit

	// The start time, the amount of history and (when given) randomness:
	// two runs of one server never share all three.
	n.incarnation = uint64(cfg.Now.UnixNano())<<16 ^ uint64(len(cfg.Records))<<40
	if cfg.Rand != nil {
		n.incarnation ^= uint64(cfg.Rand.Int63n(1 << 62))
	}

	n.counterOnly = cfg.Bugs[bugCounterOnly]
	n.ackTwice = cfg.Bugs[bugAckTwice]
	n.noStepdown = cfg.Bugs[bugNoStepdown]

	for i, raw := range cfg.Records {
		if err := n.replay(raw); err != nil {
			return nil, fmt.Errorf("zab: record %d: %w", i, err)
		}
	}
	n.becomeLooking()
	return n, nil
}

// serverIDs derives numeric server ids from peer names: the trailing digits
// when every name has distinct non-zero ones, else 1-based positions.
func serverIDs(peers []string) ([]uint64, error) {
	if len(peers) == 0 {
		return nil, errors.New("zab: no peers")
	}
	seen := map[string]bool{}
	ids := make([]uint64, len(peers))
	digits := true
	used := map[uint64]bool{}
	for i, p := range peers {
		if seen[p] {
			return nil, fmt.Errorf("zab: peer %q listed twice", p)
		}
		seen[p] = true
		j := len(p)
		for j > 0 && p[j-1] >= '0' && p[j-1] <= '9' {
			j--
		}
		v, err := strconv.ParseUint(p[j:], 10, 32)
		if err != nil || v == 0 || used[v] {
			digits = false
			continue
		}
		used[v] = true
		ids[i] = v
	}
	if !digits {
		for i := range ids {
			ids[i] = uint64(i + 1)
		}
	}
	return ids, nil
}

// replay applies one persisted record.
func (n *Node) replay(raw []byte) error {
	r, err := decodeRecord(raw)
	if err != nil {
		return err
	}
	switch r.Kind {
	case 'e':
		n.acceptedEpoch, n.currentEpoch = r.AcceptedEpoch, r.CurrentEpoch
	case 'x':
		for _, t := range r.Txns {
			if !t.valid() || t.Zxid <= n.lastZxid() {
				return fmt.Errorf("bad transaction %#x after %#x", t.Zxid, n.lastZxid())
			}
			n.log = append(n.log, t)
		}
	case 't':
		n.log = n.log[:n.indexAfter(r.Zxid)]
	}
	return nil
}

// ---- log ----

func (n *Node) lastZxid() uint64 {
	if len(n.log) == 0 {
		return 0
	}
	return n.log[len(n.log)-1].Zxid
}

// indexAfter returns the number of log entries whose zxid is <= z.
func (n *Node) indexAfter(z uint64) int {
	return sort.Search(len(n.log), func(i int) bool { return n.log[i].Zxid > z })
}

// hasZxid reports whether z is in the log; 0 (the empty prefix) always is.
func (n *Node) hasZxid(z uint64) bool {
	if z == 0 {
		return true
	}
	i := n.indexAfter(z)
	return i > 0 && n.log[i-1].Zxid == z
}

func (n *Node) persistEpochs() {
	n.rd.Records = append(n.rd.Records, encodeRecord(&record{Kind: 'e', AcceptedEpoch: n.acceptedEpoch, CurrentEpoch: n.currentEpoch}))
}

func (n *Node) appendTxns(ts []txn) {
	if len(ts) == 0 {
		return
	}
	n.log = append(n.log, ts...)
	n.rd.Records = append(n.rd.Records, encodeRecord(&record{Kind: 'x', Txns: ts}))
}

// truncateAfter drops every entry after z. Committed entries are never
// truncated by the faithful protocol; if a planted bug does it anyway, the
// register is rebuilt so that it reflects the surviving log.
func (n *Node) truncateAfter(z uint64) {
	i := n.indexAfter(z)
	if i == len(n.log) {
		return
	}
	n.log = n.log[:i]
	n.rd.Records = append(n.rd.Records, encodeRecord(&record{Kind: 't', Zxid: z}))
	if n.applied > i {
		n.kv = map[string]int64{}
		n.applied = 0
		n.commit = 0
		n.commitTo(z)
	}
}

// commitTo applies every entry up to zxid z (bounded by the log) and, on
// the leader, answers the requests they came from.
func (n *Node) commitTo(z uint64) {
	for n.applied < len(n.log) && n.log[n.applied].Zxid <= z {
		t := n.log[n.applied]
		n.applied++
		res := election.Result{Value: t.Value}
		switch t.Op {
		case election.OpWrite:
			n.kv[t.Key] = t.Value
		case election.OpCAS:
			// An absent key never matches: there is no "unset" value.
			cur, ok := n.kv[t.Key]
			if ok && cur == t.From {
				n.kv[t.Key] = t.To
				res.Value = t.To
			} else {
				res.Err = election.ErrCASMismatch
				res.Value = cur
			}
		}
		n.commit = t.Zxid
		if n.l != nil {
			if id, ok := n.l.pending[t.Zxid]; ok {
				delete(n.l.pending, t.Zxid)
				res.ID = id
				n.rd.Results = append(n.rd.Results, res)
			}
		}
	}
}

// ---- quorum ----

func (n *Node) quorum() int { return election.Quorum(len(n.peers)) }

// ---- election.Protocol ----

// Step handles one message from peer from.
func (n *Node) Step(from string, payload []byte) error {
	sid, ok := n.sids[from]
	if !ok {
		return fmt.Errorf("zab: message from unknown peer %q", from)
	}
	if sid == n.sid {
		return errors.New("zab: message from myself")
	}
	m, err := decode(payload)
	if err != nil {
		return err
	}
	if m.Type == mNotification {
		n.stepNotification(sid, m)
		return nil
	}
	switch n.state {
	case stateFollowing:
		n.stepFollower(sid, m)
	case stateLeading:
		n.stepLeader(sid, m)
	}
	// A LOOKING server has no ZAB session: ZAB messages are stale or early
	// and the sender retransmits what matters.
	return nil
}

// Tick advances the local clock.
func (n *Node) Tick(now time.Time) {
	if now.Before(n.now) {
		// A clock stepped backwards: measure from the new reading, never
		// fire timeouts on a negative interval.
		n.now = now
		return
	}
	n.now = now
	switch n.state {
	case stateLooking:
		n.tickLooking()
	case stateFollowing:
		n.tickFollower()
	case stateLeading:
		n.tickLeader()
	}
}

// Propose submits a client request.
func (n *Node) Propose(req election.Request) {
	if n.state != stateLeading || n.l.phase != phaseBroadcast {
		n.rd.Results = append(n.rd.Results, election.Result{ID: req.ID, Err: election.ErrNotLeader, Leader: n.leaderName()})
		return
	}
	if len(req.Key) > MaxKeyLen || (req.Op != election.OpRead && req.Op != election.OpWrite && req.Op != election.OpCAS) {
		n.rd.Results = append(n.rd.Results, election.Result{ID: req.ID, Err: ErrInvalidRequest})
		return
	}
	n.leaderPropose(req)
}

// Ready returns and clears what has to be done.
func (n *Node) Ready() election.Ready {
	if n.l != nil {
		// Proposals are flushed here rather than on each Propose so
		// that a burst of requests travels as one message per follower.
		n.flushAppends()
	}
	rd := n.rd
	n.rd = election.Ready{}
	return rd
}

// Status describes the node.
func (n *Node) Status() election.Status {
	return election.Status{ID: n.id, Role: n.role(), Term: n.currentEpoch, Leader: n.leaderName(), Commit: n.commit}
}

func (n *Node) role() election.Role {
	switch {
	case n.state == stateFollowing:
		return election.Follower
	case n.state == stateLeading && n.l.phase == phaseBroadcast:
		return election.Leader
	}
	// A prospective leader is still LOOKING as far as clients and the
	// election-safety checker are concerned: FLE's LEADING alone proves
	// nothing until a quorum has acked NEWLEADER.
	return election.Looking
}

func (n *Node) leaderName() string {
	switch {
	case n.state == stateFollowing:
		return n.names[n.leader]
	case n.state == stateLeading && n.l.phase == phaseBroadcast:
		return n.id
	}
	return ""
}

// emitRole announces a role or epoch change.
func (n *Node) emitRole() {
	r := n.role()
	if r == n.lastRole && n.currentEpoch == n.lastTerm {
		return
	}
	n.lastRole, n.lastTerm = r, n.currentEpoch
	n.rd.Events = append(n.rd.Events, election.Event{Kind: "role", Role: r, Term: n.currentEpoch})
}

func (n *Node) send(to uint64, m *message) {
	n.rd.Messages = append(n.rd.Messages, election.Envelope{To: n.names[to], Payload: encode(m)})
}
