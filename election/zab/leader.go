package zab

import (
	"sort"
	"time"

	"github.com/splitbrain/splitbrain/election"
)

// window bounds the transactions in flight to one follower, so that syncing
// a long history does not flood the network.
const window = 4 * MaxBatch

// leader is a LEADING server's ZAB state (ZooKeeper's Leader plus one
// LearnerHandler per follower).
type leader struct {
	phase      phase
	phaseStart time.Time // each of discovery and synchronization gets initLimit
	epoch      uint64    // the new epoch; 0 until a quorum of FOLLOWERINFO fixed it

	infos  map[uint64]uint64 // acceptedEpoch reported in FOLLOWERINFO (mine included)
	ackers map[uint64]bool   // counted ACKEPOCHs (mine included)
	nlAcks map[uint64]bool   // NEWLEADER acks (mine included)
	peers  map[uint64]*peer

	sumEpoch, sumZxid uint64 // my state summary, to spot a follower ahead of me
	newLeaderZxid     uint64 // my last zxid when synchronization began

	pending  map[uint64]uint64 // zxid -> request ID of a write or cas
	reads    []pendingRead
	readSeq  uint64
	lastPing time.Time
}

// peer is the leader's view of one follower's session.
type peer struct {
	session   uint64
	phase     phase // discovery: FOLLOWERINFO seen; sync: ACKEPOCH seen; broadcast: NEWLEADER acked
	lastHeard time.Time

	sumEpoch, sumZxid uint64 // from ACKEPOCH

	truncPrev  uint64 // where the sync stream starts
	truncAcked bool   // the follower has applied the truncating start of the stream
	next       int    // index in my log of the next transaction to send
	match      uint64 // the follower holds my log up to here
	matchSeen  uint64 // match at the previous ping, to spot a stalled stream
	ackSeq     uint64 // highest ping round acknowledged
}

type pendingRead struct {
	id   uint64
	key  string
	seq  uint64
	zxid uint64
}

// becomeLeader starts discovery as prospective leader.
func (n *Node) becomeLeader() {
	n.state = stateLeading
	n.leader = n.sid
	n.l = &leader{
		phase:      phaseDiscovery,
		phaseStart: n.now,
		infos:      map[uint64]uint64{n.sid: n.acceptedEpoch},
		ackers:     map[uint64]bool{},
		nlAcks:     map[uint64]bool{},
		peers:      map[uint64]*peer{},
		pending:    map[uint64]uint64{},
	}
	n.emitRole()
	n.maybeDecideEpoch()
}

// maybeDecideEpoch is getEpochToPropose: once a quorum (me included) has
// reported its accepted epoch, the new epoch is one more than the largest.
func (n *Node) maybeDecideEpoch() {
	l := n.l
	if l.epoch != 0 || len(l.infos) < n.quorum() {
		return
	}
	var e uint64
	for _, a := range l.infos {
		e = max(e, a)
	}
	e++
	l.epoch = e
	n.acceptedEpoch = e
	n.persistEpochs()
	l.sumEpoch, l.sumZxid = n.currentEpoch, n.lastZxid()
	l.ackers[n.sid] = true
	for _, sid := range n.peers {
		if p := l.peers[sid]; p != nil && p.phase == phaseDiscovery {
			n.send(sid, &message{Type: mLeaderInfo, Epoch: e})
		}
	}
	n.checkEpochAcks()
}

// moreRecent is StateSummary.isMoreRecentThan.
func (n *Node) moreRecent(aEpoch, aZxid, bEpoch, bZxid uint64) bool {
	if n.counterOnly {
		// Planted bug zab.zxid-counter-only: discovery too compares
		// zxid counters and ignores epochs.
		return zxidCounter(aZxid) > zxidCounter(bZxid)
	}
	return aEpoch > bEpoch || (aEpoch == bEpoch && aZxid > bZxid)
}

