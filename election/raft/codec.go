package raft

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/splitbrain/splitbrain/election"
)

// Wire and record limits. Decoding rejects anything larger, so a garbage
// payload can never make the node allocate much.
const (
	maxEntriesPerMsg = 64  // entries in one append message
	maxKeyLen        = 256 // bytes in a key
	maxIDLen         = 256 // bytes in a node ID inside a record
	maxRecordEntries = 1e6 // entries in one record
)

// entryKind says what a log entry does to the state machine.
type entryKind byte

const (
	kindNoop  entryKind = iota // appended by a new leader (Raft §8)
	kindWrite                  // kv[Key] = Value
	kindCAS                    // if kv[Key] == From { kv[Key] = To }
	kindMax
)

// entry is one log entry.
type entry struct {
	Term  uint64
	Kind  entryKind
	Key   string
	Value int64 // write
	From  int64 // cas
	To    int64 // cas
}

// msgType identifies a message.
type msgType byte

const (
	msgPreVote msgType = iota + 1
	msgPreVoteResp
	msgVote
	msgVoteResp
	msgApp
	msgAppResp
	msgTypeMax
)

func (t msgType) String() string {
	switch t {
	case msgPreVote:
		return "PreVote"
	case msgPreVoteResp:
		return "PreVoteResp"
	case msgVote:
		return "Vote"
	case msgVoteResp:
		return "VoteResp"
	case msgApp:
		return "App"
	case msgAppResp:
		return "AppResp"
	}
	return fmt.Sprintf("msgType(%d)", byte(t))
}

// message is every message this protocol sends; the fields a type does not
// use are zero.
type message struct {
	Type msgType
	Term uint64
	// Index is the candidate's last index (votes), the index preceding
	// Entries (App), the last index known to match (successful AppResp) or
	// the rejected previous index (rejected AppResp).
	Index uint64
	// LogTerm is the candidate's last term (votes) or the term at Index (App).
	LogTerm uint64
	Commit  uint64 // App: the leader's commit index
	Reject  bool   // responses
	Hint    uint64 // rejected AppResp: the follower's last index
	Ctx     uint64 // App/AppResp: the leader's heartbeat round
	Entries []entry
}

// Record tags.
const (
	recHardState byte = 'H'
	recEntries   byte = 'E'
	recCommit    byte = 'C'
)

var errMalformed = errors.New("raft: malformed payload")

// reader decodes with a sticky error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errMalformed
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str(max int) string {
	n := r.uvarint()
	if r.err != nil || n > uint64(max) || n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) entries(max uint64) []entry {
	n := r.uvarint()
	if r.err != nil || n > max || n > uint64(len(r.b)) { // every entry takes >= 1 byte
		r.fail()
		return nil
	}
	if n == 0 {
		return nil
	}
	es := make([]entry, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		var e entry
		e.Term = r.uvarint()
		e.Kind = entryKind(r.byte())
		if e.Kind >= kindMax {
			r.fail()
		}
		e.Key = r.str(maxKeyLen)
		switch e.Kind {
		case kindWrite:
			e.Value = r.varint()
		case kindCAS:
			e.From = r.varint()
			e.To = r.varint()
		}
		es = append(es, e)
	}
	return es
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return r.err
}

func putEntries(b []byte, es []entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = binary.AppendUvarint(b, e.Term)
		b = append(b, byte(e.Kind))
		b = binary.AppendUvarint(b, uint64(len(e.Key)))
		b = append(b, e.Key...)
		switch e.Kind {
		case kindWrite:
			b = binary.AppendVarint(b, e.Value)
		case kindCAS:
			b = binary.AppendVarint(b, e.From)
			b = binary.AppendVarint(b, e.To)
		}
	}
	return b
}

// encode is the wire form of m.
func (m *message) encode() []byte {
	b := make([]byte, 0, 32)
	b = append(b, byte(m.Type))
	b = binary.AppendUvarint(b, m.Term)
	b = binary.AppendUvarint(b, m.Index)
	b = binary.AppendUvarint(b, m.LogTerm)
	b = binary.AppendUvarint(b, m.Commit)
	if m.Reject {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, m.Hint)
	b = binary.AppendUvarint(b, m.Ctx)
	return putEntries(b, m.Entries)
}

