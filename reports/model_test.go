package reports

import (
	"strings"
	"testing"

	"github.com/splitbrain/splitbrain/history"
)

func nem(t int64, f, node string, v any) history.Op {
	op := history.Op{Time: t, Process: history.Nemesis, Type: history.Info, F: f, Node: node}
	if v != nil {
		op.Value = history.RawValue(v)
	}
	return op
}

func TestExtractFaults(t *testing.T) {
	ops := []history.Op{
		nem(10, "start-partition", "", map[string]any{"kind": "isolate-leader", "groups": [][]string{{"n1"}, {"n2", "n3"}}, "nodes": []string{"n1"}}),
		nem(11, "start-partition", "", map[string]any{"groups": [][]string{{"n1"}, {"n2", "n3"}}}), // logged twice: one fault
		nem(20, "kill", "", map[string]any{"nodes": []string{"n2", "n3"}}),
		nem(30, "stop-partition", "", nil),
		nem(40, "start", "", map[string]any{"nodes": []string{"n2"}}),
		nem(50, "clock-bump", "", map[string]any{"nodes": []string{"n1"}, "offset_ms": -400}),
		nem(55, "resume", "n9", nil), // nothing paused: dropped
		nem(60, "clock-reset", "", nil),
		nem(70, "shuffle-leaders", "", nil), // unknown: kept as a point
	}
	got := extractFaults(ops, 100)
	type want struct {
		kind, node string
		start, end int64
		open       bool
		point      bool
		label      string
	}
	wants := []want{
		{kindPartition, "", 10, 30, false, false, "partition n1 | n2 n3"},
		{kindKill, "n2", 20, 40, false, false, "kill n2"},
		{kindKill, "n3", 20, 100, true, false, "kill n3"},
		{kindClock, "n1", 50, 60, false, false, `clock-bump n1 {"offset_ms":-400}`},
		{"shuffle-leaders", "", 70, 70, false, true, "shuffle-leaders"},
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d faults, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Kind != w.kind || g.Node != w.node || g.Start != w.start || g.End != w.end || g.Open != w.open || g.Point != w.point || g.Label != w.label {
			t.Errorf("fault %d: got %+v, want %+v", i, g, w)
		}
	}
}

func role(t int64, node, r string, term int64) history.Event {
	return history.Event{Time: t, Node: node, Event: history.EventRole, Role: r, Term: term}
}

func TestLeaderWindows(t *testing.T) {
	events := []history.Event{
		role(0, "n1", "follower", 0),
		role(100, "n1", "leader", 1),
		role(200, "n2", "leader", 2), // n1 is stale: two leaders, different terms
		role(300, "n1", "follower", 2),
		role(400, "n2", "follower", 2), // clean handover at 400: neither two nor none
		role(400, "n3", "leader", 3),
		role(500, "n1", "leader", 3), // the bug: same term
		role(600, "n1", "follower", 3),
		role(600, "n3", "follower", 3), // no leader from 600
		role(800, "n2", "leader", 4),
		role(900, "n2", "leader", 4), // a repeated report does not split the reign
	}
	kills := []fault{{Kind: kindKill, Node: "n2", Start: 950, End: 1000, Open: true}}
	segs := roleSegments(events, kills, 1000)
	multi, none := leaderWindows(segs, 1000)
	if len(multi) != 2 {
		t.Fatalf("multi-leader windows: %+v", multi)
	}
	if m := multi[0]; m.From != 200 || m.To != 300 || m.SameTerm || strings.Join(m.Nodes, ",") != "n1,n2" {
		t.Errorf("stale-leader window: %+v", m)
	}
	if m := multi[1]; m.From != 500 || m.To != 600 || !m.SameTerm {
		t.Errorf("same-term window: %+v", m)
	}
	// Before the first leader, between 600 and 800, and after the kill at 950.
	wantNone := [][2]int64{{0, 100}, {600, 800}, {950, 1000}}
	if len(none) != len(wantNone) {
		t.Fatalf("leaderless windows: %+v", none)
	}
	for i, w := range wantNone {
		if none[i].From != w[0] || none[i].To != w[1] {
			t.Errorf("leaderless window %d: %+v, want %v", i, none[i], w)
		}
	}
	if !none[2].Open {
		t.Error("the window at the end of the run is not marked open")
	}
	var n2 []segment
	for _, s := range segs["n2"] {
		if s.Role == roleLeader && s.Term == 4 {
			n2 = append(n2, s)
		}
	}
	if len(n2) != 1 || n2[0].End != 950 {
		t.Errorf("n2's term-4 reign: %+v, want one span cut by the kill at 950", n2)
	}
}

