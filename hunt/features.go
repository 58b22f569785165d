package hunt

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// The behaviour a trial showed (Behaviour): a set of feature names, which
// the guided hunt rewards when they are new to the hunt, and its
// split-brain exposure, which it rewards however often it was seen. Both
// are read from the trial's run directory through timeline.New, the one
// replay of a run, so that the hunt and the checkers see the same run.
// Durations and counts are bucketed (powers of two) so that "new" means a
// new kind of behaviour, not a new number. The set, by prefix:
//
//	term:ROLE>ROLE:DELTA       a node's reign changed role and term (DELTA: 0, +1, +2.., -)
//	handover:SAME|OTHER:DELTA  one leader span to the next: the same node or another, term delta
//	leaderless:DUR             a window with no leader, by length (<250ms, <500ms, ... >=8s)
//	leaderless-count:N         how many such windows the trial had
//	contested:N:SAME|STALE:DUR a window with N claimants, in one term or with stale claims
//	info:F:N                   indeterminate (info) client operations of kind F, how many
//	info-during:KIND           an info operation while a fault of KIND was in force
//	lease-gap:DUR              the gap from one node's lease to the next node's
//	fault:KIND:TARGET:STATE    a fault began on the leader / another node / the cluster,
//	                           while a leader was known or none
//	overlap:KIND+KIND          two faults in force at once
const (
	bucketUnit = 250 * time.Millisecond
)

// Behaviour is what one trial showed.
type Behaviour struct {
	// Features are its kinds of behaviour, sorted.
	Features []string
	// Exposure is its longest window in which two or more running nodes
	// claimed to lead one group (timeline's Exposed): a split brain's
	// exposure, when a deposed leader can still act. Novelty alone
	// cannot steer towards it: a stale leader that acts is a common
	// behaviour, seen once early in a hunt, which some bugs need at many
	// timings before one shows.
	Exposure time.Duration
}

// Observe reads the run directory dir and returns its behaviour.
func Observe(dir string) (Behaviour, error) {
	ops, _, err := history.ReadFile(filepath.Join(dir, rundir.HistoryFile))
	if err != nil {
		return Behaviour{}, fmt.Errorf("behaviour of %s: %w", dir, err)
	}
	events, _, err := history.ReadEventsFile(filepath.Join(dir, rundir.EventsFile))
	if err != nil {
		return Behaviour{}, fmt.Errorf("behaviour of %s: %w", dir, err)
	}
	return BehaviourOf(ops, events), nil
}

// BehaviourOf is Observe on a history and its events.
func BehaviourOf(ops []history.Op, events []history.Event) Behaviour {
	tl := timeline.New(ops, events)
	var exposure int64
	for _, g := range tl.Groups {
		for _, w := range g.Exposed {
			exposure = max(exposure, w.Duration())
		}
	}
	return Behaviour{Features: features(tl, ops, events), Exposure: time.Duration(exposure)}
}

// features are the kinds of behaviour of a replayed run, sorted.
func features(tl *timeline.Timeline, ops []history.Op, events []history.Event) []string {
	set := map[string]bool{}
	add := func(f string, a ...any) { set[fmt.Sprintf(f, a...)] = true }

	for _, rs := range tl.Reigns {
		for i := 1; i < len(rs); i++ {
			add("term:%s>%s:%s", rs[i-1].Role, rs[i].Role, delta(rs[i].Term-rs[i-1].Term))
		}
	}
	for i := 1; i < len(tl.Leaders); i++ {
		who := "other"
		if tl.Leaders[i].Node == tl.Leaders[i-1].Node {
			who = "same"
		}
		add("handover:%s:%s", who, delta(tl.Leaders[i].Term-tl.Leaders[i-1].Term))
	}
	n := 0
	for _, w := range tl.Leaderless {
		if w.From == 0 {
			continue // the start of every run
		}
		n++
		add("leaderless:%s", durBucket(w.Duration()))
	}
	if n > 0 {
		add("leaderless-count:%s", countBucket(n))
	}
	for _, w := range tl.Contested {
		kind := "stale"
		if w.SameTerm {
			kind = "same"
		}
		add("contested:%d:%s:%s", len(w.Nodes), kind, durBucket(w.Duration()))
	}

	info := map[string]int{}
	for _, op := range ops {
		if op.Process == history.Nemesis || op.Type != history.Info {
			continue
		}
		info[op.F]++
		for _, f := range tl.Faults {
			if !f.Point && f.Start <= op.Time && op.Time <= f.End {
				add("info-during:%s", f.Kind)
			}
		}
	}
	for f, c := range info {
		add("info:%s:%s", f, countBucket(c))
	}

	leaseGaps(events, add)

	for i, f := range tl.Faults {
		if f.Point {
			continue
		}
		leader, _ := tl.LeaderAt(f.Start - 1)
		target := "cluster"
		switch {
		case f.Node != "" && f.Node == leader:
			target = "leader"
		case f.Node != "":
			target = "other"
		}
		state := "led"
		if leader == "" {
			state = "leaderless"
		}
		add("fault:%s:%s:%s", f.Kind, target, state)
		for _, g := range tl.Faults[i+1:] {
			if !g.Point && g.Start < f.End && f.Start < g.End && g.Node != f.Node {
				pair := []string{f.Kind, g.Kind}
				sort.Strings(pair)
				add("overlap:%s+%s", pair[0], pair[1])
			}
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// leaseGaps adds the gap between each lease and the next one of another
// node, the closest a run came to two leases overlapping.
func leaseGaps(events []history.Event, add func(string, ...any)) {
	type lease struct {
		node        string
		from, until int64
	}
	var ls []lease
	for _, ev := range events {
		if ev.Event == rundir.EventLease && ev.Until > ev.From {
			ls = append(ls, lease{ev.Node, ev.From, ev.Until})
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].from < ls[j].from })
	var last *lease // the latest-ending lease so far
	for i := range ls {
		l := &ls[i]
		if last != nil && last.node != l.node {
			if gap := l.from - last.until; gap < 0 {
				add("lease-gap:overlap")
			} else {
				add("lease-gap:%s", durBucket(gap))
			}
		}
		if last == nil || l.until >= last.until {
			last = l
		}
	}
}

func delta(d int64) string {
	switch {
	case d < 0:
		return "-"
	case d == 0:
		return "0"
	case d == 1:
		return "+1"
	}
	return "+2.."
}

// durBucket names the power-of-two bucket of a duration in nanoseconds.
func durBucket(ns int64) string {
	b := bucketUnit
	for time.Duration(ns) >= b && b < 8*time.Second {
		b *= 2
	}
	if time.Duration(ns) >= b {
		return ">=" + b.String()
	}
	return "<" + b.String()
}

func countBucket(n int) string {
	switch {
	case n <= 1:
		return "1"
	case n < 4:
		return "2-3"
	case n < 8:
		return "4-7"
	case n < 16:
		return "8-15"
	}
	return "16+"
}
