package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/workloads"
)

// maxAnswer caps what is read of an AdminServer answer.
const maxAnswer = 64 << 10

// ZabState is the AdminServer's answer to /commands/zabstate, as far as
// the probe reads it. A server that is not serving (electing, or not yet
// synced with a leader) answers with Error set and nothing else.
type ZabState struct {
	MyID     int64  `json:"myid"`
	IsLeader bool   `json:"is_leader"`
	LastZxid string `json:"last_zxid"` // "0x100000003"
	ZabEpoch int64  `json:"zab_epoch"` // LastZxid >> 32
	ZabState string `json:"zabstate"`  // "election", "discovery", "synchronization", "broadcast"
	Error    string `json:"error"`
}

// LeaderInfo is the AdminServer's answer to /commands/leader.
type LeaderInfo struct {
	IsLeader bool   `json:"is_leader"`
	LeaderID int64  `json:"leader_id"`
	LeaderIP string `json:"leader_ip"`
	Error    string `json:"error"`
}

// ParseZabState reads a /commands/zabstate answer. It rejects anything
// that is not one JSON object, and a zxid that is not hex.
func ParseZabState(b []byte) (ZabState, error) {
	var z ZabState
	if err := workloads.StrictJSON(b, &z); err != nil {
		return ZabState{}, fmt.Errorf("zabstate: %w", err)
	}
	if z.Error != "" {
		return z, nil
	}
	if z.LastZxid != "" {
		zx, err := ParseZxid(z.LastZxid)
		if err != nil {
			return ZabState{}, fmt.Errorf("zabstate: %w", err)
		}
		if zx>>32 != z.ZabEpoch {
			return ZabState{}, fmt.Errorf("zabstate: zab_epoch %d is not last_zxid %s >> 32", z.ZabEpoch, z.LastZxid)
		}
	}
	if z.ZabEpoch < 0 {
		return ZabState{}, fmt.Errorf("zabstate: negative epoch %d", z.ZabEpoch)
	}
	return z, nil
}

// ParseLeader reads a /commands/leader answer.
func ParseLeader(b []byte) (LeaderInfo, error) {
	var l LeaderInfo
	if err := workloads.StrictJSON(b, &l); err != nil {
		return LeaderInfo{}, fmt.Errorf("leader: %w", err)
	}
	return l, nil
}

// ParseZxid reads a zxid as ZooKeeper prints it ("0x1a00000003").
func ParseZxid(s string) (int64, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || h == "" || len(h) > 16 {
		return 0, fmt.Errorf("zxid %q: not 0x and 1 to 16 hex digits", s)
	}
	u, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("zxid %q: %w", s, err)
	}
	return int64(u), nil
}

// ParseSrvr reads the srvr four-letter word's answer: the mode (leader,
// follower, standalone; "" when the server is not serving) and the zxid.
func ParseSrvr(b []byte) (mode string, zxid int64, err error) {
	if bytes.Contains(b, []byte("not currently serving")) {
		return "", 0, nil
	}
	var haveMode, haveZxid bool
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "Mode":
			mode, haveMode = v, true
		case "Zxid":
			if zxid, err = ParseZxid(v); err != nil {
				return "", 0, fmt.Errorf("srvr: %w", err)
			}
			haveZxid = true
		}
	}
	if !haveMode || !haveZxid {
		return "", 0, errors.New("srvr: no Mode or Zxid line")
	}
	return mode, zxid, nil
}

// Epochs remembers, for an ensemble, the epoch each server last reported
// while leading. A follower's own zxid says nothing about its epoch until
// the epoch's first transaction (and a truncation can take it back to an
// older epoch), but its leader's zxid is exact from the moment it serves:
// the leader sets it to epoch<<32 before the AdminServer sees it as
// leader. So a follower's epoch is taken from its leader. Safe for
// concurrent use; share one among the probes of an ensemble.
type Epochs struct {
	mu       sync.Mutex
	byLeader map[int64]int64 // server id -> epoch it last led in
	byNode   map[int64]int64 // server id -> highest epoch reported for it
}

// NewEpochs returns an empty book.
func NewEpochs() *Epochs {
	return &Epochs{byLeader: map[int64]int64{}, byNode: map[int64]int64{}}
}

// leading records that server id leads in epoch.
func (e *Epochs) leading(id, epoch int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byLeader[id] = epoch
	e.byNode[id] = max(e.byNode[id], epoch)
}

// notLeading returns the epoch to report for server id, which is not
// leading: the highest of what it was reported in before, its own zxid's
// epoch and, when it follows leader, that leader's epoch. It never
// decreases: a node that is not leading is judged by nothing but its
// leader's terms, and the node's true epoch (its currentEpoch file) never
// decreases either.
func (e *Epochs) notLeading(id, own, leader int64) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := max(e.byNode[id], own)
	if leader > 0 {
		t = max(t, e.byLeader[leader])
	}
	e.byNode[id] = t
	return t
}

// nodeID is the node id of ZooKeeper server id (the inverse of MyID).
func nodeID(id int64) string {
	if id <= 0 {
		return ""
	}
	return "n" + strconv.FormatInt(id, 10)
}

// adminGet fetches an AdminServer command's answer.
func adminGet(ctx context.Context, hc *http.Client, admin, command string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/commands/"+command, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", command, err)
	}
	if len(b) > maxAnswer {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", command, maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d: %.100s", command, resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}

// probe asks one server's AdminServer who it is and whom it follows.
//
//   - leader: it is the leader and its zab state is broadcast (it has a
//     quorum synced and serves); its epoch is its zxid's;
//   - follower: not the leader, broadcast; leader is the server it names;
//   - looking: anything else (electing, discovering, syncing, or "not
//     currently serving").
func probe(ctx context.Context, hc *http.Client, node, admin string, book *Epochs) (workloads.Status, error) {
	myID, err := MyID(node)
	if err != nil {
		return workloads.Status{}, err
	}
	b, err := adminGet(ctx, hc, admin, "zabstate")
	if err != nil {
		return workloads.Status{}, err
	}
	z, err := ParseZabState(b)
	if err != nil {
		return workloads.Status{}, err
	}
	st := workloads.Status{ID: node, Role: rundir.RoleLooking}
	if z.Error == "" && z.MyID != 0 && z.MyID != myID {
		return workloads.Status{}, fmt.Errorf("zabstate: %s answers as server %d", node, z.MyID)
	}
	if z.Error == "" && z.LastZxid != "" {
		st.Commit, _ = ParseZxid(z.LastZxid)
	}
	switch {
	case z.Error == "" && z.ZabState == "broadcast" && z.IsLeader:
		st.Role, st.Leader, st.Term = rundir.RoleLeader, node, z.ZabEpoch
		book.leading(myID, z.ZabEpoch)
		return st, nil
	case z.Error == "" && z.ZabState == "broadcast":
		lb, err := adminGet(ctx, hc, admin, "leader")
		if err != nil {
			return workloads.Status{}, err
		}
		l, err := ParseLeader(lb)
		if err != nil {
			return workloads.Status{}, err
		}
		if l.Error == "" && !l.IsLeader && l.LeaderID > 0 {
			st.Role, st.Leader = rundir.RoleFollower, nodeID(l.LeaderID)
			st.Term = book.notLeading(myID, z.ZabEpoch, l.LeaderID)
			return st, nil
		}
	}
	st.Term = book.notLeading(myID, max(z.ZabEpoch, 0), 0)
	return st, nil
}
