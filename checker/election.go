package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// LeaderClaim is one node's claim to lead a term, first seen at Time.
type LeaderClaim struct {
	Node string `json:"node"`
	Time int64  `json:"time"`
}

// TermViolation is a term that more than one node claimed to lead: in
// Group, for a system that leads per group, or in groups that share slots
// (Groups then gives each claim's, in the order of Claims).
type TermViolation struct {
	Term   int64         `json:"term"`
	Group  string        `json:"group,omitempty"`
	Groups []string      `json:"groups,omitempty"`
	Claims []LeaderClaim `json:"claims"`
}

// groupClaim is a claim and its group.
type groupClaim struct {
	LeaderClaim
	group string
}

// ElectionDetails is election-safety's evidence.
type ElectionDetails struct {
	Violations []TermViolation `json:"violations"`
}

const noRoles = "no role events recorded: nothing to judge"

// ElectionSafety checks that no two nodes ever became leader in the same
// term, over the whole run: not only at the same instant, since two leaders
// of one term at different times break the protocol just the same. Every
// role report counts, from any source: an observer's poll is the node's
// own answer, so a claim it saw was made.
//
// For a system that leads per group the rule holds per group: two leaders
// of one term in different groups do not conflict, unless the groups share
// a slot (timeline.Overlap): Redis Cluster's "at most one master per slot
// per config epoch", whatever slot ranges each master reports.
func ElectionSafety(tl *timeline.Timeline) Result {
	type claimKey struct {
		term        int64
		node, group string
	}
	first := map[claimKey]int64{}
	for _, rep := range tl.Reports {
		if rep.Role != rundir.RoleLeader {
			continue
		}
		k := claimKey{rep.Term, rep.Node, rep.Group}
		if t, ok := first[k]; !ok || rep.Time < t {
			first[k] = rep.Time
		}
	}
	r := Result{Name: NameElectionSafety}
	if len(tl.Reports) == 0 {
		r.Verdict, r.Summary = Unknown, noRoles
		return r
	}
	byTerm := map[int64][]groupClaim{}
	for k, t := range first {
		byTerm[k.term] = append(byTerm[k.term], groupClaim{LeaderClaim{Node: k.node, Time: t}, k.group})
	}
	var violations []TermViolation
	pairs := 0 // (term, group) claimed
	for term, claims := range byTerm {
		for _, set := range conflicting(claims) {
			pairs++
			nodes := map[string]bool{}
			for _, c := range set {
				nodes[c.Node] = true
			}
			if len(nodes) < 2 {
				continue
			}
			sort.Slice(set, func(i, j int) bool {
				if set[i].Time != set[j].Time {
					return set[i].Time < set[j].Time
				}
				return set[i].Node < set[j].Node
			})
			v := TermViolation{Term: term, Group: set[0].group}
			for _, c := range set {
				v.Claims = append(v.Claims, c.LeaderClaim)
				v.Groups = append(v.Groups, c.group)
			}
			if !slices.ContainsFunc(v.Groups, func(g string) bool { return g != v.Group }) {
				v.Groups = nil // one group: Group says it
			}
			violations = append(violations, v)
		}
	}
	sort.Slice(violations, func(i, j int) bool {
		if violations[i].Term != violations[j].Term {
			return violations[i].Term < violations[j].Term
		}
		return violations[i].Group < violations[j].Group
	})
	grouped := len(tl.Groups) > 1
	if len(violations) == 0 {
		r.Verdict = Valid
		r.Summary = fmt.Sprintf("one leader per term across %d terms with a leader", len(byTerm))
		if grouped {
			r.Summary = fmt.Sprintf("one leader per term in each group (none of two groups sharing a slot): %d terms led across %d groups", pairs, len(tl.Groups))
		}
		return r
	}
	v := violations[0]
	var names []string
	for i, c := range v.Claims {
		n := c.Node
		switch {
		case v.Groups != nil:
			n += " (" + v.Groups[i] + ")"
		case grouped:
			n += " (" + v.Group + ")"
		}
		names = append(names, n)
	}
	r.Verdict = Invalid
	r.Summary = fmt.Sprintf("%d term(s) with two or more leaders; first: term %d led by %s", len(violations), v.Term, strings.Join(names, " and "))
	r.Details = ElectionDetails{Violations: violations}
	return r
}

// conflicting splits one term's claims into sets whose groups conflict:
// the same group, or groups that share a slot, transitively.
func conflicting(claims []groupClaim) [][]groupClaim {
	parent := make([]int, len(claims))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	for i := range claims {
		for j := i + 1; j < len(claims); j++ {
			if timeline.Overlap(claims[i].group, claims[j].group) {
				parent[find(i)] = find(j)
			}
		}
	}
	sets := map[int][]groupClaim{}
	for i, c := range claims {
		sets[find(i)] = append(sets[find(i)], c)
	}
	out := make([][]groupClaim, 0, len(sets))
	for _, s := range sets {
		out = append(out, s)
	}
	return out
}

// TermRegression is a node's term going down.
type TermRegression struct {
	Node   string        `json:"node"`
	Source rundir.Source `json:"source,omitempty"`
	Group  string        `json:"group,omitempty"`
	From   int64         `json:"from"`
	To     int64         `json:"to"`
	Time   int64         `json:"time"`
}

// TermDetails is term-monotonic's evidence.
type TermDetails struct {
	Regressions []TermRegression `json:"regressions"`
}

// TermMonotonic checks that each node's term never decreases, across
// restarts too. Reports from different sources (a node's own stdout, the
// observer's polls) are compared only among themselves: each source is
// ordered, but their stamps race each other by a few milliseconds. For a
// system that leads per group, terms are compared within a group: a
// shard's config epoch only grows, but a node that moves to another shard
// takes that shard's.
func TermMonotonic(tl *timeline.Timeline) Result {
	type stream struct {
		node   string
		source rundir.Source
		group  string
	}
	last := map[stream]int64{}
	var regressions []TermRegression
	for _, rep := range tl.Reports {
		s := stream{rep.Node, rep.Source, rep.Group}
		if prev, ok := last[s]; ok && rep.Term < prev {
			regressions = append(regressions, TermRegression{Node: rep.Node, Source: rep.Source, Group: rep.Group, From: prev, To: rep.Term, Time: rep.Time})
		}
		last[s] = rep.Term
	}
	r := Result{Name: NameTermMonotonic}
	switch {
	case len(tl.Reports) == 0:
		r.Verdict, r.Summary = Unknown, noRoles
	case len(regressions) == 0:
		r.Verdict, r.Summary = Valid, fmt.Sprintf("terms never decreased over %d role reports", len(tl.Reports))
	default:
		g := regressions[0]
		r.Verdict = Invalid
		r.Summary = fmt.Sprintf("%d term regression(s); first: %s went from term %d to %d at %s", len(regressions), g.Node, g.From, g.To, formatTime(g.Time))
		r.Details = TermDetails{Regressions: regressions}
	}
	return r
}

// formatTime prints a run-relative time in seconds.
func formatTime(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }
