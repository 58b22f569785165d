package zab

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/splitbrain/splitbrain/election"
)

// Size bounds. A message never carries more than MaxBatch transactions and
// a key is at most MaxKeyLen bytes, so every message the protocol produces
// stays well under MaxMessageBytes; anything bigger is rejected unread.
const (
	MaxMessageBytes = 1 << 20
	MaxBatch        = 256
	MaxKeyLen       = 1024
)

// ErrInvalidRequest answers a Propose whose operation or key is unusable.
var ErrInvalidRequest = errors.New("zab: invalid request")

// zxid helpers: the high 32 bits are the epoch, the low 32 bits a counter
// within the epoch.
func zxidEpoch(z uint64) uint64   { return z >> 32 }
func zxidCounter(z uint64) uint64 { return z & 0xffffffff }
func makeZxid(epoch, counter uint64) uint64 {
	return epoch<<32 | counter&0xffffffff
}

// txn is one replicated operation on the register.
type txn struct {
	Zxid  uint64      `json:"z"`
	Op    election.Op `json:"o"`
	Key   string      `json:"k"`
	Value int64       `json:"v,omitempty"`
	From  int64       `json:"f,omitempty"`
	To    int64       `json:"t,omitempty"`
}

func (t txn) valid() bool {
	return (t.Op == election.OpWrite || t.Op == election.OpCAS) && len(t.Key) <= MaxKeyLen && t.Zxid != 0
}

// msgType tells the messages apart on the wire.
type msgType uint8

const (
	mNotification msgType = iota + 1 // FLE vote
	mFollowerInfo                    // follower -> leader: my acceptedEpoch
	mLeaderInfo                      // leader -> follower: the new epoch
	mAckEpoch                        // follower -> leader: epoch accepted (Ok) or not, with my state summary
	mPropose                         // leader -> follower: sync stream and broadcast proposals
	mAck                             // follower -> leader: my last zxid (or Nack)
	mNewLeader                       // leader -> follower: you are synced up to Zxid, adopt Epoch
	mAckNewLeader                    // follower -> leader: currentEpoch persisted
	mPing                            // leader -> follower: heartbeat, commit point, read round
	mPingAck                         // follower -> leader
	mTypeEnd
)

// message is every message's wire form: a flat JSON object whose fields
// depend on Type. Unused fields are omitted.
type message struct {
	Type msgType `json:"y"`

	// Notification: the vote (Leader, Zxid, PeerEpoch), the sender's
	// election round and its state.
	Leader    uint64 `json:"l,omitempty"`
	PeerEpoch uint64 `json:"pe,omitempty"`
	Round     uint64 `json:"r,omitempty"`
	State     state  `json:"s,omitempty"`

	// Epoch is the ZAB epoch the message belongs to (LEADERINFO: the new
	// epoch; ACKEPOCH and later: the epoch being established or led).
	Epoch         uint64 `json:"e,omitempty"`
	AcceptedEpoch uint64 `json:"ae,omitempty"`
	CurrentEpoch  uint64 `json:"ce,omitempty"`
	Session       uint64 `json:"ss,omitempty"`
	Zxid          uint64 `json:"z,omitempty"`
	Ok            bool   `json:"ok,omitempty"`
	Nack          bool   `json:"n,omitempty"`

	// Propose: truncate after Prev when Trunc, then append Txns, which
	// follow Prev; Commit is the leader's commit point.
	Prev   uint64 `json:"p,omitempty"`
	Trunc  bool   `json:"tr,omitempty"`
	Txns   []txn  `json:"x,omitempty"`
	Commit uint64 `json:"c,omitempty"`

	// Seq numbers the leader's ping rounds, which confirm reads.
	Seq uint64 `json:"q,omitempty"`
}

func encode(m *message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Only plain integers, strings and bools are marshalled.
		panic(fmt.Sprintf("zab: encoding message: %v", err))
	}
	return b
}

// decode parses and checks a message; it never panics on any input.
func decode(b []byte) (*message, error) {
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("zab: message of %d bytes exceeds %d", len(b), MaxMessageBytes)
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("zab: malformed message: %w", err)
	}
	if m.Type == 0 || m.Type >= mTypeEnd {
		return nil, fmt.Errorf("zab: unknown message type %d", m.Type)
	}
	if m.Type == mNotification && (m.State < stateLooking || m.State > stateLeading) {
		return nil, fmt.Errorf("zab: notification with unknown state %d", m.State)
	}
	if len(m.Txns) > MaxBatch {
		return nil, fmt.Errorf("zab: %d transactions in one message, at most %d", len(m.Txns), MaxBatch)
	}
	prev := m.Prev
	for _, t := range m.Txns {
		if !t.valid() || t.Zxid <= prev {
			return nil, fmt.Errorf("zab: invalid or out-of-order transaction %#x", t.Zxid)
		}
		prev = t.Zxid
	}
	return &m, nil
}

// record is one write-ahead record. Kind "e" holds both epochs, "x"
// appended transactions, "t" a truncation of everything after Zxid.
type record struct {
	Kind          string `json:"k"`
	AcceptedEpoch uint64 `json:"a,omitempty"`
	CurrentEpoch  uint64 `json:"c,omitempty"`
	Txns          []txn  `json:"x,omitempty"`
	Zxid          uint64 `json:"z,omitempty"`
}

func encodeRecord(r *record) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("zab: encoding record: %v", err))
	}
	return b
}
