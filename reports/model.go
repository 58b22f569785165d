package reports

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/splitbrain/splitbrain/history"
)

// fault is one thing the nemesis did, as an interval when it has an end
// (partition until healed, kill until restarted) or a point otherwise.
type fault struct {
	Kind       string // "partition", "kill", "pause", "clock", or the nemesis f
	Label      string // for a person: what, and to whom
	Node       string // the target when the fault concerns one node
	Start, End int64
	Open       bool // never stopped: it lasts to the end of the run
	Point      bool // an action with no duration
}

// Fault kinds that have their own drawing.
const (
	kindPartition = "partition"
	kindKill      = "kill"
	kindPause     = "pause"
	kindClock     = "clock"
)

// extractFaults pairs the nemesis entries of a history into faults.
//
// Pairing is by name: start-X/stop-X, kill/start, pause/resume and
// clock-*/clock-reset. A second start of something already in force is
// ignored rather than drawn twice, because a nemesis may log both its
// intent and its completion; a stop with nothing in force is dropped.
// Anything unrecognised is kept as a point so that no fault goes unseen.
func extractFaults(ops []history.Op, end int64) []fault {
	var out []fault
	open := map[string]int{} // kind + "\x00" + node -> index in out
	key := func(kind, node string) string { return kind + "\x00" + node }
	begin := func(op history.Op, kind, node, label string) {
		k := key(kind, node)
		if _, ok := open[k]; ok {
			return
		}
		open[k] = len(out)
		out = append(out, fault{Kind: kind, Label: label, Node: node, Start: op.Time, End: end, Open: true})
	}
	stop := func(op history.Op, kind string, nodes []string) {
		var keys []string
		if len(nodes) == 0 {
			for k := range open {
				if strings.HasPrefix(k, kind+"\x00") {
					keys = append(keys, k)
				}
			}
		} else {
			for _, n := range nodes {
				if _, ok := open[key(kind, n)]; ok {
					keys = append(keys, key(kind, n))
				}
			}
			if len(keys) == 0 { // a node-less fault stopped by naming a node
				if _, ok := open[key(kind, "")]; ok {
					keys = append(keys, key(kind, ""))
				}
			}
		}
		for _, k := range keys {
			f := &out[open[k]]
			f.End, f.Open = max(op.Time, f.Start), false
			delete(open, k)
		}
	}
	for _, op := range ops {
		if op.Process != history.Nemesis {
			continue
		}
		nodes := op.Targets()
		perNode := func(kind string) {
			if len(nodes) == 0 {
				begin(op, kind, "", faultLabel(op, ""))
			}
			for _, n := range nodes {
				begin(op, kind, n, faultLabel(op, n))
			}
		}
		switch f := op.F; {
		case f == "kill" || f == "crash" || f == "stop":
			perNode(kindKill)
		case f == "start" || f == "restart":
			stop(op, kindKill, nodes)
		case f == "pause":
			perNode(kindPause)
		case f == "resume":
			stop(op, kindPause, nodes)
		case f == "clock-reset":
			stop(op, kindClock, nodes)
		case strings.HasPrefix(f, "clock-"):
			perNode(kindClock)
		case strings.HasPrefix(f, "start-"):
			kind := strings.TrimPrefix(f, "start-")
			if kind == kindPartition {
				begin(op, kind, "", faultLabel(op, ""))
			} else {
				perNode(kind)
			}
		case strings.HasPrefix(f, "stop-"):
			stop(op, strings.TrimPrefix(f, "stop-"), nodes)
		default:
			out = append(out, fault{Kind: f, Label: faultLabel(op, op.Node), Node: op.Node, Start: op.Time, End: op.Time, Point: true})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// faultLabel describes a nemesis entry in a few words: a partition by its
// groups, anything else by its name, node and (shortened) value.
func faultLabel(op history.Op, node string) string {
	name := strings.TrimPrefix(op.F, "start-")
	if op.Value.Kind == history.Other {
		var g struct {
			Groups [][]string `json:"groups"`
		}
		if json.Unmarshal(op.Value.Raw, &g) == nil && len(g.Groups) > 0 {
			parts := make([]string, len(g.Groups))
			for i, grp := range g.Groups {
				parts[i] = strings.Join(grp, " ")
			}
			return name + " " + strings.Join(parts, " | ")
		}
	}
	label := name
	if node != "" {
		label += " " + node
	}
	if v := valueText(op.Value); v != "" {
		label += " " + v
	}
	return label
}

// valueText is a nemesis value shortened for a label, without the target
// nodes, which the label names already.
func valueText(v history.Value) string {
	if v.Kind == history.None {
		return ""
	}
	s := v.String()
	var m map[string]json.RawMessage
	if v.Kind == history.Other && json.Unmarshal(v.Raw, &m) == nil {
		delete(m, "node")
		delete(m, "nodes")
		if len(m) == 0 {
			return ""
		}
		b, _ := json.Marshal(m)
		s = string(b)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// segment is a span of time in which a node held one role.
type segment struct {
	Node       string
	Role       string
	Term       int64
	Start, End int64
}

// roleDown marks a node killed by the nemesis: it claims nothing until it
// reports again. roleGone marks the time after a restart before its first
// report, when its role is not known.
const (
	roleDown = "down"
	roleGone = ""
)

// roleSegments turns role events into per-node segments. A kill cuts the
// node's segment short: a dead node may never have said it stopped
// leading, and drawing it as leader until its next report would invent a
// split brain.
func roleSegments(events []history.Event, faults []fault, end int64) map[string][]segment {
	type change struct {
		t    int64
		role string
		term int64
		ord  int
	}
	changes := map[string][]change{}
	ord := 0
	add := func(node string, c change) {
		c.ord = ord
		ord++
		changes[node] = append(changes[node], c)
	}
	// A node's own reports win over an observer's polls of it: the two
	// interleave by a few milliseconds, and mixing them would draw a
	// stale poll as a reign that ended, inventing two-leader windows.
	own := map[string]bool{}
	for _, ev := range events {
		if ev.Event == history.EventRole && ev.Source == "node" {
			own[ev.Node] = true
		}
	}
	for _, ev := range events {
		if ev.Event == history.EventRole && !(own[ev.Node] && ev.Source == "observer") {
			add(ev.Node, change{t: ev.Time, role: ev.Role, term: ev.Term})
		}
	}
	for _, f := range faults {
		if f.Kind != kindKill || f.Node == "" {
			continue
		}
		add(f.Node, change{t: f.Start, role: roleDown})
		if !f.Open {
			add(f.Node, change{t: f.End, role: roleGone})
		}
	}
	out := map[string][]segment{}
	for node, cs := range changes {
		sort.SliceStable(cs, func(i, j int) bool {
			if cs[i].t != cs[j].t {
				return cs[i].t < cs[j].t
			}
			return cs[i].ord < cs[j].ord
		})
		var segs []segment
		for i, c := range cs {
			stop := end
			if i+1 < len(cs) {
				stop = cs[i+1].t
			}
			if c.role == roleGone || stop <= c.t && i+1 < len(cs) {
				continue
			}
			// Merge a repeated report of the same role and term, so that
			// an observer polling /status does not split one reign.
			if n := len(segs); n > 0 && segs[n-1].End == c.t && segs[n-1].Role == c.role && segs[n-1].Term == c.term {
				segs[n-1].End = stop
				continue
			}
			segs = append(segs, segment{Node: node, Role: c.role, Term: c.term, Start: c.t, End: stop})
		}
		out[node] = segs
	}
	return out
}

// window is a span of time with other than one leader: two or more (a
// split brain, or a stale leader) or none (a failover).
type window struct {
	From, To int64
	Nodes    []string // the leaders during the window
	Terms    []int64
	SameTerm bool   // two leaders held the same term at once: an election-safety violation
	Cause    string // the fault that most likely led to it, if any
	Open     bool   // still going at the end of the run
}

// Duration is the window's length in nanoseconds.
func (w window) Duration() int64 { return w.To - w.From }

// leaderWindows sweeps the leader segments of every node and returns the
// windows with two or more leaders and those with none. Leaderless time
// before the first leader is the initial election and counts as a window
// too; a window touching the end of the run is marked open.
func leaderWindows(segs map[string][]segment, end int64) (multi, none []window) {
	type edge struct {
		t     int64
		start bool
		seg   segment
	}
	var edges []edge
	for _, ss := range segs {
		for _, s := range ss {
			if s.Role == string(roleLeader) && s.End > s.Start {
				edges = append(edges, edge{s.Start, true, s}, edge{s.End, false, s})
			}
		}
	}
	// Ends before starts at the same instant, so that a clean handover is
	// not counted as two leaders, nor as none.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].t != edges[j].t {
			return edges[i].t < edges[j].t
		}
		return !edges[i].start && edges[j].start
	})
	active := map[string]int64{} // node -> term
	var cur *window
	var gapFrom int64 // start of the current leaderless span
	gapOpen := true
	seen := func(w *window) {
		for n, t := range active {
			if !contains(w.Nodes, n) {
				w.Nodes = append(w.Nodes, n)
			}
			if !containsInt(w.Terms, t) {
				w.Terms = append(w.Terms, t)
			}
		}
		terms := map[int64]bool{}
		for _, t := range active {
			if terms[t] {
				w.SameTerm = true
			}
			terms[t] = true
		}
	}
	for i, e := range edges {
		if e.start {
			active[e.seg.Node] = e.seg.Term
		} else {
			delete(active, e.seg.Node)
		}
		// Decide only once every edge at this instant is applied.
		if i+1 < len(edges) && edges[i+1].t == e.t {
			continue
		}
		switch n := len(active); {
		case n >= 2:
			if cur == nil {
				cur = &window{From: e.t}
			}
			seen(cur)
		case cur != nil:
			cur.To = e.t
			multi = append(multi, *cur)
			cur = nil
		}
		if len(active) == 0 && !gapOpen {
			gapFrom, gapOpen = e.t, true
		} else if len(active) > 0 && gapOpen {
			if e.t > gapFrom {
				none = append(none, window{From: gapFrom, To: e.t})
			}
			gapOpen = false
		}
	}
	if cur != nil {
		cur.To, cur.Open = end, true
		multi = append(multi, *cur)
	}
	if gapOpen && end > gapFrom && len(edges) > 0 {
		none = append(none, window{From: gapFrom, To: end, Open: true})
	}
	for i := range multi {
		sort.Slice(multi[i].Nodes, func(a, b int) bool { return nodeLess(multi[i].Nodes[a], multi[i].Nodes[b]) })
		sort.Slice(multi[i].Terms, func(a, b int) bool { return multi[i].Terms[a] < multi[i].Terms[b] })
	}
	return multi, none
}

const roleLeader = "leader"

// livenessWindows reads the leaderless windows the liveness checker found,
// which are the verdict's evidence and so preferred over our own sweep.
func livenessWindows(c *checkerResult, end int64) ([]window, bool) {
	if c == nil || len(c.Details) == 0 {
		return nil, false
	}
	var d struct {
		Windows []struct {
			From     int64 `json:"from"`
			To       int64 `json:"to"`
			Duration int64 `json:"duration_ns"`
			Open     bool  `json:"open"`
		} `json:"windows"`
	}
	if json.Unmarshal(c.Details, &d) != nil || d.Windows == nil {
		return nil, false
	}
	out := make([]window, 0, len(d.Windows))
	for _, w := range d.Windows {
		to := w.To
		if to <= 0 && w.Duration > 0 {
			to = w.From + w.Duration
		}
		out = append(out, window{From: w.From, To: max(to, w.From), Open: w.Open})
	}
	return out, true
}

// attachCauses names, for each window, the latest fault that began at most
// lookback before it (or just after: a kill and the loss of the leader are
// stamped by different clocks).
func attachCauses(ws []window, faults []fault) {
	const lookback, slack = 10e9, 5e6
	for i := range ws {
		var best *fault
		for j := range faults {
			f := &faults[j]
			if f.Start <= ws[i].From+slack && f.Start >= ws[i].From-lookback {
				best = f
			}
		}
		if best != nil {
			ws[i].Cause = fmt.Sprintf("%s at %s", best.Label, fmtTime(best.Start))
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func containsInt(xs []int64, x int64) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
