package checker

import (
	"fmt"
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

// TermViolation is a term that more than one node claimed to lead.
type TermViolation struct {
	Term   int64         `json:"term"`
	Claims []LeaderClaim `json:"claims"`
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
func ElectionSafety(tl *timeline.Timeline) Result {
	first := map[int64]map[string]int64{} // term -> node -> first claim
	for _, rep := range tl.Reports {
		if rep.Role != rundir.RoleLeader {
			continue
		}
		nodes := first[rep.Term]
		if nodes == nil {
			nodes = map[string]int64{}
			first[rep.Term] = nodes
		}
		if t, ok := nodes[rep.Node]; !ok || rep.Time < t {
			nodes[rep.Node] = rep.Time
		}
	}
	r := Result{Name: NameElectionSafety}
	if len(tl.Reports) == 0 {
		r.Verdict, r.Summary = Unknown, noRoles
		return r
	}
	var violations []TermViolation
	for term, nodes := range first {
		if len(nodes) < 2 {
			continue
		}
		v := TermViolation{Term: term}
		for n, t := range nodes {
			v.Claims = append(v.Claims, LeaderClaim{Node: n, Time: t})
		}
		sort.Slice(v.Claims, func(i, j int) bool {
			if v.Claims[i].Time != v.Claims[j].Time {
				return v.Claims[i].Time < v.Claims[j].Time
			}
			return v.Claims[i].Node < v.Claims[j].Node
		})
		violations = append(violations, v)
	}
	sort.Slice(violations, func(i, j int) bool { return violations[i].Term < violations[j].Term })
	if len(violations) == 0 {
		r.Verdict = Valid
		r.Summary = fmt.Sprintf("one leader per term across %d terms with a leader", len(first))
		return r
	}
	v := violations[0]
	var names []string
	for _, c := range v.Claims {
		names = append(names, c.Node)
	}
	r.Verdict = Invalid
	r.Summary = fmt.Sprintf("%d term(s) with two or more leaders; first: term %d led by %s", len(violations), v.Term, strings.Join(names, " and "))
	r.Details = ElectionDetails{Violations: violations}
	return r
}

// TermRegression is a node's term going down.
type TermRegression struct {
	Node   string        `json:"node"`
	Source rundir.Source `json:"source,omitempty"`
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
// ordered, but their stamps race each other by a few milliseconds.
func TermMonotonic(tl *timeline.Timeline) Result {
	type stream struct {
		node   string
		source rundir.Source
	}
	last := map[stream]int64{}
	var regressions []TermRegression
	for _, rep := range tl.Reports {
		s := stream{rep.Node, rep.Source}
		if prev, ok := last[s]; ok && rep.Term < prev {
			regressions = append(regressions, TermRegression{Node: rep.Node, Source: rep.Source, From: prev, To: rep.Term, Time: rep.Time})
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
