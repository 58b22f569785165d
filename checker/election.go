package checker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/splitbrain/splitbrain/history"
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

// ElectionSafety checks that no two nodes ever became leader in the same
// term, over the whole run: not only at the same instant, since two leaders
// of one term at different times break the protocol just the same.
func ElectionSafety(events []history.Event) Result {
	first := map[int64]map[string]int64{} // term -> node -> first claim
	roleEvents := 0
	for _, ev := range events {
		if ev.Event != history.EventRole {
			continue
		}
		roleEvents++
		if ev.Role != "leader" {
			continue
		}
		nodes := first[ev.Term]
		if nodes == nil {
			nodes = map[string]int64{}
			first[ev.Term] = nodes
		}
		if t, ok := nodes[ev.Node]; !ok || ev.Time < t {
			nodes[ev.Node] = ev.Time
		}
	}
	r := Result{Name: "election-safety"}
	if roleEvents == 0 {
		r.Verdict, r.Summary = Unknown, "no role events recorded: nothing to judge"
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
		sort.Slice(v.Claims, func(i, j int) bool { return v.Claims[i].Time < v.Claims[j].Time })
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
	r.Details = map[string]any{"violations": violations}
	return r
}

// TermRegression is a node's term going down.
type TermRegression struct {
	Node   string `json:"node"`
	Source string `json:"source,omitempty"`
	From   int64  `json:"from"`
	To     int64  `json:"to"`
	Time   int64  `json:"time"`
}

// TermMonotonic checks that each node's term never decreases, across
// restarts too. Reports from different sources (a node's own stdout, the
// observer's polls) are compared only among themselves: each source is
// ordered, but their stamps race each other by a few milliseconds.
func TermMonotonic(events []history.Event) Result {
	type stream struct{ node, source string }
	last := map[stream]history.Event{}
	var regressions []TermRegression
	n := 0
	for _, ev := range events {
		if ev.Event != history.EventRole {
			continue
		}
		n++
		s := stream{ev.Node, ev.Source}
		if prev, ok := last[s]; ok && ev.Term < prev.Term {
			regressions = append(regressions, TermRegression{Node: ev.Node, Source: ev.Source, From: prev.Term, To: ev.Term, Time: ev.Time})
		}
		last[s] = ev
	}
	r := Result{Name: "term-monotonic"}
	switch {
	case n == 0:
		r.Verdict, r.Summary = Unknown, "no role events recorded: nothing to judge"
	case len(regressions) == 0:
		r.Verdict, r.Summary = Valid, fmt.Sprintf("terms never decreased over %d role reports", n)
	default:
		g := regressions[0]
		r.Verdict = Invalid
		r.Summary = fmt.Sprintf("%d term regression(s); first: %s went from term %d to %d at %s", len(regressions), g.Node, g.From, g.To, formatTime(g.Time))
		r.Details = map[string]any{"regressions": regressions}
	}
	return r
}

// formatTime prints a run-relative time in seconds.
func formatTime(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }
