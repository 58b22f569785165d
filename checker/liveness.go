package checker

import (
	"fmt"
	"sort"
	"time"

	"github.com/splitbrain/splitbrain/history"
)

// Window is a stretch of the run with no working leader.
type Window struct {
	From     int64 `json:"from"`
	To       int64 `json:"to"`
	Duration int64 `json:"duration_ns"`
	// Open is true when the run ended with no leader.
	Open bool `json:"open,omitempty"`
}

// LivenessDetails is the liveness checker's evidence.
type LivenessDetails struct {
	HealedAt int64    `json:"healed_at"` // time of the last nemesis entry; 0 without faults
	Bound    int64    `json:"bound_ns"`
	LeaderAt int64    `json:"leader_at"` // first time after HealedAt with a leader; -1 if none
	Leader   string   `json:"leader,omitempty"`
	Windows  []Window `json:"windows"`
	// Longest is the longest leaderless window, for the summary.
	Longest int64 `json:"longest_ns"`
}

// Liveness checks that a leader is reported within bound of the last fault
// healing (the last nemesis entry), and lists every leaderless window.
//
// A node counts as leader from its report of role leader until it reports
// another role, is killed, or another node reports a higher term, and not
// while it is paused.
// That keeps a leader elected before the heal, which need not say anything
// new, while a dead or frozen one does not count.
func Liveness(ops []history.Op, events []history.Event, bound time.Duration) Result {
	r := Result{Name: "liveness"}
	tl := newLeaderTimeline(ops, events)
	if tl.roleEvents == 0 {
		r.Verdict, r.Summary = Unknown, "no role events recorded: nothing to judge"
		return r
	}
	d := LivenessDetails{HealedAt: tl.lastFault, Bound: int64(bound), LeaderAt: -1, Windows: tl.windows()}
	for _, w := range d.Windows {
		d.Longest = max(d.Longest, w.Duration)
	}
	at, leader := tl.leaderAfter(tl.lastFault)
	d.LeaderAt, d.Leader = at, leader
	r.Details = d
	switch {
	case at >= 0 && at-tl.lastFault <= int64(bound):
		r.Verdict = Valid
		r.Summary = fmt.Sprintf("%s led %.2fs after the last fault healed; %d leaderless window(s), longest %.2fs",
			leader, float64(at-tl.lastFault)/1e9, len(d.Windows), float64(d.Longest)/1e9)
	case at >= 0:
		r.Verdict = Invalid
		r.Summary = fmt.Sprintf("no leader until %.2fs after the last fault healed (bound %s)", float64(at-tl.lastFault)/1e9, bound)
	case tl.end-tl.lastFault < int64(bound):
		r.Verdict = Unknown
		r.Summary = fmt.Sprintf("no leader yet, but the run ended %.2fs after the last fault healed, before the %s bound", float64(tl.end-tl.lastFault)/1e9, bound)
	default:
		r.Verdict = Invalid
		r.Summary = fmt.Sprintf("no leader within %s of the last fault healing at %s", bound, formatTime(tl.lastFault))
	}
	return r
}

// leaderTimeline replays role reports and the nemesis's kills and pauses.
type leaderTimeline struct {
	changes    []change
	roleEvents int
	lastFault  int64
	end        int64
}

type change struct {
	time  int64
	node  string
	kind  int // roleChange, down, up
	role  string
	term  int64
	order int // ties keep recording order
}

const (
	roleChange = iota
	killed     // its claims are gone with the process
	paused     // its claims stop counting until it resumes
	resumed
)

func newLeaderTimeline(ops []history.Op, events []history.Event) *leaderTimeline {
	tl := &leaderTimeline{}
	for _, ev := range events {
		tl.end = max(tl.end, ev.Time)
		if ev.Event != history.EventRole {
			continue
		}
		tl.roleEvents++
		tl.changes = append(tl.changes, change{time: ev.Time, node: ev.Node, kind: roleChange, role: ev.Role, term: ev.Term})
	}
	for _, op := range ops {
		tl.end = max(tl.end, op.Time)
		if op.Process != history.Nemesis {
			continue
		}
		tl.lastFault = max(tl.lastFault, op.Time)
		kind := -1
		switch op.F {
		case "kill":
			kind = killed
		case "pause":
			kind = paused
		case "resume":
			kind = resumed
		}
		if kind < 0 {
			continue
		}
		for _, n := range op.Targets() {
			tl.changes = append(tl.changes, change{time: op.Time, node: n, kind: kind})
		}
	}
	for i := range tl.changes {
		tl.changes[i].order = i
	}
	sort.SliceStable(tl.changes, func(i, j int) bool { return tl.changes[i].time < tl.changes[j].time })
	return tl
}

type nodeState struct {
	role string
	term int64
	down bool
}

// replay calls visit after each batch of changes at one instant with the
// leader at that instant ("" for none).
func (tl *leaderTimeline) replay(visit func(t int64, leader string)) {
	nodes := map[string]*nodeState{}
	for i := 0; i < len(tl.changes); {
		t := tl.changes[i].time
		for ; i < len(tl.changes) && tl.changes[i].time == t; i++ {
			c := tl.changes[i]
			s := nodes[c.node]
			if s == nil {
				s = &nodeState{}
				nodes[c.node] = s
			}
			switch c.kind {
			case roleChange:
				s.role, s.term = c.role, c.term
				s.down = false // a node that reports is running
			case killed:
				// A restarted node claims nothing until it reports again;
				// its term still tells which claims elsewhere are stale.
				s.role = ""
			case paused:
				s.down = true
			case resumed:
				s.down = false
			}
		}
		visit(t, currentLeader(nodes))
	}
}

// currentLeader is the running node that claims leadership at the highest
// term known anywhere; a claim superseded by a higher term elsewhere is stale.
func currentLeader(nodes map[string]*nodeState) string {
	var top int64 = -1 << 62
	for _, s := range nodes {
		top = max(top, s.term)
	}
	leader := ""
	for n, s := range nodes {
		if s.role == "leader" && !s.down && s.term == top && (leader == "" || n < leader) {
			leader = n
		}
	}
	return leader
}

func (tl *leaderTimeline) windows() []Window {
	var out []Window
	start := int64(0) // the run starts with no leader
	inWindow := true
	tl.replay(func(t int64, leader string) {
		switch {
		case leader == "" && !inWindow:
			start, inWindow = t, true
		case leader != "" && inWindow:
			out = append(out, Window{From: start, To: t, Duration: t - start})
			inWindow = false
		}
	})
	if inWindow {
		out = append(out, Window{From: start, To: tl.end, Duration: tl.end - start, Open: true})
	}
	return out
}

// leaderAfter returns the first time at or after from with a leader, and who.
func (tl *leaderTimeline) leaderAfter(from int64) (int64, string) {
	at, who := int64(-1), ""
	var current string
	tl.replay(func(t int64, leader string) {
		if at >= 0 {
			return
		}
		if t <= from {
			current = leader
			return
		}
		if current != "" {
			at, who = from, current
			return
		}
		if leader != "" {
			at, who = t, leader
		}
	})
	if at < 0 && current != "" {
		at, who = from, current
	}
	return at, who
}
