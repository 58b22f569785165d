package nodeagent

import (
	"math"
	"time"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

// Skew is a clock skew applied to a node, as the node contract defines it
// (docs/node-contract.md, 3.4): from At (true time) on, the node's clock
// reads At+Offset and advances Rate times as fast as the true clock (0
// freezes it):
//
//	local(t) = At + Offset + Rate*(t-At)
//
// The zero Skew is no skew.
type Skew struct {
	At     time.Time
	Offset time.Duration
	Rate   float64
}

// SkewOf converts the API's form.
func SkewOf(c agentapi.Clock) Skew {
	return Skew{At: c.At, Offset: time.Duration(c.OffsetMS) * time.Millisecond, Rate: c.Rate}
}

// Never is what a reading of a frozen clock (rate 0) that it will never
// reach converts to: far in the future.
const Never = 100 * 365 * 24 * time.Hour

// ToTrue converts a reading of the node's clock (Unix milliseconds) to true
// time, assuming the skew stays as it is. With rate 0 (a frozen clock) a
// reading past the frozen value is never reached: At+Never.
func (s Skew) ToTrue(localMS int64) time.Time {
	local := time.UnixMilli(localMS)
	if s.At.IsZero() {
		return local
	}
	d := local.Sub(s.At) - s.Offset // = Rate*(t-At)
	if s.Rate == 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) || s.Rate < 0 {
		if d <= 0 {
			return s.At
		}
		return s.At.Add(Never)
	}
	// t = At + (local - At - Offset) / Rate
	f := float64(d) / s.Rate
	if f > float64(Never) {
		f = float64(Never)
	} else if f < -float64(Never) {
		f = -float64(Never)
	}
	return s.At.Add(time.Duration(f))
}

// Local converts a true time to the node's clock.
func (s Skew) Local(t time.Time) time.Time {
	if s.At.IsZero() {
		return t
	}
	return s.At.Add(s.Offset + time.Duration(float64(t.Sub(s.At))*s.Rate))
}