func TestLayoutLatencyThinsButCountsExactly(t *testing.T) {
	var ops []history.Operation
	for i := range 50_000 {
		typ := history.OK
		switch i % 50 {
		case 0:
			typ = history.Fail
		case 1:
			typ = history.Info
		}
		call := int64(i) * 1000
		ops = append(ops, history.Operation{Type: typ, Call: call, Completed: call + int64(500_000+(i*7919)%5_000_000)})
	}
	lp := layoutLatency(ops, scale{end: 50_000*1000 + 6_000_000}, nil)
	if lp.OK != 48_000 || lp.Fail != 1000 || lp.Info != 1000 || lp.Total != 50_000 {
		t.Errorf("counts ok %d fail %d info %d total %d", lp.OK, lp.Fail, lp.Info, lp.Total)
	}
	if lp.Drawn > maxPoints || lp.Drawn == 0 {
		t.Errorf("%d points drawn, want 1..%d", lp.Drawn, maxPoints)
	}
	bad := 0
	for _, p := range lp.Points {
		if p.Type != history.OK {
			bad++
		}
	}
	if bad < 500 {
		t.Errorf("only %d failure points kept of 2000", bad)
	}
}

func TestPendingOpsDrawnOnTop(t *testing.T) {
	ops := []history.Op{
		{Index: 0, Time: 0, Process: 0, Type: history.Invoke, F: "write", Key: "x", Value: history.IntValue(1)},
		{Index: 1, Time: 5_000_000, Process: 0, Type: history.OK, F: "write", Key: "x", Value: history.IntValue(1)},
		{Index: 2, Time: 6_000_000, Process: 1, Type: history.Invoke, F: "read", Key: "x"},
		{Index: 3, Time: 9_000_000, Process: history.Nemesis, Type: history.Info, F: "kill", Node: "n1"},
	}
	r := &run{Ops: ops, Operations: history.Operations(ops), End: 9_000_000}
	pending := pendingOps(r)
	if len(pending) != 1 || !pending[2] {
		t.Fatalf("pending: %v, want the read at index 2", pending)
	}
	lp := layoutLatency(r.Operations, scale{end: r.End}, pending)
	if lp.OK != 1 || lp.Info != 1 || lp.Pending != 1 {
		t.Errorf("counts ok %d info %d pending %d", lp.OK, lp.Info, lp.Pending)
	}
	for _, p := range lp.Points {
		if p.Type == history.Info && p.Y != latTop {
			t.Errorf("the pending read is drawn at y %.1f, not on the top edge", p.Y)
		}
	}
}

func TestObserverPollsDoNotInventLeaders(t *testing.T) {
	ev := func(tm int64, node, r string, term int64, src string) history.Event {
		e := role(tm, node, r, term)
		e.Source = src
		return e
	}
	events := []history.Event{
		ev(0, "n1", "leader", 1, "node"),
		ev(100, "n1", "follower", 2, "node"),
		ev(100, "n2", "leader", 2, "node"),
		ev(105, "n1", "leader", 1, "observer"),   // a poll answered just before the step-down
		ev(110, "n3", "follower", 2, "observer"), // n3 only polled: kept
	}
	segs := roleSegments(events, nil, 200)
	multi, _ := leaderWindows(segs, 200)
	if len(multi) != 0 {
		t.Errorf("an observer's stale poll made a two-leader window: %+v", multi)
	}
	if len(segs["n3"]) != 1 {
		t.Errorf("n3, seen only by the observer, has segments %+v", segs["n3"])
	}
}