// checkEpochAcks is waitForEpochAck: a quorum accepted the epoch, so adopt
// it and synchronize everyone who answered.
func (n *Node) checkEpochAcks() {
	l := n.l
	if l.phase != phaseDiscovery || len(l.ackers) < n.quorum() {
		return
	}
	l.phase = phaseSync
	l.phaseStart = n.now
	n.currentEpoch = l.epoch
	n.persistEpochs()
	l.newLeaderZxid = n.lastZxid()
	l.nlAcks[n.sid] = true
	n.emitRole()
	for _, sid := range n.peers {
		if p := l.peers[sid]; p != nil && p.phase == phaseSync {
			n.startSync(sid, p)
		}
	}
	n.checkNewLeaderAcks()
}

// checkNewLeaderAcks is waitForNewLeaderAck: with a quorum synced the epoch
// is established, my whole history is committed, and I may serve.
func (n *Node) checkNewLeaderAcks() {
	l := n.l
	if l.phase != phaseSync || len(l.nlAcks) < n.quorum() {
		return
	}
	l.phase = phaseBroadcast
	n.commitTo(n.lastZxid())
	// From now on tell LOOKING servers the new epoch, as established
	// followers will once they hear so (ZOOKEEPER-1732: all members must
	// report the same vote to servers that join late).
	n.decided.Epoch = l.epoch
	n.emitRole()
	n.ping()
}

// startSync begins the sync stream to a follower: from the last zxid we
// share (DIFF), truncating what it has beyond that (TRUNC).
func (n *Node) startSync(sid uint64, p *peer) {
	last := n.lastZxid()
	var prev uint64
	switch {
	case n.hasZxid(p.sumZxid):
		prev = p.sumZxid
	case p.sumZxid > last:
		prev = last
	default:
		// The follower's last zxid is not mine: it holds proposals
		// of an abandoned epoch. Start from my last zxid below it; if
		// it lacks even that, it answers with a lower hint and we
		// come back here (ZOOKEEPER-1154: TRUNC what I lack, never
		// DIFF on top of it).
		if i := n.indexAfter(p.sumZxid); i > 0 {
			prev = n.log[i-1].Zxid
		}
	}
	p.truncPrev = prev
	p.truncAcked = false
	p.match = 0
	n.sendTrunc(sid, p)
}

func (n *Node) sendTrunc(sid uint64, p *peer) {
	p.next = n.indexAfter(p.truncPrev)
	end := min(p.next+MaxBatch, len(n.log))
	batch := append([]txn(nil), n.log[p.next:end]...)
	p.next = end
	n.send(sid, &message{Type: mPropose, Epoch: n.l.epoch, Prev: p.truncPrev, Trunc: true, Txns: batch, Commit: n.commit})
}

func (n *Node) sendAppend(sid uint64, p *peer) {
	var prev uint64
	if p.next > 0 {
		prev = n.log[p.next-1].Zxid
	}
	end := min(p.next+MaxBatch, len(n.log))
	batch := append([]txn(nil), n.log[p.next:end]...)
	p.next = end
	n.send(sid, &message{Type: mPropose, Epoch: n.l.epoch, Prev: prev, Txns: batch, Commit: n.commit})
}

// flushAppends streams what each synced follower lacks, within the window.
func (n *Node) flushAppends() {
	l := n.l
	if l.phase == phaseDiscovery {
		return
	}
	for _, sid := range n.peers {
		p := l.peers[sid]
		if p == nil || p.phase == phaseDiscovery || !p.truncAcked {
			continue
		}
		for p.next < len(n.log) && p.next-n.indexAfter(p.match) < window {
			n.sendAppend(sid, p)
		}
	}
}

// ping sends a heartbeat to every follower in a session; it carries the
// commit point and the current read round.
func (n *Node) ping() {
	l := n.l
	l.lastPing = n.now
	for _, sid := range n.peers {
		if p := l.peers[sid]; p != nil && p.phase != phaseDiscovery {
			// Ok marks an established leader: ZooKeeper's UPTODATE.
			n.send(sid, &message{Type: mPing, Epoch: l.epoch, Commit: n.commit, Seq: l.readSeq, Ok: l.phase == phaseBroadcast})
		}
	}
}

