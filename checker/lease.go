package checker

import (
	"fmt"
	"sort"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

// Lease is an interval of true time in which a node held a lease.
type Lease struct {
	Node  string `json:"node"`
	Term  int64  `json:"term"`
	From  int64  `json:"from"`
	Until int64  `json:"until"`
}

// LeaseOverlap is two nodes' leases holding at once.
type LeaseOverlap struct {
	First   Lease `json:"first"`  // the earlier-starting lease
	Second  Lease `json:"second"` // the later one, starting inside First
	Overlap int64 `json:"overlap_ns"`
}

// LeaseDetails is lease-safety's evidence.
type LeaseDetails struct {
	Overlaps []LeaseOverlap `json:"overlaps"`
}

// LeaseSafety checks that no two nodes' leases overlap in true time. A node
// extending its own lease overlaps itself, which is fine.
func LeaseSafety(events []history.Event) Result {
	var leases []Lease
	for _, ev := range events {
		if ev.Event == rundir.EventLease {
			leases = append(leases, Lease{Node: ev.Node, Term: ev.Term, From: ev.From, Until: ev.Until})
		}
	}
	r := Result{Name: NameLeaseSafety}
	if len(leases) == 0 {
		r.Verdict, r.Summary = Skipped, "no node took a lease: not applicable"
		return r
	}
	sort.Slice(leases, func(i, j int) bool { return leases[i].From < leases[j].From })
	// Sweep in order of start, remembering the two latest-ending earlier
	// leases of distinct nodes: one of them is the best witness of an
	// overlap with any later lease.
	var best, second *Lease
	var overlaps []LeaseOverlap
	for i := range leases {
		l := &leases[i]
		w := best
		if w != nil && w.Node == l.Node {
			w = second
		}
		if w != nil && w.Until > l.From {
			overlaps = append(overlaps, LeaseOverlap{First: *w, Second: *l, Overlap: min(w.Until, l.Until) - l.From})
		}
		switch {
		case best == nil || l.Until > best.Until:
			if best != nil && best.Node != l.Node {
				second = best
			}
			best = l
		case l.Node != best.Node && (second == nil || l.Until > second.Until):
			second = l
		}
	}
	if len(overlaps) == 0 {
		r.Verdict, r.Summary = Valid, fmt.Sprintf("%d leases, none overlapping another node's", len(leases))
		return r
	}
	o := overlaps[0]
	r.Verdict = Invalid
	r.Summary = fmt.Sprintf("%d lease overlap(s); first: %s (term %d) and %s (term %d) both held a lease for %.1f ms from %s",
		len(overlaps), o.First.Node, o.First.Term, o.Second.Node, o.Second.Term, float64(o.Overlap)/1e6, formatTime(o.Second.From))
	r.Details = LeaseDetails{Overlaps: overlaps}
	return r
}
