package reports

import (
	"fmt"

	"github.com/splitbrain/splitbrain/timeline"
)

// window is one of the timeline's windows (no leader, or several claiming
// to lead) with the fault most likely behind it. The windows themselves
// come from package timeline, which the checkers read too, so the report
// cannot show a different story from the verdicts.
type window struct {
	timeline.Window
	Cause string // the fault that most likely led to it, if any
	Group string // the group (shard) it is in, for a system that leads per group
}

// withCauses names, for each window, the latest fault that began at most
// lookback before it (or just after: a kill and the loss of the leader are
// stamped by different clocks).
func withCauses(ws []timeline.Window, faults []timeline.Fault) []window {
	const lookback, slack = 10e9, 5e6
	out := make([]window, len(ws))
	for i, w := range ws {
		out[i].Window = w
		var best *timeline.Fault
		for j := range faults {
			f := &faults[j]
			if f.Start <= w.From+slack && f.Start >= w.From-lookback {
				best = f
			}
		}
		if best != nil {
			out[i].Cause = fmt.Sprintf("%s at %s", best.Label, fmtTime(best.Start))
		}
	}
	return out
}
