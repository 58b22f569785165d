package timeline

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

func role(t int64, node string, r rundir.Role, term int64) history.Event {
	return history.Event{Time: t, Node: node, Event: rundir.EventRole, Role: r, Term: term, Source: rundir.SourceNode}
}

func polled(t int64, node string, r rundir.Role, term int64) history.Event {
	ev := role(t, node, r, term)
	ev.Source = rundir.SourceObserver
	return ev
}

func nem(t int64, f rundir.Fault, node string, v any) history.Op {
	op := history.Op{Time: t, Process: history.Nemesis, Type: history.Info, F: string(f), Node: node}
	if v != nil {
		op.Value = history.RawValue(v)
	}
	return op
}

func agent(t int64, node, event string) history.Event {
	return history.Event{Time: t, Node: node, Event: event, Source: rundir.SourceAgent}
}

// end is a client entry that fixes the run's end.
func end(t int64) history.Op {
	return history.Op{Time: t, Process: 0, Type: history.Invoke, F: history.FRead}
}

const (
	leader    = rundir.RoleLeader
	follower  = rundir.RoleFollower
	candidate = rundir.RoleCandidate
)

type at struct {
	t      int64
	leader string
}

func TestRules(t *testing.T) {
	tests := []struct {
		name       string
		ops        []history.Op
		events     []history.Event
		leaders    []at
		leaderless [][2]int64
		contested  []Window
		exposed    []Window           // nil unless given
		reigns     map[string][]Reign // checked when given
	}{{
		name: "a paused leader keeps its claim but leads nobody while frozen",
		ops:  []history.Op{nem(200, rundir.Pause, "n1", nil), nem(700, rundir.Resume, "n1", nil), end(1000)},
		events: []history.Event{
			role(100, "n1", leader, 1), role(100, "n2", follower, 1),
			role(500, "n2", leader, 2),
			role(710, "n1", follower, 2),
		},
		leaders:    []at{{150, "n1"}, {200, ""}, {499, ""}, {500, "n2"}, {999, "n2"}},
		leaderless: [][2]int64{{0, 100}, {200, 500}},
		contested:  []Window{{From: 500, To: 710, Nodes: []string{"n1", "n2"}, Terms: []int64{1, 2}}},
		// Exposed only once it runs again, until it learns the higher term.
		exposed: []Window{{From: 700, To: 710, Nodes: []string{"n1", "n2"}, Terms: []int64{1, 2}}},
		reigns: map[string][]Reign{"n1": {
			{Node: "n1", Role: leader, Term: 1, From: 100, To: 710, Source: rundir.SourceNode},
			{Node: "n1", Role: follower, Term: 2, From: 710, To: 1000, Source: rundir.SourceNode, Open: true},
		}},
	}, {
		name: "a leader whose server exits on its own leads nobody from then",
		ops:  []history.Op{end(1000)},
		events: []history.Event{
			agent(50, "n1", rundir.EventStart),
			role(100, "n1", leader, 1),
			agent(300, "n1", rundir.EventExit),
			role(500, "n2", leader, 2),
			agent(600, "n1", rundir.EventStart),
			role(650, "n1", follower, 2),
		},
		leaders:    []at{{100, "n1"}, {299, "n1"}, {300, ""}, {500, "n2"}, {700, "n2"}},
		leaderless: [][2]int64{{0, 100}, {300, 500}},
	}, {
		name: "a killed leader's claim ends with the process",
		ops:  []history.Op{nem(200, rundir.Kill, "", map[string]any{"node": "n1"}), nem(600, rundir.Start, "", map[string]any{"node": "n1"}), end(1000)},
		events: []history.Event{
			role(100, "n1", leader, 1),
			role(400, "n2", leader, 2),
			role(650, "n1", follower, 2),
		},
		leaders:    []at{{100, "n1"}, {200, ""}, {400, "n2"}, {700, "n2"}},
		leaderless: [][2]int64{{0, 100}, {200, 400}},
		reigns: map[string][]Reign{"n1": {
			{Node: "n1", Role: leader, Term: 1, From: 100, To: 200, Source: rundir.SourceNode},
			{Node: "n1", Role: follower, Term: 2, From: 650, To: 1000, Source: rundir.SourceNode, Open: true},
		}},
	}, {
		name: "a node's own reports win over the observer's stale poll",
		ops:  []history.Op{end(200)},
		events: []history.Event{
			role(0, "n1", leader, 1),
			role(100, "n1", follower, 2), role(100, "n2", leader, 2),
			polled(105, "n1", leader, 1),   // answered just before the step-down
			polled(110, "n3", follower, 2), // n3 only polled: kept
		},
		leaders:    []at{{0, "n1"}, {100, "n2"}, {150, "n2"}},
		leaderless: nil,
		reigns: map[string][]Reign{
			"n3": {{Node: "n3", Role: follower, Term: 2, From: 110, To: 200, Source: rundir.SourceObserver, Open: true}},
		},
	}, {
		name: "two leaders in one term: a contested window in the same term, the first by name leads",
		ops:  []history.Op{end(500)},
		events: []history.Event{
			role(100, "n2", leader, 3),
			role(200, "n1", leader, 3),
		},
		leaders:    []at{{150, "n2"}, {250, "n1"}},
		leaderless: [][2]int64{{0, 100}},
		contested:  []Window{{From: 200, To: 500, Open: true, Nodes: []string{"n1", "n2"}, Terms: []int64{3}, SameTerm: true}},
		exposed:    []Window{{From: 200, To: 500, Open: true, Nodes: []string{"n1", "n2"}, Terms: []int64{3}, SameTerm: true}},
	}, {
		name: "a higher term anywhere makes a lower-term leader stale",
		ops:  []history.Op{end(500)},
		events: []history.Event{
			role(100, "n1", leader, 1),
			role(200, "n2", candidate, 2),
			role(300, "n2", leader, 2),
			role(400, "n1", follower, 2),
		},
		leaders:    []at{{100, "n1"}, {200, ""}, {300, "n2"}, {450, "n2"}},
		leaderless: [][2]int64{{0, 100}, {200, 300}},
		contested:  []Window{{From: 300, To: 400, Nodes: []string{"n1", "n2"}, Terms: []int64{1, 2}}},
		exposed:    []Window{{From: 300, To: 400, Nodes: []string{"n1", "n2"}, Terms: []int64{1, 2}}},
	}, {
		name:       "a run that ends leaderless has an open window",
		ops:        []history.Op{nem(300, rundir.Kill, "n1", nil), end(900)},
		events:     []history.Event{role(100, "n1", leader, 1)},
		leaders:    []at{{100, "n1"}, {300, ""}},
		leaderless: [][2]int64{{0, 100}, {300, 900}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := New(tt.ops, tt.events)
			for _, a := range tt.leaders {
				got, _ := tl.LeaderAt(a.t)
				assert.Equal(t, a.leader, got, "leader at %d", a.t)
			}
			var gaps [][2]int64
			for _, w := range tl.Leaderless {
				gaps = append(gaps, [2]int64{w.From, w.To})
			}
			assert.Equal(t, tt.leaderless, gaps, "leaderless windows")
			assert.Equal(t, tt.contested, tl.Contested, "contested windows")
			assert.Equal(t, tt.exposed, tl.Exposed, "exposed windows")
			for n, want := range tt.reigns {
				assert.Equal(t, want, tl.Reigns[n], "reigns of %s", n)
			}
			checkInvariants(t, tl)
		})
	}
}

