package zab

import "time"

// follower is the ZAB session of a FOLLOWING server with its leader
// (ZooKeeper's Learner).
type follower struct {
	phase     phase
	session   uint64    // names this session to the leader (see nextSession)
	lastHeard time.Time // last message from the leader in this session
	lastInfo  time.Time // last FOLLOWERINFO sent
	epoch     uint64    // the epoch the leader proposed (LEADERINFO), 0 before
	ackOk     bool      // whether my ACKEPOCH for epoch counted as an ack
	synced    bool      // a truncating PROPOSE of this epoch was applied: my log is a prefix of the leader's
}

// becomeFollower starts a session with leader: FOLLOWERINFO announces my
// accepted epoch, from which the leader picks the new one.
func (n *Node) becomeFollower(leader uint64) {
	n.state = stateFollowing
	n.leader = leader
	n.f = &follower{phase: phaseDiscovery, session: n.nextSession(), lastHeard: n.now}
	n.emitRole()
	n.sendFollowerInfo()
}

func (n *Node) sendFollowerInfo() {
	n.f.lastInfo = n.now
	n.send(n.leader, &message{Type: mFollowerInfo, AcceptedEpoch: n.acceptedEpoch, Session: n.f.session, Zxid: n.lastZxid()})
}

// tickFollower gives up on a silent leader: initLimit until established,
// syncLimit after.
func (n *Node) tickFollower() {
	limit := n.initLimit
	if n.f.phase == phaseBroadcast {
		limit = n.syncLimit
	}
	if n.now.Sub(n.f.lastHeard) > limit {
		n.becomeLooking()
		return
	}
	if n.f.phase == phaseDiscovery && n.now.Sub(n.f.lastInfo) >= n.tick {
		// FOLLOWERINFO may have been lost, or the leader may not have
		// finished its own election yet: keep knocking.
		n.sendFollowerInfo()
	}
}

// stepFollower handles a ZAB message; only the leader of this session is
// listened to.
func (n *Node) stepFollower(from uint64, m *message) {
	if from != n.leader {
		return
	}
	f := n.f
	if m.Type == mLeaderInfo {
		n.stepLeaderInfo(m)
		return
	}
	if f.epoch == 0 || m.Epoch != f.epoch {
		return // not (yet) part of this session
	}
	f.lastHeard = n.now
	switch m.Type {
	case mPropose:
		n.stepPropose(m)
	case mNewLeader:
		n.stepNewLeader(m)
	case mPing:
		if f.phase == phaseBroadcast && f.synced {
			n.commitTo(min(m.Commit, n.lastZxid()))
			if m.Ok {
				// UPTODATE: the leader is established; report
				// its epoch in my vote from now on.
				n.decided.Epoch = f.epoch
			}
		}
		n.send(n.leader, &message{Type: mPingAck, Epoch: f.epoch, Seq: m.Seq, Zxid: n.lastZxid()})
	}
}

// stepLeaderInfo is Learner.registerWithLeader's epoch check.
func (n *Node) stepLeaderInfo(m *message) {
	f := n.f
	e := m.Epoch
	if e == 0 {
		return // epochs proposed by a leader start at 1
	}
	if f.epoch != 0 {
		switch {
		case e == f.epoch:
			// A duplicate within this session: repeat the same answer.
			f.lastHeard = n.now
			n.sendAckEpoch(f.ackOk)
		case e > f.epoch:
			// My leader gave up and was elected again with a new
			// epoch while I waited: start a fresh session with it
			// rather than time out first.
			n.becomeFollower(n.leader)
		}
		return
	}
	switch {
	case e > n.acceptedEpoch:
		n.acceptedEpoch = e
		n.persistEpochs() // before ACKEPOCH leaves (records precede messages)
		f.ackOk = true
	case e == n.acceptedEpoch:
		// I already accepted this epoch from some leader, so I cannot
		// help a second one establish it: answer, but not as an ack
		// (ZooKeeper replies with epoch -1). Planted bug
		// zab.ackepoch-twice counts it as a fresh acceptance.
		f.ackOk = n.ackTwice
	default:
		// The leader is behind what I accepted: it cannot lead me.
		n.becomeLooking()
		return
	}
	f.epoch = e
	f.phase = phaseSync
	f.lastHeard = n.now
	n.sendAckEpoch(f.ackOk)
}

func (n *Node) sendAckEpoch(ok bool) {
	n.send(n.leader, &message{Type: mAckEpoch, Epoch: n.f.epoch, Ok: ok, CurrentEpoch: n.currentEpoch, Zxid: n.lastZxid()})
}

// stepPropose applies part of the sync stream or a broadcast proposal.
func (n *Node) stepPropose(m *message) {
	f := n.f
	if m.Trunc && !f.synced {
		if !n.hasZxid(m.Prev) {
			// The leader guessed a common point I don't have: offer my
			// last zxid below it, so that the guess only moves down and
			// truncation never drops more than the divergent suffix.
			var hint uint64
			if i := n.indexAfter(m.Prev - 1); i > 0 {
				hint = n.log[i-1].Zxid
			}
			n.send(n.leader, &message{Type: mAck, Epoch: f.epoch, Nack: true, Trunc: true, Zxid: hint})
			return
		}
		// Drop what the leader does not have after the common point
		// (TRUNC), then take its history (DIFF).
		n.truncateAfter(m.Prev)
		f.synced = true
	} else if !f.synced {
		return // the truncating start of the stream was lost; the leader resends it
	}
	// Once synced, a repeated start of the stream is a plain append: truncating
	// again could drop entries the leader already counts as mine.
	last := n.lastZxid()
	if m.Prev > last {
		// A gap (a lost or reordered message): tell the leader where I am.
		n.send(n.leader, &message{Type: mAck, Epoch: f.epoch, Nack: true, Zxid: last})
		return
	}
	// My log is a prefix of the leader's, so whatever I hold up to last
	// is the leader's too: skip it, append the rest.
	i := 0
	for i < len(m.Txns) && m.Txns[i].Zxid <= last {
		i++
	}
	n.appendTxns(append([]txn(nil), m.Txns[i:]...))
	if f.phase == phaseBroadcast {
		n.commitTo(min(m.Commit, n.lastZxid()))
	}
	n.send(n.leader, &message{Type: mAck, Epoch: f.epoch, Zxid: n.lastZxid()})
}

// stepNewLeader: I hold the leader's history, so adopt its epoch (persisted
// after the history, which the records already hold) and say so.
func (n *Node) stepNewLeader(m *message) {
	f := n.f
	if !f.synced || n.lastZxid() < m.Zxid {
		return // not synced yet; the leader resends NEWLEADER
	}
	if n.currentEpoch != f.epoch {
		n.currentEpoch = f.epoch
		n.persistEpochs()
	}
	if f.phase != phaseBroadcast {
		f.phase = phaseBroadcast
		n.emitRole()
	}
	n.commitTo(min(m.Commit, n.lastZxid()))
	n.send(n.leader, &message{Type: mAckNewLeader, Epoch: f.epoch})
}

// nextSession names a new following session: unique within this run (FLE
// rounds are not, since a server may adopt the round of those it joins) and,
// through the incarnation, across restarts.
func (n *Node) nextSession() uint64 {
	n.sessions++
	return n.incarnation + n.sessions
}