// decodeMessage parses and validates a wire message.
func decodeMessage(p []byte) (message, error) {
	r := &reader{b: p}
	var m message
	m.Type = msgType(r.byte())
	m.Term = r.uvarint()
	m.Index = r.uvarint()
	m.LogTerm = r.uvarint()
	m.Commit = r.uvarint()
	switch r.byte() {
	case 0:
	case 1:
		m.Reject = true
	default:
		r.fail()
	}
	m.Hint = r.uvarint()
	m.Ctx = r.uvarint()
	m.Entries = r.entries(maxEntriesPerMsg)
	if err := r.end(); err != nil {
		return message{}, err
	}
	if m.Type == 0 || m.Type >= msgTypeMax {
		return message{}, fmt.Errorf("%w: unknown type %d", errMalformed, m.Type)
	}
	if len(m.Entries) > 0 && m.Type != msgApp {
		return message{}, fmt.Errorf("%w: entries in %v", errMalformed, m.Type)
	}
	if m.Term == 0 && (m.Type == msgApp || m.Type == msgVote || m.Type == msgPreVote) {
		return message{}, fmt.Errorf("%w: %v in term 0", errMalformed, m.Type)
	}
	if m.Index > ^uint64(0)-maxEntriesPerMsg {
		return message{}, fmt.Errorf("%w: index overflow", errMalformed)
	}
	for _, e := range m.Entries {
		if e.Term > m.Term || e.Term < m.LogTerm {
			return message{}, fmt.Errorf("%w: entry term %d outside [%d,%d]", errMalformed, e.Term, m.LogTerm, m.Term)
		}
	}
	return m, nil
}

// hardStateRecord encodes currentTerm and votedFor.
func hardStateRecord(term uint64, vote string) []byte {
	b := []byte{recHardState}
	b = binary.AppendUvarint(b, term)
	b = binary.AppendUvarint(b, uint64(len(vote)))
	return append(b, vote...)
}

// entriesRecord encodes entries starting at index first; replaying it
// truncates the log after first-1 and appends them.
func entriesRecord(first uint64, es []entry) []byte {
	b := []byte{recEntries}
	b = binary.AppendUvarint(b, first)
	return putEntries(b, es)
}

// commitRecord encodes a commit index known to this node.
func commitRecord(commit uint64) []byte {
	return binary.AppendUvarint([]byte{recCommit}, commit)
}

// persisted is what replaying the records restores.
type persisted struct {
	term   uint64
	vote   string
	log    []entry // log[0] is the sentinel
	commit uint64  // a commit index known before the crash (a lower bound)
}

// replay rebuilds hard state, log and known commit index from records,
// oldest first.
func replay(recs [][]byte) (persisted, error) {
	var (
		term   uint64
		vote   string
		commit uint64
		log    = []entry{{}} // index 0: sentinel
	)
	for i, rec := range recs {
		r := &reader{b: rec}
		switch r.byte() {
		case recHardState:
			t := r.uvarint()
			v := r.str(maxIDLen)
			if err := r.end(); err != nil {
				return persisted{}, fmt.Errorf("record %d: %w", i, err)
			}
			if t < term {
				return persisted{}, fmt.Errorf("record %d: term goes back from %d to %d", i, term, t)
			}
			term, vote = t, v
		case recEntries:
			first := r.uvarint()
			es := r.entries(maxRecordEntries)
			if err := r.end(); err != nil {
				return persisted{}, fmt.Errorf("record %d: %w", i, err)
			}
			if first < 1 || first > uint64(len(log)) {
				return persisted{}, fmt.Errorf("record %d: entries at %d leave a gap after %d", i, first, len(log)-1)
			}
			log = append(log[:first], es...)
			commit = min(commit, first-1) // only with planted bugs
		case recCommit:
			c := r.uvarint()
			if err := r.end(); err != nil {
				return persisted{}, fmt.Errorf("record %d: %w", i, err)
			}
			if c >= uint64(len(log)) {
				return persisted{}, fmt.Errorf("record %d: commit %d beyond the log (%d)", i, c, len(log)-1)
			}
			commit = max(commit, c)
		default:
			return persisted{}, fmt.Errorf("record %d: %w: unknown tag", i, errMalformed)
		}
	}
	return persisted{term: term, vote: vote, log: log, commit: commit}, nil
}

// entryFor turns a client request into a log entry.
func entryFor(term uint64, req election.Request) (entry, error) {
	if len(req.Key) > maxKeyLen {
		return entry{}, fmt.Errorf("raft: key longer than %d bytes", maxKeyLen)
	}
	switch req.Op {
	case election.OpWrite:
		return entry{Term: term, Kind: kindWrite, Key: req.Key, Value: req.Value}, nil
	case election.OpCAS:
		return entry{Term: term, Kind: kindCAS, Key: req.Key, From: req.From, To: req.To}, nil
	}
	return entry{}, fmt.Errorf("raft: unknown op %q", req.Op)
}
