// Package timeline is the one replay of a run: the faults the nemesis
// injected, each node's reigns, the leader at any time, the windows
// without a leader and those where several nodes claim to lead. The
// checkers (election-safety, term-monotonic, liveness) and the report all
// read it, so they cannot disagree. docs/run-format.md states its rules.
//
// A system that leads per shard (Redis Cluster: a master per set of hash
// slots) reports a group with each role; the rules then hold within each
// group, and the timeline has a Leadership per group. A system with one
// leader reports none and has one Leadership, the group "".
package timeline

import (
	"slices"
	"sort"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

// Report is one role event as recorded, from whichever source.
type Report struct {
	Time   int64
	Node   string
	Role   rundir.Role
	Term   int64
	Group  string        // the shard the role is held in; "" for a system with one leader
	Source rundir.Source // "" is read as rundir.SourceNode
}

// Reign is a span in which a node held one role in one term of one
// group, by the source its reigns are read from.
type Reign struct {
	Node     string
	Role     rundir.Role
	Term     int64
	Group    string
	From, To int64
	Source   rundir.Source
	Open     bool // still held at the end of the run
}

// Span is a stretch in which one node was the leader of its group
// (Leader's rule).
type Span struct {
	Node     string
	Term     int64
	From, To int64
	Open     bool // the run ended with this leader: it leads at To too
}

// Window is a stretch with no leader (Leaderless) or with two or more
// nodes claiming leadership (Contested).
type Window struct {
	From, To int64
	Open     bool     // still going at the end of the run
	Nodes    []string // Contested: the nodes claiming, sorted
	Terms    []int64  // Contested: their terms, sorted
	// SameTerm: two nodes claimed one term at the same instant, an
	// election-safety violation; otherwise one claim is stale.
	SameTerm bool
}

// Duration is the window's length in nanoseconds.
func (w Window) Duration() int64 { return w.To - w.From }

// Leadership is who led one group over the run: its leader spans and
// its windows without a leader or with several claiming to lead.
type Leadership struct {
	// Group is the group; "" for a system with one leader.
	Group string
	// Leaders are the spans with a leader, in time order.
	Leaders []Span
	// Leaderless are the windows with no leader, from the start of the run;
	// nil when no node reported a role.
	Leaderless []Window
	// Contested are the windows where two or more nodes claimed leadership.
	Contested []Window
	// Exposed are the windows where two or more running nodes (not
	// paused) claimed leadership: a split brain's exposure, when a stale
	// leader can still act. A paused claimant acts only once it wakes,
	// when it may learn first that it was deposed.
	Exposed []Window
}

// Timeline is a replayed run. Build it with New; it is read-only after.
type Timeline struct {
	// Faults are the nemesis's faults, in order of start.
	Faults []Fault
	// Reports are every role event, from every source, in recording order.
	Reports []Report
	// Reigns are each node's reigns, in time order, by the node's chosen
	// source (docs/run-format.md: a node's own reports over the observer's).
	Reigns map[string][]Reign
	// Leadership is the run's leadership when it has one group, as every
	// system with one leader has (the group ""). With several groups it is
	// empty: Groups holds each.
	Leadership
	// Groups are every group's leadership, sorted by group: the groups
	// role reports named, or the one group "" (the same as Leadership)
	// when none did.
	Groups []*Leadership
	// LastFault is the time of the last nemesis entry; 0 without one.
	LastFault int64
	// FirstOp is the time of the first client operation; 0 without one.
	// A run's clients (and its nemesis) start once a first leader is
	// known: what comes before is the ensemble starting.
	FirstOp int64
	// End is the time of the last entry or event.
	End int64
}

// Group returns the leadership of group g, or nil when no report named it.
func (tl *Timeline) Group(g string) *Leadership {
	for _, l := range tl.Groups {
		if l.Group == g {
			return l
		}
	}
	return nil
}

// Claim is a node's latest word on its role, for Leader.
type Claim struct {
	Node string
	Role rundir.Role
	Term int64
	// Down: the node is killed or paused, so it leads nobody now; its term
	// still tells which claims elsewhere are stale.
	Down bool
}

// Leader is the one rule for "who leads now": the running node claiming
// rundir.RoleLeader at the highest term any node knows. A claim at a lower
// term is stale (its holder steps down once it hears the higher term). Two
// nodes leading the highest term at once (a violation, which
// election-safety reports) give the first by name, so that the answer is
// deterministic. "" when nobody leads.
func Leader(claims []Claim) string {
	top, seen := int64(0), false
	for _, c := range claims {
		if !seen || c.Term > top {
			top, seen = c.Term, true
		}
	}
	leader := ""
	for _, c := range claims {
		if c.Role == rundir.RoleLeader && !c.Down && c.Term == top && (leader == "" || c.Node < leader) {
			leader = c.Node
		}
	}
	return leader
}

// change is one thing that alters a node's state during the replay.
type change struct {
	time  int64
	node  string
	kind  int
	role  rundir.Role
	term  int64
	group string
	src   rundir.Source
	order int // ties keep recording order
}

const (
	reported = iota
	killed   // its claim is gone with the process
	started  // a new process: not paused, role unknown until it reports
	paused   // its claim stands but it leads nobody while frozen
	resumed
)

// New replays ops (history.jsonl) and events (events.jsonl).
func New(ops []history.Op, events []history.Event) *Timeline {
	tl := &Timeline{Reigns: map[string][]Reign{}}
	for _, op := range ops {
		tl.End = max(tl.End, op.Time)
		if op.Process == history.Nemesis {
			tl.LastFault = max(tl.LastFault, op.Time)
		} else if op.Process >= 0 && (tl.FirstOp == 0 || op.Time < tl.FirstOp) {
			tl.FirstOp = op.Time
		}
	}
	var lifecycle []change
	for _, ev := range events {
		tl.End = max(tl.End, ev.Time)
		if ev.Source == rundir.SourceAgent {
			switch ev.Event {
			case rundir.EventExit:
				lifecycle = append(lifecycle, change{time: ev.Time, node: ev.Node, kind: killed})
			case rundir.EventStart:
				lifecycle = append(lifecycle, change{time: ev.Time, node: ev.Node, kind: started})
			}
			continue
		}
		if ev.Event != rundir.EventRole {
			continue
		}
		src := ev.Source
		if src == "" {
			src = rundir.SourceNode
		}
		tl.Reports = append(tl.Reports, Report{Time: ev.Time, Node: ev.Node, Role: ev.Role, Term: ev.Term, Group: ev.Group, Source: src})
	}
	tl.Faults = faults(ops, tl.End)
	tl.replay(tl.changes(lifecycle))
	return tl
}

// changes merges the chosen role reports with kills and pauses, and the
// agent's lifecycle events (a server that exited on its own leads nobody),
// in time order.
func (tl *Timeline) changes(lifecycle []change) []change {
	// A node's own reports win over the observer's polls of it: the two
	// race by a few milliseconds, and mixing them would draw a stale poll
	// as a reign, inventing two-leader windows.
	own := map[string]bool{}
	for _, r := range tl.Reports {
		if r.Source != rundir.SourceObserver {
			own[r.Node] = true
		}
	}
	cs := lifecycle
	for _, r := range tl.Reports {
		if own[r.Node] && r.Source == rundir.SourceObserver {
			continue
		}
		cs = append(cs, change{time: r.Time, node: r.Node, kind: reported, role: r.Role, term: r.Term, group: r.Group, src: r.Source})
	}
	for _, f := range tl.Faults {
		if f.Node == "" {
			continue
		}
		var from, to int
		switch f.Kind {
		case rundir.KindKill:
			from, to = killed, started
		case rundir.KindPause:
			from, to = paused, resumed
		default:
			continue
		}
		cs = append(cs, change{time: f.Start, node: f.Node, kind: from})
		if !f.Open {
			cs = append(cs, change{time: f.End, node: f.Node, kind: to})
		}
	}
	for i := range cs {
		cs[i].order = i
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].time < cs[j].time })
	return cs
}

