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
}

// Liveness checks that there is a leader within bound of the last fault
// healing (the last nemesis entry), by the timeline's rule for who leads
// (timeline.Leader), and lists every leaderless window. A leader elected
// before the heal need not say anything new; a killed or paused one does
// not count.
func Liveness(tl *timeline.Timeline, bound time.Duration) Result {
	r := Result{Name: NameLiveness}
	if len(tl.Reports) == 0 {
		r.Verdict, r.Summary = Unknown, noRoles
		return r
	}
	d := LivenessDetails{HealedAt: tl.LastFault, Bound: int64(bound), LeaderAt: -1, Windows: []Window{}}
	for _, w := range tl.Leaderless {
		d.Windows = append(d.Windows, Window{From: w.From, To: w.To, Duration: w.Duration(), Open: w.Open})
		d.Longest = max(d.Longest, w.Duration())
	}
	at, leader := tl.LeaderFrom(tl.LastFault)
	d.LeaderAt, d.Leader = at, leader
	r.Details = d
	switch {
	case at >= 0 && at-tl.LastFault <= int64(bound):
		r.Verdict = Valid
		r.Summary = fmt.Sprintf("%s led %.2fs after the last fault healed; %d leaderless window(s), longest %.2fs",
			leader, float64(at-tl.LastFault)/1e9, len(d.Windows), float64(d.Longest)/1e9)
	case at >= 0:
		r.Verdict = Invalid
		r.Summary = fmt.Sprintf("no leader until %.2fs after the last fault healed (bound %s)", float64(at-tl.LastFault)/1e9, bound)
	case tl.End-tl.LastFault < int64(bound):
		r.Verdict = Unknown
		r.Summary = fmt.Sprintf("no leader yet, but the run ended %.2fs after the last fault healed, before the %s bound", float64(tl.End-tl.LastFault)/1e9, bound)
	default:
		r.Verdict = Invalid
		r.Summary = fmt.Sprintf("no leader within %s of the last fault healing at %s", bound, formatTime(tl.LastFault))
	}
	return r
}
