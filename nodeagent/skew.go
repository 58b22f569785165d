package nodeagent

import (
	"math"
	"time"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

// Skew is a clock skew applied to a node: from At (true time) on, the node's
// clock reads At+Offset and advances Rate times as fast as the true clock:
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

func (s Skew) rate() float64 {
	if s.Rate <= 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) {
		return 1
	}
	return s.Rate
}

// ToTrue converts a reading of the node's clock (Unix milliseconds) to true
// time.
func (s Skew) ToTrue(localMS int64) time.Time {
	local := time.UnixMilli(localMS)
	if s.At.IsZero() {
		return local
	}
	// t = At + (local - At - Offset) / Rate
	d := float64(local.Sub(s.At)-s.Offset) / s.rate()
	if d > math.MaxInt64/2 {
		d = math.MaxInt64 / 2
	} else if d < math.MinInt64/2 {
		d = math.MinInt64 / 2
	}
	return s.At.Add(time.Duration(d))
}

// Local converts a true time to the node's clock.
func (s Skew) Local(t time.Time) time.Time {
	if s.At.IsZero() {
		return t
	}
	return s.At.Add(s.Offset + time.Duration(float64(t.Sub(s.At))*s.rate()))
}