type nodeState struct {
	Claim
	group string // the group of its last report
	src   rundir.Source
	since int64 // start of the current reign
	alive bool  // has a role (reported, not killed since)
	pause bool
}

// groupState is one group's leadership while the replay runs.
type groupState struct {
	*Leadership
	cur     *Span
	contest claimWindows // any claimants: Contested
	exposed claimWindows // running claimants: Exposed
}

// replay applies the changes one instant at a time, closing and opening
// reigns, and after each instant notes each group's leader and claimants.
// A node belongs to the group of its last report: its claim, its term and
// its leadership count there, and nowhere else.
func (tl *Timeline) replay(cs []change) {
	nodes := map[string]*nodeState{}
	var order []string
	groups := map[string]*groupState{}
	var gorder []string
	for _, r := range tl.Reports {
		if groups[r.Group] == nil {
			groups[r.Group] = &groupState{Leadership: &Leadership{Group: r.Group}}
			gorder = append(gorder, r.Group)
		}
	}
	if len(gorder) == 0 {
		groups[""] = &groupState{Leadership: &Leadership{}}
		gorder = []string{""}
	}
	closeReign := func(s *nodeState, t int64) {
		if s.alive {
			tl.Reigns[s.Node] = append(tl.Reigns[s.Node], Reign{Node: s.Node, Role: s.Role, Term: s.Term, Group: s.group,
				From: s.since, To: t, Source: s.src})
		}
	}
	for i := 0; i < len(cs); {
		t := cs[i].time
		for ; i < len(cs) && cs[i].time == t; i++ {
			c := cs[i]
			s := nodes[c.node]
			if s == nil {
				s = &nodeState{Claim: Claim{Node: c.node}}
				nodes[c.node] = s
				order = append(order, c.node)
			}
			switch c.kind {
			case reported:
				if !s.alive || s.Role != c.role || s.Term != c.term || s.group != c.group {
					closeReign(s, t)
					s.Role, s.Term, s.group, s.src, s.since, s.alive = c.role, c.term, c.group, c.src, t, true
				}
				s.pause = false // a node that reports is running
			case killed:
				closeReign(s, t)
				s.alive, s.Role = false, ""
			case started:
				s.pause = false
			case paused:
				s.pause = true
			case resumed:
				s.pause = false
			}
		}
		for _, g := range gorder {
			groups[g].note(t, nodes, order)
		}
	}
	for _, n := range order {
		s := nodes[n]
		closeReign(s, tl.End)
		if rs := tl.Reigns[n]; s.alive && len(rs) > 0 {
			rs[len(rs)-1].Open = true
		}
	}
	for _, g := range gorder {
		groups[g].finish(tl.End, len(tl.Reports) > 0)
	}
	slices.Sort(gorder)
	for _, g := range gorder {
		tl.Groups = append(tl.Groups, groups[g].Leadership)
	}
	if len(tl.Groups) == 1 {
		tl.Leadership = *tl.Groups[0]
		tl.Groups[0] = &tl.Leadership
	}
}

