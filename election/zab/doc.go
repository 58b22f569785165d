// Package zab is electd's ZooKeeper-style protocol: FastLeaderElection (FLE)
// to pick a prospective leader, then ZAB's discovery, synchronization and
// broadcast phases to establish an epoch and replicate a key-value register.
// Like the rest of election/, it is a pure state machine: Step, Tick and
// Propose go in, a Ready comes out, and the runner persists Records before it
// sends Messages or delivers Results.
//
// # Server ids
//
// FLE breaks ties between equally recent servers by a numeric server id
// (ZooKeeper's myid). Config.Peers holds string ids; when every one of them
// ends in decimal digits and those numbers are distinct and non-zero (n1..n5,
// zk-3, ...), the trailing number is the server id, so "n5" beats "n3" as in
// the founding scenarios. Otherwise the server id is the 1-based position in
// Peers. The rule is applied to the whole ensemble at once so that every
// server derives the same ids.
//
// # Timing
//
// ZooKeeper counts in ticks of tickTime; electd is configured with a
// heartbeat and an election timeout, mapped as follows (all on the local
// clock handed to Tick):
//
//   - tickTime = Config.Heartbeat (default 50 ms): the leader pings every
//     follower once per tick.
//   - syncLimit = Config.ElectionTimeout (default 300 ms, at least two
//     ticks): a follower that hears nothing from its established leader for
//     that long goes LOOKING, and a leader that has not heard from a quorum
//     within it steps down (Leader.java's synced-set check).
//   - initLimit = 2 × syncLimit (ZooKeeper's sample configuration has
//     initLimit=10, syncLimit=5): the time each of discovery and
//     synchronization may take before the prospective leader gives up, and
//     the time a follower waits for its leader before it is established.
//   - finalizeWait = 200 ms, ZooKeeper's default: once a quorum agrees with a
//     LOOKING server's vote it still waits this long for a better vote.
//     Notifications are re-sent after 200 ms of silence, doubling up to
//     1.6 s (ZooKeeper caps at 60 s; a shorter cap keeps tests fast).
//
// # Persistence
//
// acceptedEpoch and currentEpoch are written (as one record) before the
// ACKEPOCH and the NEWLEADER ack that depend on them; proposals are written
// before they are acknowledged, truncations before the ack that follows
// them. Everything else (FLE state, commit point, the register) is rebuilt
// after a restart: the commit point is learned again from the leader, so a
// restarted server never applies a transaction that was only logged
// (ZOOKEEPER-2845).
//
// # Transport
//
// ZooKeeper relies on TCP for FIFO, exactly-once delivery between a leader
// and each learner; electd's transports may drop, delay, duplicate and
// reorder. Every ZAB message therefore names its epoch, proposals name the
// zxid they follow, and the leader retransmits what a follower has not
// acknowledged. Duplicates of LEADERINFO within one following session are
// answered with the same ACKEPOCH: a session is one FLE decision to follow a
// given leader, so this never turns one acceptance into two.
//
// # Wire and record format
//
// Messages and records are a compact binary encoding (a version byte, the
// message type, uvarint fields, transactions with length-prefixed keys);
// see wire.go. Decoding checks every length against MaxMessageBytes,
// MaxBatch and MaxKeyLen and rejects trailing bytes, so a malformed payload
// is an error from Step and changes nothing.
//
// # Reads
//
// Reads go through the established leader, which answers once a quorum has
// answered a ping sent after the read arrived and everything it had
// proposed by then is committed (ZooKeeper's post-ZOOKEEPER-1675 sync).
//
// # Limitations
//
// There are no snapshots: the whole transaction log is kept in memory,
// replayed on restart, and sent (in bounded batches) to a follower that
// lacks it. Membership is fixed (no reconfiguration) and there are no
// observers.
//
// # Planted bugs
//
// zab.zxid-counter-only, zab.ackepoch-twice and zab.no-stepdown (see
// election/bugs) are each a single guard around the faithful path.
package zab
