package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// Shard is one group of an agreed map: its leader in its term, and the
// nodes that follow it.
type Shard struct {
	Group     string   `json:"group"`
	Leader    string   `json:"leader"`
	Term      int64    `json:"term"`
	Followers []string `json:"followers"`
}

// ConvergenceDetails is convergence's evidence.
type ConvergenceDetails struct {
	HealedAt int64 `json:"healed_at"` // the last nemesis entry; 0 without faults
	Bound    int64 `json:"bound_ns"`
	// AgreedAt is the first time from HealedAt at which the nodes' roles
	// agreed on one slot-to-master map (Shards); -1 if never.
	AgreedAt int64   `json:"agreed_at"`
	Shards   []Shard `json:"shards,omitempty"`
	// OKAt is the first time from HealedAt at which every node's view of
	// the cluster said cluster_state ok with one and the same slot map
	// (SlotMap); -1 if never. Views counts the views recorded after
	// HealedAt.
	OKAt    int64  `json:"ok_at"`
	SlotMap string `json:"slot_map,omitempty"`
	Views   int    `json:"views"`
	// Why says what kept it from converging, when it did not.
	Why string `json:"why,omitempty"`
}

// Convergence checks what Redis Cluster promises after a fault heals:
// within bound of the last fault healing (the last nemesis entry; or of
// the first role report, when that is later: the harness formed the
// cluster before the observer started), every node agrees on which master serves which slots, and the cluster reports
// ok.
//
// Agreement is read from the nodes' roles on the timeline (the observer's
// polls): every node in a group, each group led by one node with every
// other node of it following in the leader's term (a replica reports its
// master's epoch and slots), the groups disjoint and together every slot.
// The cluster's state is read from the nodes' own views (cluster events,
// recorded in the final phase): every node says ok, with one slot map.
// Both must come; agreement within bound.
func Convergence(tl *timeline.Timeline, events []history.Event, bound time.Duration) Result {
	r := Result{Name: NameConvergence}
	if len(tl.Reports) == 0 {
		r.Verdict, r.Summary = Unknown, noRoles
		return r
	}
	healed, _ := watchedFrom(tl)
	d := ConvergenceDetails{HealedAt: healed, Bound: int64(bound), AgreedAt: -1, OKAt: -1}
	nodes := slices.Sorted(func(yield func(string) bool) {
		for n := range tl.Reigns {
			if !yield(n) {
				return
			}
		}
	})
	// The instants at which some node's reign begins or ends, from the heal.
	times := []int64{healed}
	for _, rs := range tl.Reigns {
		for _, rg := range rs {
			for _, t := range []int64{rg.From, rg.To} {
				if t > healed {
					times = append(times, t)
				}
			}
		}
	}
	slices.Sort(times)
	times = slices.Compact(times)
	why := "no node reported a role after the heal"
	for _, t := range times {
		shards, w := agreed(tl, nodes, t)
		if w == "" {
			d.AgreedAt, d.Shards = t, shards
			break
		}
		why = fmt.Sprintf("at %s: %s", formatTime(t), w)
	}
	okAt, slotMap, views, whyViews := clusterOK(events, nodes, healed)
	d.OKAt, d.SlotMap, d.Views = okAt, slotMap, views
	long := tl.End-healed >= int64(bound)
	switch {
	case d.AgreedAt < 0 && long:
		d.Why = why
		r.Verdict, r.Summary = Invalid, fmt.Sprintf("the nodes never agreed on the slot-to-master map after the last fault healed at %s (last: %s)", formatTime(healed), why)
	case d.AgreedAt < 0:
		d.Why = why
		r.Verdict, r.Summary = Unknown, fmt.Sprintf("no agreement yet, but the run ended %.2fs after the last fault healed, before the %s bound (%s)", float64(tl.End-healed)/1e9, bound, why)
	case d.AgreedAt-healed > int64(bound):
		r.Verdict, r.Summary = Invalid, fmt.Sprintf("the nodes agreed on the slot-to-master map only %.2fs after the last fault healed (bound %s)", float64(d.AgreedAt-healed)/1e9, bound)
	case views == 0:
		d.Why = "no view of the cluster was recorded after the heal"
		r.Verdict, r.Summary = Unknown, fmt.Sprintf("the nodes agreed on the slot-to-master map %.2fs after the last fault healed, but no node's view of the cluster state was recorded", float64(d.AgreedAt-healed)/1e9)
	case okAt < 0:
		d.Why = whyViews
		r.Verdict, r.Summary = Invalid, fmt.Sprintf("the nodes agreed on the slot-to-master map %.2fs after the last fault healed, but never all reported cluster_state ok with one slot map (%s)", float64(d.AgreedAt-healed)/1e9, whyViews)
	default:
		r.Verdict, r.Summary = Valid, fmt.Sprintf("every node agreed on the slot-to-master map %.2fs after the last fault healed (bound %s), and all %d reported cluster_state ok with one slot map at %s: %s",
			float64(d.AgreedAt-healed)/1e9, bound, len(nodes), formatTime(okAt), slotMap)
	}
	r.Details = d
	return r
}