// note takes, after the changes of instant t, the group's leader and
// claimants among the nodes in it, opening and closing spans and windows.
func (g *groupState) note(t int64, nodes map[string]*nodeState, order []string) {
	var claims []Claim
	var claimants []*nodeState
	for _, n := range order {
		s := nodes[n]
		if s.group != g.Group {
			continue
		}
		c := s.Claim
		c.Down = !s.alive || s.pause
		claims = append(claims, c)
		if s.alive && s.Role == rundir.RoleLeader {
			claimants = append(claimants, s)
		}
	}
	leader := Leader(claims)
	if g.cur != nil && (leader == "" || g.cur.Node != leader || g.cur.Term != nodes[leader].Term) {
		g.cur.To = t
		g.Leaders = append(g.Leaders, *g.cur)
		g.cur = nil
	}
	if g.cur == nil && leader != "" {
		g.cur = &Span{Node: leader, Term: nodes[leader].Term, From: t}
	}
	var running []*nodeState
	for _, s := range claimants {
		if !s.pause {
			running = append(running, s)
		}
	}
	g.contest.note(t, claimants)
	g.exposed.note(t, running)
}

// claimWindows follows one kind of multi-claimant window: open while two or
// more claimants hold, widened by their nodes and terms.
type claimWindows struct {
	open *Window
	done []Window
}