// tickLeader gives up an election that takes too long, steps down without
// a synced quorum, and pings.
func (n *Node) tickLeader() {
	l := n.l
	switch l.phase {
	case phaseDiscovery, phaseSync:
		if n.now.Sub(l.phaseStart) > n.initLimit {
			n.becomeLooking()
			return
		}
	case phaseBroadcast:
		// Leader.java: without a quorum heard from within syncLimit
		// the others may be electing someone else, so step down and
		// let clients go there. (Reads stay safe regardless: each
		// needs its own quorum round.) Planted bug zab.no-stepdown
		// skips this check, and the quorum round of reads with it.
		if !n.noStepdown {
			alive := 1
			for _, p := range l.peers {
				if p.phase == phaseBroadcast && n.now.Sub(p.lastHeard) <= n.syncLimit {
					alive++
				}
			}
			if alive < n.quorum() {
				n.becomeLooking()
				return
			}
		}
	}
	if l.phase == phaseDiscovery || n.now.Sub(l.lastPing) < n.tick {
		return
	}
	for _, sid := range n.peers {
		p := l.peers[sid]
		if p == nil || p.phase == phaseDiscovery {
			continue
		}
		switch {
		case !p.truncAcked:
			n.sendTrunc(sid, p) // the start of the stream was lost
		case p.match < n.lastZxid() && p.match == p.matchSeen:
			// No progress for a whole tick: something was lost;
			// resend from what the follower holds.
			p.next = n.indexAfter(p.match)
		}
		p.matchSeen = p.match
		if p.phase == phaseSync && p.truncAcked && p.match >= l.newLeaderZxid {
			n.sendNewLeader(sid)
		}
	}
	n.ping()
}

func (n *Node) sendNewLeader(sid uint64) {
	n.send(sid, &message{Type: mNewLeader, Epoch: n.l.epoch, Zxid: n.l.newLeaderZxid, Commit: n.commit})
}

// stepLeader handles a follower's ZAB message.
func (n *Node) stepLeader(from uint64, m *message) {
	l := n.l
	p := l.peers[from]
	if m.Type == mFollowerInfo {
		if p != nil && p.session == m.Session {
			p.lastHeard = n.now
			if p.phase == phaseDiscovery && l.epoch != 0 {
				n.send(from, &message{Type: mLeaderInfo, Epoch: l.epoch})
			}
			return
		}
		// A new session: the follower (re)started following me.
		p = &peer{session: m.Session, phase: phaseDiscovery, lastHeard: n.now}
		l.peers[from] = p
		if l.epoch == 0 {
			l.infos[from] = m.AcceptedEpoch
			n.maybeDecideEpoch()
			return
		}
		n.send(from, &message{Type: mLeaderInfo, Epoch: l.epoch})
		return
	}
	if p == nil || l.epoch == 0 || m.Epoch != l.epoch {
		return
	}
	p.lastHeard = n.now
	switch m.Type {
	case mAckEpoch:
		if p.phase != phaseDiscovery {
			return // duplicate
		}
		p.phase = phaseSync
		p.sumEpoch, p.sumZxid = m.CurrentEpoch, m.Zxid
		if l.phase != phaseDiscovery {
			// The epoch is already agreed: just bring it up to date.
			n.startSync(from, p)
			return
		}
		if !m.Ok {
			// It accepted this epoch before, from someone else: it
			// cannot count, but it will be synced once the epoch
			// is established with others.
			return
		}
		if n.moreRecent(p.sumEpoch, p.sumZxid, l.sumEpoch, l.sumZxid) {
			// "Follower is ahead of the leader": FLE picked the
			// wrong server; elect again.
			n.becomeLooking()
			return
		}
		l.ackers[from] = true
		n.checkEpochAcks()
	case mAck:
		if p.phase == phaseDiscovery {
			return
		}
		if m.Nack {
			if m.Trunc {
				// It lacks the common point I guessed: guess again
				// from its hint, which is strictly lower.
				if !p.truncAcked && m.Zxid < p.truncPrev {
					p.sumZxid = m.Zxid
					n.startSync(from, p)
				}
				return
			}
			if p.truncAcked {
				p.match = max(p.match, m.Zxid)
				p.next = n.indexAfter(m.Zxid)
			}
			return
		}
		p.truncAcked = true
		p.match = max(p.match, m.Zxid)
		if p.next < n.indexAfter(p.match) {
			p.next = n.indexAfter(p.match)
		}
		if p.phase == phaseSync && l.phase != phaseDiscovery && p.match >= l.newLeaderZxid {
			n.sendNewLeader(from)
		}
		n.maybeCommit()
	case mAckNewLeader:
		if p.phase != phaseSync {
			return
		}
		p.phase = phaseBroadcast
		l.nlAcks[from] = true
		n.checkNewLeaderAcks()
		n.maybeCommit()
	case mPingAck:
		p.ackSeq = max(p.ackSeq, m.Seq)
		if p.truncAcked && m.Zxid > p.match && m.Zxid <= n.lastZxid() {
			p.match = m.Zxid
		}
		n.maybeCommit()
		n.serveReads()
	}
}

