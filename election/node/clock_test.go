package node

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// manualTime is a real clock the test moves by hand.
type manualTime struct {
	mu  sync.Mutex
	now time.Time
}

func (m *manualTime) get() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *manualTime) advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
}

func TestClockOffsetAndRate(t *testing.T) {
	real := &manualTime{now: time.Unix(1_000_000, 0)}
	c := newClockFrom(real.get)
	assert.Equal(t, real.get(), c.Now())
	assert.Zero(t, c.Offset())

	// A step forward: the clock jumps by the offset at once.
	require.NoError(t, c.Set(5*time.Second, 1))
	assert.Equal(t, real.get().Add(5*time.Second), c.Now())
	real.advance(time.Second)
	assert.Equal(t, 5*time.Second, c.Offset())

	// A slow clock: from here it gains 0.5s per real second, starting at
	// real+offset, so the reading is continuous apart from the offset step.
	require.NoError(t, c.Set(5*time.Second, 0.5))
	base := real.get()
	real.advance(2 * time.Second)
	assert.Equal(t, base.Add(5*time.Second+time.Second), c.Now())
	assert.Equal(t, 4*time.Second, c.Offset(), "skew shrinks by 1s over 2s at rate 0.5")

	// Changing only the rate, passing the current offset: no jump.
	before := c.Now()
	require.NoError(t, c.Set(c.Offset(), 2))
	assert.Equal(t, before, c.Now())
	real.advance(time.Second)
	assert.Equal(t, before.Add(2*time.Second), c.Now())

	// Set(0, 1) puts it right.
	require.NoError(t, c.Set(0, 1))
	assert.Equal(t, real.get(), c.Now())
	assert.Equal(t, 1.0, c.Rate())
}

func TestClockRejectsBadRates(t *testing.T) {
	c := NewClock()
	for _, r := range []float64{-0.1, math.NaN(), math.Inf(1), MaxRate + 1} {
		assert.Error(t, c.Set(0, r), "rate %v", r)
	}
	assert.NoError(t, c.Set(0, 0), "a frozen clock is a legal fault")
}

// Readings of a clock that is not skewed keep Go's monotonic reading, so a
// wall-clock step on the host does not reach the protocol.
func TestClockKeepsMonotonicReading(t *testing.T) {
	c := NewClock()
	require.NoError(t, c.Set(time.Hour, 1.5))
	assert.Contains(t, c.Now().String(), "m=", "monotonic reading present")
}