// note takes the claimants of instant t.
func (c *claimWindows) note(t int64, claimants []*nodeState) {
	switch {
	case len(claimants) >= 2:
		if c.open == nil {
			c.open = &Window{From: t}
		}
		w := c.open
		terms := map[int64]bool{}
		for _, s := range claimants {
			if !slices.Contains(w.Nodes, s.Node) {
				w.Nodes = append(w.Nodes, s.Node)
			}
			if !slices.Contains(w.Terms, s.Term) {
				w.Terms = append(w.Terms, s.Term)
			}
			if terms[s.Term] {
				w.SameTerm = true
			}
			terms[s.Term] = true
		}
	case c.open != nil:
		c.open.To = t
		c.done = append(c.done, *c.open)
		c.open = nil
	}
}

// windows closes what is open at end and returns the windows, their nodes
// and terms sorted.
func (c *claimWindows) windows(end int64) []Window {
	if c.open != nil {
		c.open.To, c.open.Open = end, true
		c.done = append(c.done, *c.open)
		c.open = nil
	}
	for i := range c.done {
		sort.Strings(c.done[i].Nodes)
		slices.Sort(c.done[i].Terms)
	}
	return c.done
}

// finish closes what is open at the end of the run and, when any node
// reported a role, lists the leaderless windows.
func (g *groupState) finish(end int64, reports bool) {
	if g.cur != nil {
		g.cur.To, g.cur.Open = end, true
		g.Leaders = append(g.Leaders, *g.cur)
	}
	g.Contested = g.contest.windows(end)
	g.Exposed = g.exposed.windows(end)
	if reports {
		g.Leaderless = gaps(g.Leaders, end)
	}
}

// gaps are the windows between leader spans, from 0 to end.
func gaps(spans []Span, end int64) []Window {
	var out []Window
	from := int64(0) // the run starts with no leader
	for _, s := range spans {
		if s.From > from {
			out = append(out, Window{From: from, To: s.From})
		}
		from = max(from, s.To)
	}
	if from < end || len(spans) == 0 {
		out = append(out, Window{From: from, To: end, Open: true})
	}
	return out
}

// LeaderAt is the group's leader at time t, after everything that
// happened at t, and its term; "" when nobody leads.
func (l *Leadership) LeaderAt(t int64) (string, int64) {
	if i := l.spanAt(t); i >= 0 {
		return l.Leaders[i].Node, l.Leaders[i].Term
	}
	return "", 0
}

// SpanAt is the group's leader span holding t, after everything that
// happened at t; false when nobody leads then.
func (l *Leadership) SpanAt(t int64) (Span, bool) {
	if i := l.spanAt(t); i >= 0 {
		return l.Leaders[i], true
	}
	return Span{}, false
}

// spanAt is the index of the leader span holding t, or -1.
func (l *Leadership) spanAt(t int64) int {
	i := sort.Search(len(l.Leaders), func(i int) bool { return l.Leaders[i].To > t })
	if i < len(l.Leaders) && l.Leaders[i].From <= t {
		return i
	}
	if n := len(l.Leaders); n > 0 && l.Leaders[n-1].Open && l.Leaders[n-1].To == t {
		return n - 1
	}
	return -1
}

// LeaderFrom is the first time at or after t with a leader of the group,
// and who; -1 and "" when no leader comes.
func (l *Leadership) LeaderFrom(t int64) (int64, string) {
	if i := l.spanAt(t); i >= 0 {
		return t, l.Leaders[i].Node
	}
	i := sort.Search(len(l.Leaders), func(i int) bool { return l.Leaders[i].From > t })
	if i == len(l.Leaders) {
		return -1, ""
	}
	return l.Leaders[i].From, l.Leaders[i].Node
}

// Nodes lists every node the timeline knows of: reporting or faulted.
func (tl *Timeline) Nodes() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, r := range tl.Reports {
		add(r.Node)
	}
	for _, f := range tl.Faults {
		add(f.Node)
	}
	return out
}
