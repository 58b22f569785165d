package zab

// FastLeaderElection, after ZooKeeper's FastLeaderElection.lookForLeader.

// initVote is the vote a server starts a round with: itself, its last
// logged zxid and its current (established) epoch.
func (n *Node) initVote() vote {
	return vote{Leader: n.sid, Zxid: n.lastZxid(), Epoch: n.currentEpoch}
}

// better is ZooKeeper's totalOrderPredicate: is the vote for newID with
// (newEpoch, newZxid) better than the one for curID? Epoch first, then
// zxid, then server id.
func (n *Node) better(nv, cv vote) bool {
	if n.counterOnly {
		// Planted bug zab.zxid-counter-only: every epoch source is
		// ignored, so a server holding many proposals of an old epoch
		// outranks one holding a few of a newer epoch.
		nc, cc := zxidCounter(nv.Zxid), zxidCounter(cv.Zxid)
		return nc > cc || (nc == cc && nv.Leader > cv.Leader)
	}
	return nv.Epoch > cv.Epoch ||
		(nv.Epoch == cv.Epoch && (nv.Zxid > cv.Zxid ||
			(nv.Zxid == cv.Zxid && nv.Leader > cv.Leader)))
}

// becomeLooking starts a new election round, abandoning any ZAB session.
func (n *Node) becomeLooking() {
	if n.l != nil {
		n.abandonLeadership()
	}
	n.f = nil
	n.l = nil
	n.state = stateLooking
	n.leader = 0
	n.round++
	n.proposal = n.initVote()
	n.recvset = map[uint64]vote{}
	n.outofelection = map[uint64]vote{}
	n.finalizeAt = timeZero
	n.notifyEvery = finalizeWait
	n.emitRole()
	n.sendNotifications()
	n.recordOwnVote()
}

// sendNotifications sends the current proposal to every other server and
// re-arms the silence timer.
func (n *Node) sendNotifications() {
	for _, p := range n.peers {
		if p != n.sid {
			n.sendNotification(p)
		}
	}
	n.notifyAt = n.now.Add(n.notifyEvery)
}

func (n *Node) sendNotification(to uint64) {
	v := n.proposal
	st := stateLooking
	if n.state != stateLooking {
		v, st = n.decided, n.state
	}
	n.send(to, &message{Type: mNotification, Leader: v.Leader, Zxid: v.Zxid, PeerEpoch: v.Epoch, Round: n.round, State: st})
}

// recordOwnVote puts this server's own vote in recvset (ZooKeeper sends
// notifications to itself) and checks for a quorum.
func (n *Node) recordOwnVote() {
	own := n.proposal
	own.Round, own.State = n.round, stateLooking
	n.recvset[n.sid] = own
	n.checkLookingQuorum()
}

// lookingEqual is Vote.equals for LOOKING votes: same leader, zxid, round
// and epoch.
func lookingEqual(a, b vote) bool {
	return a.Leader == b.Leader && a.Zxid == b.Zxid && a.Round == b.Round && a.Epoch == b.Epoch
}

// leaderEqual is Vote.equals once a vote is decided (FOLLOWING/LEADING):
// only the leader and its epoch must agree (ZOOKEEPER-1732/1805).
func leaderEqual(a, b vote) bool { return a.Leader == b.Leader && a.Epoch == b.Epoch }

func (n *Node) count(votes map[uint64]vote, v vote, eq func(a, b vote) bool) int {
	c := 0
	for _, w := range votes {
		if eq(w, v) {
			c++
		}
	}
	return c
}

// checkLookingQuorum starts the finalize wait when a quorum agrees with the
// proposal, and cancels it when no quorum does any more.
func (n *Node) checkLookingQuorum() {
	want := n.proposal
	want.Round = n.round
	if n.count(n.recvset, want, lookingEqual) >= n.quorum() {
		if n.finalizeAt.IsZero() {
			n.finalizeAt = n.now.Add(finalizeWait)
		}
		return
	}
	n.finalizeAt = timeZero
}

// checkLeader is ZooKeeper's checkLeader: a vote for another server counts
// only if that server itself said it is LEADING, and a vote for myself only
// if it comes from my own round. This keeps servers from electing, over and
// over, a leader that has crashed.
func (n *Node) checkLeader(votes map[uint64]vote, leader, round uint64) bool {
	if leader != n.sid {
		v, ok := votes[leader]
		return ok && v.State == stateLeading
	}
	return round == n.round
}

// stepNotification handles an FLE notification.
func (n *Node) stepNotification(from uint64, m *message) {
	nv := vote{Leader: m.Leader, Zxid: m.Zxid, Epoch: m.PeerEpoch, Round: m.Round, State: m.State}
	if n.state != stateLooking {
		// A decided server tells a LOOKING one who leads, so that late
		// servers join the established ensemble.
		if m.State == stateLooking {
			n.sendNotification(from)
		}
		return
	}
	// Any notification counts as "not silent": the backoff only grows
	// while nothing arrives (ZooKeeper's recvqueue.poll timeout).
	n.notifyAt = n.now.Add(n.notifyEvery)
	if _, ok := n.names[nv.Leader]; !ok {
		return // a vote for a server outside the ensemble can never win
	}
	if m.State == stateLooking {
		switch {
		case m.Round > n.round:
			// A newer round: join it, forget the old round's votes,
			// and vote for the better of its vote and my initial one.
			n.round = m.Round
			n.recvset = map[uint64]vote{}
			if n.better(nv, n.initVote()) {
				n.proposal = vote{Leader: nv.Leader, Zxid: nv.Zxid, Epoch: nv.Epoch}
			} else {
				n.proposal = n.initVote()
			}
			n.finalizeAt = timeZero
			n.sendNotifications()
		case m.Round < n.round:
			// A lagging peer: tell it about the current round.
			n.sendNotification(from)
			return
		default:
			if n.better(nv, n.proposal) {
				n.proposal = vote{Leader: nv.Leader, Zxid: nv.Zxid, Epoch: nv.Epoch}
				n.finalizeAt = timeZero
				n.sendNotifications()
			}
		}
		n.recvset[from] = nv
		n.recordOwnVote()
		return
	}
	// From a FOLLOWING or LEADING server.
	if m.Round == n.round {
		n.recvset[from] = nv
		if n.count(n.recvset, nv, leaderEqual) >= n.quorum() && n.checkLeader(n.recvset, nv.Leader, m.Round) {
			n.decide(nv)
			return
		}
	}
	n.outofelection[from] = nv
	if n.count(n.outofelection, nv, leaderEqual) >= n.quorum() && n.checkLeader(n.outofelection, nv.Leader, m.Round) {
		n.round = m.Round
		n.decide(nv)
	}
}

// tickLooking finalizes a decision or re-sends notifications.
func (n *Node) tickLooking() {
	if !n.finalizeAt.IsZero() && !n.now.Before(n.finalizeAt) {
		n.decide(n.proposal)
		return
	}
	if !n.now.Before(n.notifyAt) {
		n.notifyEvery *= 2
		if n.notifyEvery > maxNotifyInterval {
			n.notifyEvery = maxNotifyInterval
		}
		n.sendNotifications()
	}
}

// decide ends the election: lead if the vote is mine, else follow.
func (n *Node) decide(v vote) {
	v.Round = n.round
	n.finalizeAt = timeZero
	n.recvset, n.outofelection = nil, nil
	if v.Leader == n.sid {
		v.State = stateLeading
		n.decided = v
		n.becomeLeader()
		return
	}
	v.State = stateFollowing
	n.decided = v
	n.becomeFollower(v.Leader)
}
