package checker

import (
	"fmt"
	"time"

	"github.com/splitbrain/splitbrain/timeline"
)

// Window is a stretch of the run with no leader.
type Window struct {
	From     int64 `json:"from"`
	To       int64 `json:"to"`
	Duration int64 `json:"duration_ns"`
	// Open is true when the run ended with no leader.
	Open bool `json:"open,omitempty"`
}

// LivenessDetails is the liveness checker's evidence.
type LivenessDetails struct {
	HealedAt int64    `json:"healed_at"` // time of the last nemesis entry; 0 without faults
	Bound    int64    `json:"bound_ns"`
	LeaderAt int64    `json:"leader_at"` // first time from HealedAt with a leader; -1 if none
	Leader   string   `json:"leader,omitempty"`
	Windows  []Window `json:"windows"`
	// Longest is the longest leaderless window, for the summary.
	Longest int64 `json:"longest_ns"`
	// Groups, for a system that leads per group, is each group's; the
	// fields above are then the last group's to get a leader (LeaderAt -1
	// when one got none), and Windows every group's.
	Groups []GroupLiveness `json:"groups,omitempty"`
}

// GroupLiveness is one group's leader after the heal and its leaderless
// windows.
type GroupLiveness struct {
	Group    string   `json:"group"`
	LeaderAt int64    `json:"leader_at"`
	Leader   string   `json:"leader,omitempty"`
	Windows  []Window `json:"windows"`
	Longest  int64    `json:"longest_ns"`
}

// Liveness checks that there is a leader within bound of the last fault
// healing (the last nemesis entry; unknown when a fault never healed), by the timeline's rule for who leads
// (timeline.Leader), and lists every leaderless window. A leader elected
// before the heal need not say anything new; a killed or paused one does
// not count. For a system that leads per group, every group some node is
// in at the end must have one (the group "", of nodes that lead and follow
// no shard, is no group then).
func Liveness(tl *timeline.Timeline, bound time.Duration) Result {
	r := livenessOf(tl, bound)
	// A fault still in force at the end (a harness killed mid-fault) never
	// healed: there is no recovery to judge, whatever the leaders did.
	for _, f := range tl.Faults {
		if f.Open && !f.Point && r.Verdict != Unknown {
			r.Verdict = Unknown
			r.Summary = fmt.Sprintf("%s, begun at %s, never healed in the history (a run cut short?): no recovery to judge",
				f.Label, formatTime(f.Start))
			break
		}
	}
	return r
}

// livenessOf is Liveness taking watchedFrom as the heal.
func livenessOf(tl *timeline.Timeline, bound time.Duration) Result {
	r := Result{Name: NameLiveness}
	if len(tl.Reports) == 0 {
		r.Verdict, r.Summary = Unknown, noRoles
		return r
	}
	healed, since := watchedFrom(tl)
	if len(tl.Groups) == 1 {
		g := groupLiveness(tl.Groups[0], healed)
		d := LivenessDetails{HealedAt: healed, Bound: int64(bound), LeaderAt: g.LeaderAt, Leader: g.Leader, Windows: g.Windows, Longest: g.Longest}
		r.Details = d
		r.Verdict, r.Summary = livenessVerdict(tl, healed, since, g, bound, "")
		return r
	}
	d := LivenessDetails{HealedAt: healed, Bound: int64(bound), LeaderAt: -1, Windows: []Window{}}
	members := map[string]bool{}
	for _, rs := range tl.Reigns {
		if len(rs) > 0 {
			members[rs[len(rs)-1].Group] = true
		}
	}
	worst := -1
	var worstVerdict Verdict
	var worstSummary string
	rank := map[Verdict]int{Valid: 0, Unknown: 1, Invalid: 2}
	for _, l := range tl.Groups {
		if l.Group == "" || !members[l.Group] {
			continue
		}
		g := groupLiveness(l, healed)
		d.Groups = append(d.Groups, g)
		d.Windows = append(d.Windows, g.Windows...)
		d.Longest = max(d.Longest, g.Longest)
		v, sum := livenessVerdict(tl, healed, since, g, bound, l.Group)
		later := worst >= 0 && (g.LeaderAt < 0 || (d.Groups[worst].LeaderAt >= 0 && g.LeaderAt > d.Groups[worst].LeaderAt))
		if worst < 0 || rank[v] > rank[worstVerdict] || (rank[v] == rank[worstVerdict] && later) {
			worst, worstVerdict, worstSummary = len(d.Groups)-1, v, sum
		}
	}
	if worst < 0 {
		r.Details = d
		r.Verdict, r.Summary = Unknown, "no node is in a group at the end of the run: nothing to judge"
		return r
	}
	d.LeaderAt, d.Leader = d.Groups[worst].LeaderAt, d.Groups[worst].Leader
	r.Details = d
	r.Verdict = worstVerdict
	if worstVerdict == Valid {
		worstSummary = fmt.Sprintf("every one of %d groups had a leader within %s of when %s; last: %s", len(d.Groups), bound, since, worstSummary)
	}
	r.Summary = worstSummary
	return r
}

// groupLiveness is one group's leader from healed and its windows.
func groupLiveness(l *timeline.Leadership, healed int64) GroupLiveness {
	g := GroupLiveness{Group: l.Group, Windows: []Window{}}
	for _, w := range l.Leaderless {
		g.Windows = append(g.Windows, Window{From: w.From, To: w.To, Duration: w.Duration(), Open: w.Open})
		g.Longest = max(g.Longest, w.Duration())
	}
	g.LeaderAt, g.Leader = l.LeaderFrom(healed)
	return g
}

// livenessVerdict judges one group from healed (the moment since names);
// group "" names none (a system with one leader), else the summary names
// it.
func livenessVerdict(tl *timeline.Timeline, healed int64, since string, g GroupLiveness, bound time.Duration, group string) (Verdict, string) {
	in := ""
	if group != "" {
		in = " in " + group
	}
	at := g.LeaderAt
	switch {
	case at >= 0 && at-healed <= int64(bound):
		return Valid, fmt.Sprintf("%s led%s %.2fs after %s; %d leaderless window(s), longest %.2fs",
			g.Leader, in, float64(at-healed)/1e9, since, len(g.Windows), float64(g.Longest)/1e9)
	case at >= 0:
		return Invalid, fmt.Sprintf("no leader%s until %.2fs after %s (bound %s)", in, float64(at-healed)/1e9, since, bound)
	case tl.End-healed < int64(bound):
		return Unknown, fmt.Sprintf("no leader%s yet, but the run ended %.2fs after %s, before the %s bound", in, float64(tl.End-healed)/1e9, since, bound)
	default:
		return Invalid, fmt.Sprintf("no leader%s within %s of when %s, at %s", in, bound, since, formatTime(healed))
	}
}

// watchedFrom is when liveness (and convergence) are judged from, and
// what that moment is: the last fault's heal, or, when later, the first
// client operation (the clients and the nemesis start once a first leader
// is known, so before it is the ensemble starting, which is no fault to
// recover from) or the first role report (a sharded cluster is formed by
// the harness before the observer starts: nothing before its first
// report says anything about it).
func watchedFrom(tl *timeline.Timeline) (int64, string) {
	at, what := tl.LastFault, "the last fault healed"
	if tl.LastFault == 0 {
		what = "the run began"
	}
	if tl.FirstOp > at {
		at, what = tl.FirstOp, "the clients started"
	}
	first := int64(-1)
	for _, r := range tl.Reports {
		if first < 0 || r.Time < first {
			first = r.Time
		}
	}
	if first > at {
		at, what = first, "the first role report"
	}
	return at, what
}
