package node

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Clock is the node's local clock, which the harness may skew through
// POST /clock. Every timer, timeout and lease in electd reads it, so a
// skewed clock skews the protocol exactly as a bad NTP setup would.
//
// After Set(offset, rate) at real time t0 the clock reads
//
//	now(t) = t0 + offset + (t - t0) * rate
//
// so at the moment of the change it reads real time plus offset, and from
// then on it runs rate times as fast as real time. The offset is relative
// to real time, not to the previous skewed reading: Set(0, 1) always puts
// the clock back right. To change only the rate without a step, pass the
// current Offset as the new offset.
type Clock struct {
	mu     sync.Mutex
	real   func() time.Time // the real clock; replaced in tests
	t0     time.Time        // real time of the last Set
	offset time.Duration
	rate   float64
}

// NewClock returns an unskewed clock over real time.
func NewClock() *Clock { return newClockFrom(time.Now) }

func newClockFrom(real func() time.Time) *Clock {
	return &Clock{real: real, t0: real(), rate: 1}
}

// MaxRate bounds the rate a harness may set; beyond it timers would fire
// faster than the runner's tick, which tests nothing useful.
const MaxRate = 100

// Set skews the clock from now on. rate must be finite and in [0, MaxRate];
// 0 freezes the clock.
func (c *Clock) Set(offset time.Duration, rate float64) error {
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 || rate > MaxRate {
		return fmt.Errorf("rate %v out of range [0, %d]", rate, MaxRate)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t0 = c.real()
	c.offset = offset
	c.rate = rate
	return nil
}

// Now reads the skewed clock. The result carries Go's monotonic reading
// (it is derived from a time.Now value by Add), so Sub between two readings
// is immune to steps of the host's wall clock: only the injected skew
// moves it.
func (c *Clock) Now() time.Time {
	now, _ := c.read()
	return now
}

// Offset is the current skew: the skewed clock minus real time.
func (c *Clock) Offset() time.Duration {
	now, real := c.read()
	return now.Sub(real)
}

// Rate is the current rate.
func (c *Clock) Rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

func (c *Clock) read() (skewed, real time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	real = c.real()
	elapsed := real.Sub(c.t0)
	if c.rate != 1 {
		elapsed = time.Duration(float64(elapsed) * c.rate)
	}
	return c.t0.Add(c.offset + elapsed), real
}
