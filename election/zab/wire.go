package zab

import (
	"encoding/binary"
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
	Zxid  uint64
	Op    election.Op
	Key   string
	Value int64
	From  int64
	To    int64
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

// message is every message's wire form. Which fields matter depends on
// Type; the encoding (see encode) carries all of them, zero values costing
// one byte each.
type message struct {
	Type msgType

	// Notification: the vote (Leader, Zxid, PeerEpoch), the sender's
	// election round and its state.
	Leader    uint64
	PeerEpoch uint64
	Round     uint64
	State     state

	// Epoch is the ZAB epoch the message belongs to (LEADERINFO: the new
	// epoch; ACKEPOCH and later: the epoch being established or led).
	Epoch         uint64
	AcceptedEpoch uint64
	CurrentEpoch  uint64
	Session       uint64
	Zxid          uint64
	Ok            bool
	Nack          bool

	// Propose: truncate after Prev when Trunc, then append Txns, which
	// follow Prev; Commit is the leader's commit point.
	Prev   uint64
	Trunc  bool
	Txns   []txn
	Commit uint64

	// Seq numbers the leader's ping rounds, which confirm reads.
	Seq uint64
}

// wireVersion leads every message and record, so that a format change is
// an error rather than a misreading.
const wireVersion = 1

const (
	flagOk = 1 << iota
	flagNack
	flagTrunc
)

// encode writes a message: version, type, twelve uvarints, a flag byte,
// then the transactions.
func encode(m *message) []byte {
	b := make([]byte, 0, 32+len(m.Txns)*24)
	b = append(b, wireVersion, byte(m.Type))
	for _, v := range [...]uint64{m.Leader, m.PeerEpoch, m.Round, uint64(m.State), m.Epoch, m.AcceptedEpoch,
		m.CurrentEpoch, m.Session, m.Zxid, m.Prev, m.Commit, m.Seq} {
		b = binary.AppendUvarint(b, v)
	}
	var flags byte
	if m.Ok {
		flags |= flagOk
	}
	if m.Nack {
		flags |= flagNack
	}
	if m.Trunc {
		flags |= flagTrunc
	}
	b = append(b, flags)
	return appendTxns(b, m.Txns)
}

func appendTxns(b []byte, ts []txn) []byte {
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendUvarint(b, t.Zxid)
		op := byte(1)
		if t.Op == election.OpCAS {
			op = 2
		}
		b = append(b, op)
		b = binary.AppendUvarint(b, uint64(len(t.Key)))
		b = append(b, t.Key...)
		b = binary.AppendVarint(b, t.Value)
		b = binary.AppendVarint(b, t.From)
		b = binary.AppendVarint(b, t.To)
	}
	return b
}

// reader decodes with bounds checks; the first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("zab: truncated or malformed %s", what)
	}
}

func (r *reader) byte(what string) byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail(what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// txns reads at most limit transactions.
func (r *reader) txns(limit int) []txn {
	n := r.uvarint("transaction count")
	if r.err != nil {
		return nil
	}
	if n > uint64(limit) {
		r.err = fmt.Errorf("zab: %d transactions in one message, at most %d", n, limit)
		return nil
	}
	var ts []txn
	for i := uint64(0); i < n && r.err == nil; i++ {
		var t txn
		t.Zxid = r.uvarint("zxid")
		switch r.byte("op") {
		case 1:
			t.Op = election.OpWrite
		case 2:
			t.Op = election.OpCAS
		default:
			r.fail("op")
		}
		kl := r.uvarint("key length")
		if r.err == nil && (kl > MaxKeyLen || kl > uint64(len(r.b))) {
			r.fail("key")
		}
		if r.err != nil {
			return nil
		}
		t.Key = string(r.b[:kl])
		r.b = r.b[kl:]
		t.Value = r.varint("value")
		t.From = r.varint("from")
		t.To = r.varint("to")
		ts = append(ts, t)
	}
	return ts
}

// decode parses and checks a message; it never panics on any input.
func decode(b []byte) (*message, error) {
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("zab: message of %d bytes exceeds %d", len(b), MaxMessageBytes)
	}
	r := &reader{b: b}
	if v := r.byte("version"); r.err == nil && v != wireVersion {
		return nil, fmt.Errorf("zab: unknown wire version %d", v)
	}
	m := &message{Type: msgType(r.byte("type"))}
	for _, p := range [...]*uint64{&m.Leader, &m.PeerEpoch, &m.Round, nil, &m.Epoch, &m.AcceptedEpoch,
		&m.CurrentEpoch, &m.Session, &m.Zxid, &m.Prev, &m.Commit, &m.Seq} {
		v := r.uvarint("field")
		if p == nil {
			if v > uint64(stateLeading) {
				r.fail("state")
			}
			m.State = state(v)
			continue
		}
		*p = v
	}
	flags := r.byte("flags")
	m.Ok, m.Nack, m.Trunc = flags&flagOk != 0, flags&flagNack != 0, flags&flagTrunc != 0
	m.Txns = r.txns(MaxBatch)
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("zab: %d trailing bytes", len(r.b))
	}
	if m.Type == 0 || m.Type >= mTypeEnd || flags&^(flagOk|flagNack|flagTrunc) != 0 {
		return nil, fmt.Errorf("zab: unknown message type %d or flags %#x", m.Type, flags)
	}
	if m.Type == mNotification && (m.State < stateLooking || m.State > stateLeading) {
		return nil, fmt.Errorf("zab: notification with unknown state %d", m.State)
	}
	prev := m.Prev
	for _, t := range m.Txns {
		if !t.valid() || t.Zxid <= prev {
			return nil, fmt.Errorf("zab: invalid or out-of-order transaction %#x", t.Zxid)
		}
		prev = t.Zxid
	}
	return m, nil
}

// record is one write-ahead record. Kind 'e' holds both epochs, 'x'
// appended transactions, 't' a truncation of everything after Zxid.
type record struct {
	Kind          byte
	AcceptedEpoch uint64
	CurrentEpoch  uint64
	Txns          []txn
	Zxid          uint64
}

func encodeRecord(rec *record) []byte {
	b := []byte{wireVersion, rec.Kind}
	switch rec.Kind {
	case 'e':
		b = binary.AppendUvarint(b, rec.AcceptedEpoch)
		b = binary.AppendUvarint(b, rec.CurrentEpoch)
	case 'x':
		b = appendTxns(b, rec.Txns)
	case 't':
		b = binary.AppendUvarint(b, rec.Zxid)
	}
	return b
}

// maxRecordTxns bounds one record: the leader writes one transaction per
// proposal, a follower at most one message's worth.
const maxRecordTxns = MaxBatch

func decodeRecord(b []byte) (*record, error) {
	r := &reader{b: b}
	if v := r.byte("record version"); r.err == nil && v != wireVersion {
		return nil, fmt.Errorf("unknown record version %d", v)
	}
	rec := &record{Kind: r.byte("record kind")}
	switch rec.Kind {
	case 'e':
		rec.AcceptedEpoch = r.uvarint("accepted epoch")
		rec.CurrentEpoch = r.uvarint("current epoch")
	case 'x':
		rec.Txns = r.txns(maxRecordTxns)
	case 't':
		rec.Zxid = r.uvarint("zxid")
	default:
		if r.err == nil {
			return nil, fmt.Errorf("unknown record kind %q", rec.Kind)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes in record", len(r.b))
	}
	return rec, nil
}