// agreed reads the nodes' reigns at t as a slot-to-master map, or says
// why they do not make one.
func agreed(tl *timeline.Timeline, nodes []string, t int64) ([]Shard, string) {
	byGroup := map[string]*Shard{}
	var groups []string
	terms := map[string]map[int64][]string{} // group -> term -> followers
	for _, n := range nodes {
		i := slices.IndexFunc(tl.Reigns[n], func(r timeline.Reign) bool { return r.From <= t && (t < r.To || (r.Open && t <= r.To)) })
		if i < 0 {
			return nil, n + " reports no role (down, or not answering)"
		}
		rg := tl.Reigns[n][i]
		if rg.Group == "" {
			return nil, fmt.Sprintf("%s is %s in no shard", n, rg.Role)
		}
		if byGroup[rg.Group] == nil {
			byGroup[rg.Group] = &Shard{Group: rg.Group, Followers: []string{}}
			terms[rg.Group] = map[int64][]string{}
			groups = append(groups, rg.Group)
		}
		s := byGroup[rg.Group]
		switch rg.Role {
		case rundir.RoleLeader:
			if s.Leader != "" {
				return nil, fmt.Sprintf("%s and %s both lead %s", s.Leader, n, rg.Group)
			}
			s.Leader, s.Term = n, rg.Term
		case rundir.RoleFollower:
			terms[rg.Group][rg.Term] = append(terms[rg.Group][rg.Term], n)
		default:
			return nil, fmt.Sprintf("%s is %s in %s", n, rg.Role, rg.Group)
		}
	}
	sort.Strings(groups)
	var out []Shard
	covered := 0
	for i, g := range groups {
		s := byGroup[g]
		if s.Leader == "" {
			return nil, "nobody leads " + g
		}
		for term, fs := range terms[g] {
			if term != s.Term {
				return nil, fmt.Sprintf("%s follow %s in epoch %d, its master %s is in %d", strings.Join(fs, ", "), g, term, s.Leader, s.Term)
			}
			s.Followers = append(s.Followers, fs...)
		}
		sort.Strings(s.Followers)
		for _, h := range groups[i+1:] {
			if timeline.Overlap(g, h) {
				return nil, fmt.Sprintf("shards %s and %s share slots", g, h)
			}
		}
		rs, ok := timeline.Slots(g)
		if !ok {
			return nil, fmt.Sprintf("group %q is not a set of slots", g)
		}
		for _, r := range rs {
			covered += min(r.Hi, redisSlots-1) - r.Lo + 1
		}
		out = append(out, *s)
	}
	if covered != redisSlots {
		return nil, fmt.Sprintf("the shards serve %d of the %d slots", covered, redisSlots)
	}
	return out, ""
}

// clusterOK finds the first time from healed at which every node's latest
// cluster view said ok with one slot map; -1 if never, with why not.
func clusterOK(events []history.Event, nodes []string, healed int64) (at int64, slotMap string, views int, why string) {
	var vs []history.Event
	for _, ev := range events {
		if ev.Event == rundir.EventCluster && ev.Time >= healed {
			vs = append(vs, ev)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Time < vs[j].Time })
	latest := map[string]history.Event{}
	why = "no node's view was recorded"
	for i, ev := range vs {
		latest[ev.Node] = ev
		if i+1 < len(vs) && vs[i+1].Time == ev.Time {
			continue // the views of one instant together
		}
		w := ""
		for _, n := range nodes {
			v, ok := latest[n]
			switch {
			case !ok:
				w = n + " gave no view"
			case v.State != rundir.ClusterOK:
				w = fmt.Sprintf("%s says cluster_state %s", n, v.State)
			case v.SlotMap != latest[nodes[0]].SlotMap:
				w = fmt.Sprintf("%s and %s see different slot maps (%s; %s)", nodes[0], n, latest[nodes[0]].SlotMap, v.SlotMap)
			}
			if w != "" {
				break
			}
		}
		if w == "" {
			return ev.Time, ev.SlotMap, len(vs), ""
		}
		why = w
	}
	return -1, "", len(vs), why
}
