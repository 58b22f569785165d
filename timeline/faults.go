package timeline

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

// Fault is one thing the nemesis did: an interval from the entry that
// began it to the one that ended it, or a point for an entry this package
// does not know (kept, so that no fault goes unseen).
type Fault struct {
	Kind       rundir.Kind
	F          rundir.Fault // the entry that began it
	Label      string       // for a person: what, and to whom
	Node       string       // the target; "" for a cluster-wide fault
	Start, End int64
	Open       bool // never stopped: it lasts to the end of the run
	Point      bool // an entry with no duration
}

// action is what a known nemesis f does to the faults in force.
type action struct {
	kind    rundir.Kind
	begins  bool
	perNode bool // a fault per target (a partition is one fault for all)
}

var actions = map[rundir.Fault]action{
	rundir.StartPartition: {rundir.KindPartition, true, false},
	rundir.StopPartition:  {rundir.KindPartition, false, false},
	rundir.Kill:           {rundir.KindKill, true, true},
	rundir.Start:          {rundir.KindKill, false, false},
	rundir.Pause:          {rundir.KindPause, true, true},
	rundir.Resume:         {rundir.KindPause, false, false},
	rundir.ClockBump:      {rundir.KindClock, true, true},
	rundir.ClockStrobe:    {rundir.KindClock, true, true},
	rundir.ClockReset:     {rundir.KindClock, false, false},
	rundir.StartNetem:     {rundir.KindNetem, true, true},
	rundir.StopNetem:      {rundir.KindNetem, false, false},
	rundir.StartTakeover:  {rundir.KindTakeover, true, false},
	rundir.StopTakeover:   {rundir.KindTakeover, false, false},
}

// faults pairs the nemesis entries of a history into faults (see
// docs/run-format.md). A second start of something already in force is
// ignored, because a nemesis may log both its intent and its completion; a
// stop with nothing in force is dropped.
func faults(ops []history.Op, end int64) []Fault {
	type key struct {
		kind rundir.Kind
		node string
	}
	var out []Fault
	open := map[key]int{} // -> index in out
	begin := func(op history.Op, kind rundir.Kind, node string) {
		k := key{kind, node}
		if _, ok := open[k]; ok {
			return
		}
		open[k] = len(out)
		out = append(out, Fault{Kind: kind, F: rundir.Fault(op.F), Label: label(op, node), Node: node, Start: op.Time, End: end, Open: true})
	}
	stop := func(op history.Op, kind rundir.Kind, nodes []string) {
		var keys []key
		for k := range open {
			if k.kind == kind && (len(nodes) == 0 || slices.Contains(nodes, k.node)) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 && len(nodes) > 0 { // a node-less fault stopped by naming a node
			if _, ok := open[key{kind, ""}]; ok {
				keys = append(keys, key{kind, ""})
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
		a, known := actions[rundir.Fault(op.F)]
		nodes := op.Targets()
		switch {
		case !known:
			out = append(out, Fault{Kind: rundir.Kind(op.F), F: rundir.Fault(op.F), Label: label(op, op.Node), Node: op.Node, Start: op.Time, End: op.Time, Point: true})
		case !a.begins:
			stop(op, a.kind, nodes)
		case !a.perNode || len(nodes) == 0:
			begin(op, a.kind, "")
		default:
			for _, n := range nodes {
				begin(op, a.kind, n)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// label describes a nemesis entry in a few words: a partition by its
// groups, anything else by its name, node and (shortened) value.
func label(op history.Op, node string) string {
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
	l := name
	if node != "" {
		l += " " + node
	}
	if v := valueText(op.Value); v != "" {
		l += " " + v
	}
	return l
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