func TestLeaderFrom(t *testing.T) {
	tl := New([]history.Op{nem(200, rundir.Kill, "n1", nil), end(1000)},
		[]history.Event{role(100, "n1", leader, 1), role(400, "n2", leader, 2)})
	for _, c := range []struct {
		from, at int64
		who      string
	}{{0, 100, "n1"}, {150, 150, "n1"}, {200, 400, "n2"}, {1000, 1000, "n2"}} {
		a, w := tl.LeaderFrom(c.from)
		assert.Equal(t, c.at, a, "from %d", c.from)
		assert.Equal(t, c.who, w, "from %d", c.from)
	}
	a, w := New([]history.Op{end(10)}, []history.Event{role(1, "n1", follower, 1)}).LeaderFrom(0)
	assert.Equal(t, int64(-1), a)
	assert.Empty(t, w)
}

func TestLeader(t *testing.T) {
	tests := []struct {
		name   string
		claims []Claim
		want   string
	}{
		{"none", nil, ""},
		{"one", []Claim{{Node: "n1", Role: leader, Term: 1}, {Node: "n2", Role: follower, Term: 1}}, "n1"},
		{"stale", []Claim{{Node: "n1", Role: leader, Term: 1}, {Node: "n2", Role: candidate, Term: 2}}, ""},
		{"down", []Claim{{Node: "n1", Role: leader, Term: 1, Down: true}}, ""},
		{"down node's term still counts", []Claim{{Node: "n1", Role: leader, Term: 1}, {Node: "n2", Term: 3, Down: true}}, ""},
		{"same term: first by name", []Claim{{Node: "n3", Role: leader, Term: 2}, {Node: "n2", Role: leader, Term: 2}}, "n2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, Leader(tt.claims)) })
	}
}

func TestFaults(t *testing.T) {
	ops := []history.Op{
		nem(10, rundir.StartPartition, "", map[string]any{"kind": "isolate-leader", "groups": [][]string{{"n1"}, {"n2", "n3"}}, "nodes": []string{"n1"}}),
		nem(11, rundir.StartPartition, "", map[string]any{"groups": [][]string{{"n1"}, {"n2", "n3"}}}), // logged twice: one fault
		nem(20, rundir.Kill, "", map[string]any{"nodes": []string{"n2", "n3"}}),
		nem(30, rundir.StopPartition, "", nil),
		nem(40, rundir.Start, "", map[string]any{"nodes": []string{"n2"}}),
		nem(50, rundir.ClockBump, "", map[string]any{"nodes": []string{"n1"}, "offset_ms": -400}),
		nem(55, rundir.Resume, "n9", nil), // nothing paused: dropped
		nem(60, rundir.ClockReset, "", nil),
		nem(65, rundir.StartNetem, "n2", map[string]any{"delay_ms": 100}),
		nem(70, "shuffle-leaders", "", nil), // unknown: kept as a point
		nem(80, rundir.StopNetem, "n2", nil),
		nem(85, rundir.StartTakeover, "n1", map[string]any{"nodes": []string{"n1"}, "replica": "n3", "groups": [][]string{{"n1"}, {"n2", "n3"}}}),
		nem(90, rundir.StopTakeover, "", map[string]any{"nodes": []string{"n1"}}),
		end(100),
	}
	tl := New(ops, nil)
	want := []Fault{
		{Kind: rundir.KindPartition, F: rundir.StartPartition, Label: "partition n1 | n2 n3", Start: 10, End: 30},
		{Kind: rundir.KindKill, F: rundir.Kill, Label: "kill n2", Node: "n2", Start: 20, End: 40},
		{Kind: rundir.KindKill, F: rundir.Kill, Label: "kill n3", Node: "n3", Start: 20, End: 100, Open: true},
		{Kind: rundir.KindClock, F: rundir.ClockBump, Label: `clock-bump n1 {"offset_ms":-400}`, Node: "n1", Start: 50, End: 60},
		{Kind: rundir.KindNetem, F: rundir.StartNetem, Label: `netem n2 {"delay_ms":100}`, Node: "n2", Start: 65, End: 80},
		{Kind: "shuffle-leaders", F: "shuffle-leaders", Label: "shuffle-leaders", Start: 70, End: 70, Point: true},
		{Kind: rundir.KindTakeover, F: rundir.StartTakeover, Label: "takeover n1 | n2 n3", Start: 85, End: 90},
	}
	assert.Equal(t, want, tl.Faults)
	assert.Equal(t, int64(90), tl.LastFault)
	assert.Nil(t, tl.Leaderless, "no role reports: no windows to speak of")
}

// checkInvariants holds for any timeline.
func checkInvariants(t *testing.T, tl *Timeline) {
	t.Helper()
	require.NotEmpty(t, tl.Groups, "every timeline has a group")
	if len(tl.Groups) == 1 {
		require.Same(t, &tl.Leadership, tl.Groups[0], "one group: it is the timeline's leadership")
	} else {
		require.Empty(t, tl.Leaders, "several groups: each has its own")
		require.Empty(t, tl.Leaderless)
		require.Empty(t, tl.Contested)
	}
	for i, l := range tl.Groups {
		if i > 0 {
			require.Less(t, tl.Groups[i-1].Group, l.Group, "groups sorted, each once")
		}
		require.Same(t, l, tl.Group(l.Group))
		checkLeadership(t, tl, l)
	}
	for n, rs := range tl.Reigns {
		for i, r := range rs {
			require.Equal(t, n, r.Node)
			require.LessOrEqual(t, r.From, r.To)
			require.NotNil(t, tl.Group(r.Group), "a reign's group is one of the timeline's")
			if i > 0 {
				require.LessOrEqual(t, rs[i-1].To, r.From)
			}
		}
	}
}

// checkLeadership holds for any group of any timeline.
func checkLeadership(t *testing.T, tl *Timeline, l *Leadership) {
	t.Helper()
	// Leader spans and leaderless windows tile [0, End] without overlap.
	type piece struct{ from, to int64 }
	var ps []piece
	for _, s := range l.Leaders {
		require.LessOrEqual(t, s.From, s.To)
		ps = append(ps, piece{s.From, s.To})
	}
	for _, w := range l.Leaderless {
		require.Less(t, w.From, w.To+1)
		ps = append(ps, piece{w.From, w.To})
	}
	if len(tl.Reports) > 0 && tl.End > 0 {
		var covered int64
		for _, p := range ps {
			covered += p.to - p.from
		}
		require.Equal(t, tl.End, covered, "group %q: leaders %+v leaderless %+v", l.Group, l.Leaders, l.Leaderless)
	}
	for i := 1; i < len(l.Leaders); i++ {
		require.LessOrEqual(t, l.Leaders[i-1].To, l.Leaders[i].From)
	}
	for _, s := range l.Leaders {
		if s.To > s.From {
			got, term := l.LeaderAt(s.From)
			require.Equal(t, s.Node, got)
			require.Equal(t, s.Term, term)
			// The leader is in the group: its reign there holds the span.
			require.True(t, slices.ContainsFunc(tl.Reigns[s.Node], func(r Reign) bool {
				return r.Group == l.Group && r.Role == leader && r.Term == s.Term && r.From <= s.From && s.From < r.To+1
			}), "group %q: span %+v without a reign of its leader there", l.Group, s)
		}
	}
	for _, w := range l.Leaderless {
		if w.To > w.From {
			got, _ := l.LeaderAt(w.From)
			require.Empty(t, got, "leader inside a leaderless window at %d", w.From)
		}
	}
	for _, w := range l.Contested {
		require.GreaterOrEqual(t, len(w.Nodes), 2)
		require.LessOrEqual(t, w.From, w.To)
	}
	for _, w := range l.Exposed {
		// Running claimants are claimants: within a contested window.
		require.GreaterOrEqual(t, len(w.Nodes), 2)
		require.True(t, slices.ContainsFunc(l.Contested, func(c Window) bool { return c.From <= w.From && w.To <= c.To }),
			"group %q: exposed %+v outside every contested window %+v", l.Group, w, l.Contested)
	}
}

// FuzzTimeline replays arbitrary role reports, kills and pauses, in one
// group or several, and checks that the spans, windows and reigns stay
// consistent.
func FuzzTimeline(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120})
	f.Add([]byte{0, 0x10, 0x21, 0x1c, 0x02, 0x2d, 0x41, 0x38, 0x81, 0x05, 0x22, 0x1f})
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes := []string{"n1", "n2", "n3", "n4"}
		roles := []rundir.Role{leader, follower, candidate}
		faults := []rundir.Fault{rundir.Kill, rundir.Start, rundir.Pause, rundir.Resume}
		// "" alone is a system with one leader; with the others, shards,
		// and a node moving between them.
		groups := []string{"", "0-5460", "5461-16383", "0-5460"}
		var ops []history.Op
		var events []history.Event
		var now int64
		for i := 0; i+1 < len(b); i += 2 {
			x, y := b[i], b[i+1]
			now += int64(y % 4)
			n := nodes[int(x)%len(nodes)]
			if x&0x80 != 0 {
				ops = append(ops, nem(now, faults[int(y>>2)%len(faults)], n, nil))
				continue
			}
			ev := role(now, n, roles[int(x>>2)%len(roles)], int64(y>>5))
			ev.Group = groups[int(x>>4)&3]
			if x&0x40 != 0 {
				ev.Source = rundir.SourceObserver
			}
			events = append(events, ev)
		}
		checkInvariants(t, New(ops, events))
	})
}