// maybeCommit commits up to the highest zxid a quorum of established
// servers holds. Followers still synchronizing do not count: until they
// persist the new epoch, an election could prefer a server without the
// transaction over them (ZOOKEEPER-4643).
func (n *Node) maybeCommit() {
	l := n.l
	if l.phase != phaseBroadcast {
		return
	}
	matches := []uint64{n.lastZxid()}
	for _, p := range l.peers {
		if p.phase == phaseBroadcast && p.truncAcked {
			matches = append(matches, p.match)
		}
	}
	q := n.quorum()
	if len(matches) < q {
		return
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i] > matches[j] })
	if c := matches[q-1]; c > n.commit {
		n.commitTo(c)
	}
	n.serveReads()
}

// serveReads answers the reads whose ping round a quorum confirmed and
// whose preceding proposals are committed.
func (n *Node) serveReads() {
	l := n.l
	for len(l.reads) > 0 {
		r := l.reads[0]
		acks := 1
		for _, p := range l.peers {
			if p.phase == phaseBroadcast && p.ackSeq >= r.seq {
				acks++
			}
		}
		if acks < n.quorum() || n.commit < r.zxid {
			return
		}
		l.reads = l.reads[1:]
		v, ok := n.kv[r.key]
		n.rd.Results = append(n.rd.Results, election.Result{ID: r.id, Value: v, Exists: ok})
	}
}

// leaderPropose handles a client request at the established leader.
func (n *Node) leaderPropose(req election.Request) {
	l := n.l
	if req.Op == election.OpRead {
		if n.noStepdown {
			// Planted bug zab.no-stepdown: the leader trusts that it
			// still leads and answers from its own state.
			v, ok := n.kv[req.Key]
			n.rd.Results = append(n.rd.Results, election.Result{ID: req.ID, Value: v, Exists: ok})
			return
		}
		l.readSeq++
		l.reads = append(l.reads, pendingRead{id: req.ID, key: req.Key, seq: l.readSeq, zxid: n.lastZxid()})
		n.ping()
		n.serveReads()
		return
	}
	last := n.lastZxid()
	z := makeZxid(l.epoch, 1)
	if zxidEpoch(last) == l.epoch {
		if zxidCounter(last) == 0xffffffff {
			// The counter would roll into the epoch bits
			// (ZOOKEEPER-1277): force a new epoch instead.
			n.rd.Results = append(n.rd.Results, election.Result{ID: req.ID, Err: election.ErrNotLeader})
			n.becomeLooking()
			return
		}
		z = last + 1
	}
	n.appendTxns([]txn{{Zxid: z, Op: req.Op, Key: req.Key, Value: req.Value, From: req.From, To: req.To}})
	l.pending[z] = req.ID
	n.maybeCommit()
}

// abandonLeadership answers every pending request: its fate is unknown.
func (n *Node) abandonLeadership() {
	l := n.l
	zs := make([]uint64, 0, len(l.pending))
	for z := range l.pending {
		zs = append(zs, z)
	}
	sort.Slice(zs, func(i, j int) bool { return zs[i] < zs[j] })
	for _, z := range zs {
		n.rd.Results = append(n.rd.Results, election.Result{ID: l.pending[z], Err: election.ErrLostLeadership})
	}
	for _, r := range l.reads {
		n.rd.Results = append(n.rd.Results, election.Result{ID: r.id, Err: election.ErrLostLeadership})
	}
	l.pending = map[uint64]uint64{}
	l.reads = nil
}
