package node

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/election"
)

// fakeProto is a deliberately trivial election.Protocol: the leader is
// fixed at construction, writes are applied on the leader at once and
// persisted as records, and the leader sends a heartbeat to every peer on
// each tick. It exists to test the runner, not to elect anything.
type fakeProto struct {
	mu sync.Mutex

	cfg    election.Config
	leader string
	term   uint64
	kv     map[string]int64
	rd     election.Ready

	// What the runner fed it, for assertions.
	lastTick  time.Time
	ticks     int
	received  []inbound
	stepErrs  int
	proposals int

	// Behaviour switches.
	silent    bool  // never answer proposals
	answerErr error // answer every proposal with this error
}

type fakeRecord struct {
	Term uint64 `json:"term,omitempty"`
	Key  string `json:"k,omitempty"`
	Val  int64  `json:"v,omitempty"`
}

func newFake(cfg election.Config, leader string) *fakeProto {
	f := &fakeProto{cfg: cfg, leader: leader, kv: map[string]int64{}, lastTick: cfg.Now}
	for _, r := range cfg.Records {
		var rec fakeRecord
		if err := json.Unmarshal(r, &rec); err != nil {
			panic(err)
		}
		if rec.Term > 0 {
			f.term = rec.Term
		}
		if rec.Key != "" {
			f.kv[rec.Key] = rec.Val
		}
	}
	return f
}

func (f *fakeProto) persist(rec fakeRecord) {
	b, _ := json.Marshal(rec)
	f.rd.Records = append(f.rd.Records, b)
}

func (f *fakeProto) role() election.Role {
	if f.cfg.ID == f.leader {
		return election.Leader
	}
	return election.Follower
}

// Step understands "term N" (adopt term N, as a vote request would) and
// "hb"; anything else is an error.
func (f *fakeProto) Step(from string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t uint64
	switch {
	case string(payload) == "hb":
	case len(payload) > 5 && string(payload[:5]) == "term ":
		if _, err := fmt.Sscanf(string(payload), "term %d", &t); err != nil {
			f.stepErrs++
			return err
		}
		f.term = t
		f.persist(fakeRecord{Term: t})
		f.rd.Events = append(f.rd.Events, election.Event{Kind: "role", Role: f.role(), Term: t})
	default:
		f.stepErrs++
		return fmt.Errorf("fake: unknown message %q", payload)
	}
	f.received = append(f.received, inbound{from: from, payload: append([]byte(nil), payload...)})
	return nil
}

func (f *fakeProto) Tick(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastTick = now
	f.ticks++
	if f.role() == election.Leader && f.ticks%10 == 1 {
		for _, p := range f.cfg.Peers {
			if p != f.cfg.ID {
				f.rd.Messages = append(f.rd.Messages, election.Envelope{To: p, Payload: []byte("hb")})
			}
		}
		f.rd.Events = append(f.rd.Events, election.Event{Kind: "lease", Term: f.term, LeaseUntil: now.Add(time.Second)})
	}
}

func (f *fakeProto) Propose(req election.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposals++
	if f.silent {
		return
	}
	res := election.Result{ID: req.ID}
	switch {
	case f.answerErr != nil:
		res.Err = f.answerErr
	case f.role() != election.Leader:
		res.Err = election.ErrNotLeader
		res.Leader = f.leader
	case req.Op == election.OpRead:
		res.Value, res.Exists = f.kv[req.Key]
	case req.Op == election.OpWrite:
		f.kv[req.Key] = req.Value
		f.persist(fakeRecord{Key: req.Key, Val: req.Value})
		// A write also "extends the lease", so tests can check that the
		// event is printed before the answer goes out.
		f.rd.Events = append(f.rd.Events, election.Event{Kind: "lease", Term: f.term, LeaseUntil: f.lastTick.Add(time.Duration(req.Value) * time.Millisecond)})
	case req.Op == election.OpCAS:
		if v, ok := f.kv[req.Key]; !ok || v != req.From {
			res.Err = election.ErrCASMismatch
		} else {
			f.kv[req.Key] = req.To
			f.persist(fakeRecord{Key: req.Key, Val: req.To})
		}
	}
	f.rd.Results = append(f.rd.Results, res)
}

func (f *fakeProto) Ready() election.Ready {
	f.mu.Lock()
	defer f.mu.Unlock()
	rd := f.rd
	f.rd = election.Ready{}
	return rd
}

func (f *fakeProto) Status() election.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return election.Status{ID: f.cfg.ID, Role: f.role(), Term: f.term, Leader: f.leader, Commit: uint64(len(f.kv))}
}

func (f *fakeProto) snapshot() (lastTick time.Time, received []inbound, stepErrs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastTick, append([]inbound(nil), f.received...), f.stepErrs
}

func (f *fakeProto) kvGet(k string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kv[k]
}

func (f *fakeProto) pendingSeen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.proposals > 0
}