// in puts a role event in a group.
func in(g string, ev history.Event) history.Event {
	ev.Group = g
	return ev
}

func TestGroups(t *testing.T) {
	const a, b = "0-5460", "5461-16383"
	t.Run("each group has its own leader, and a higher term elsewhere makes none stale", func(t *testing.T) {
		tl := New([]history.Op{end(1000)}, []history.Event{
			in(a, polled(100, "n1", leader, 1)), in(a, polled(100, "n3", follower, 1)),
			in(b, polled(100, "n2", leader, 7)), in(b, polled(100, "n4", follower, 7)),
		})
		require.Len(t, tl.Groups, 2)
		assert.Empty(t, tl.Leaders, "several groups: the timeline's own leadership is empty")
		ga, gb := tl.Group(a), tl.Group(b)
		require.NotNil(t, ga)
		require.NotNil(t, gb)
		l, term := ga.LeaderAt(500)
		assert.Equal(t, "n1", l)
		assert.Equal(t, int64(1), term)
		l, _ = gb.LeaderAt(500)
		assert.Equal(t, "n2", l)
		assert.Empty(t, ga.Contested, "two leaders in two groups contest nothing")
		assert.Equal(t, []Window{{From: 0, To: 100}}, ga.Leaderless)
		assert.Nil(t, tl.Group("5461"), "groups are named exactly")
	})
	t.Run("a replica that takes over keeps the group; the cut-off master is stale until it hears", func(t *testing.T) {
		tl := New([]history.Op{end(1000)}, []history.Event{
			in(a, polled(100, "n1", leader, 1)), in(a, polled(100, "n4", follower, 1)),
			in(b, polled(100, "n2", leader, 2)),
			in(a, polled(400, "n4", leader, 3)), // takeover: a new epoch, no vote
			in(a, polled(700, "n1", follower, 3)),
		})
		g := tl.Group(a)
		l, _ := g.LeaderAt(300)
		assert.Equal(t, "n1", l)
		l, term := g.LeaderAt(500)
		assert.Equal(t, "n4", l, "the higher epoch leads")
		assert.Equal(t, int64(3), term)
		assert.Equal(t, []Window{{From: 400, To: 700, Nodes: []string{"n1", "n4"}, Terms: []int64{1, 3}}}, g.Contested)
		assert.Empty(t, tl.Group(b).Contested)
		assert.Equal(t, []Reign{
			{Node: "n4", Role: follower, Term: 1, Group: a, From: 100, To: 400, Source: rundir.SourceObserver},
			{Node: "n4", Role: leader, Term: 3, Group: a, From: 400, To: 1000, Source: rundir.SourceObserver, Open: true},
		}, tl.Reigns["n4"])
	})
	t.Run("a node that moves to another group leaves its claim behind", func(t *testing.T) {
		tl := New([]history.Op{end(1000)}, []history.Event{
			in(a, polled(100, "n1", leader, 5)),
			in(b, polled(100, "n2", leader, 2)),
			in(b, polled(300, "n1", follower, 2)),
		})
		l, _ := tl.Group(a).LeaderAt(500)
		assert.Empty(t, l, "nobody left leads a")
		assert.Equal(t, []Window{{From: 0, To: 100}, {From: 300, To: 1000, Open: true}}, tl.Group(a).Leaderless)
		l, _ = tl.Group(b).LeaderAt(500)
		assert.Equal(t, "n2", l, "n1's term 5 in a makes no leader of b stale")
		assert.Equal(t, []Reign{
			{Node: "n1", Role: leader, Term: 5, Group: a, From: 100, To: 300, Source: rundir.SourceObserver},
			{Node: "n1", Role: follower, Term: 2, Group: b, From: 300, To: 1000, Source: rundir.SourceObserver, Open: true},
		}, tl.Reigns["n1"])
	})
	t.Run("two masters of one epoch in one group", func(t *testing.T) {
		tl := New([]history.Op{end(1000)}, []history.Event{
			in(a, polled(100, "n1", leader, 4)),
			in(a, polled(200, "n4", leader, 4)),
		})
		assert.Equal(t, []Window{{From: 200, To: 1000, Open: true, Nodes: []string{"n1", "n4"}, Terms: []int64{4}, SameTerm: true}}, tl.Group(a).Contested)
	})
}
