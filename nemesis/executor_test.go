package nemesis

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

func TestHealRetries(t *testing.T) {
	var starts atomic.Int32
	fc := &fakeCluster{fail: func(call string) bool { return call == "start n1" && starts.Add(1) < 3 }}
	h := &history.Memory{}
	s := Schedule{Episodes: []Episode{{Kind: rundir.KindKill, Variant: One, Count: 1, Order: []string{"n1", "n2", "n3"}}}}
	require.NoError(t, New(Config{Cluster: fc, History: h}).Run(context.Background(), s, time.Now()))
	assert.Equal(t, []string{"kill n1", "start n1", "start n1", "start n1"}, fc.Calls(), "healed at the third try")
	require.Len(t, h.Ops(), 2)
	assert.Equal(t, string(rundir.Start), h.Ops()[1].F)
	assert.Empty(t, h.Ops()[1].Error, "healed in the end")
}

func TestHealRetriesAfterCancel(t *testing.T) {
	var resumes atomic.Int32
	fc := &fakeCluster{fail: func(call string) bool { return call == "resume n1" && resumes.Add(1) < 2 }}
	ctx, cancel := context.WithCancel(context.Background())
	n := New(Config{Cluster: fc, History: &history.Memory{}})
	done := make(chan error)
	s := Schedule{Episodes: []Episode{{Duration: Duration(time.Hour), Kind: rundir.KindPause, Variant: One, Count: 1, Order: []string{"n1", "n2", "n3"}}}}
	go func() { done <- n.Run(ctx, s, time.Now()) }()
	require.Eventually(t, func() bool { return n.Active() != "" }, 5*time.Second, time.Millisecond)
	assert.Equal(t, "pause one [n1]", n.Active())
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"pause n1", "resume n1", "resume n1"}, fc.Calls(), "a cancelled run still retries its heal")
	assert.Equal(t, "", n.Active())
	assert.Equal(t, 1, n.Applied())
}

func TestNoFaultAfterCancelWhileWaitingForLeader(t *testing.T) {
	fc := &fakeCluster{}
	h := &history.Memory{}
	ctx, cancel := context.WithCancel(context.Background())
	asked := make(chan struct{}, 1)
	leader := func() string {
		select {
		case asked <- struct{}{}:
		default:
		}
		return ""
	}
	n := New(Config{Cluster: fc, History: h, Leader: leader, LeaderWait: time.Hour})
	done := make(chan error)
	s := Schedule{Episodes: []Episode{{Kind: rundir.KindKill, Variant: Leader, Leader: true, Count: 1, Order: []string{"n1", "n2", "n3"}}}}
	go func() { done <- n.Run(ctx, s, time.Now()) }()
	<-asked
	cancel()
	require.NoError(t, <-done)
	assert.Empty(t, fc.Calls())
	assert.Empty(t, h.Ops())
}

// brokenHistory fails every append.
type brokenHistory struct{ appended atomic.Int32 }

func (b *brokenHistory) Append(op history.Op) (history.Op, error) {
	b.appended.Add(1)
	return op, errors.New("disk full")
}

func TestHistoryFailureStillHeals(t *testing.T) {
	fc := &fakeCluster{}
	h := &brokenHistory{}
	s := Schedule{Episodes: []Episode{
		{Kind: rundir.KindPartition, Variant: IsolateLeader, Leader: true, FreezeClock: true, Order: []string{"n1", "n2", "n3"}},
		{Kind: rundir.KindKill, Variant: One, Count: 1, Order: []string{"n1", "n2", "n3"}},
	}}
	err := New(Config{Cluster: fc, History: h, Leader: func() string { return "n2" }}).Run(context.Background(), s, time.Now())
	require.ErrorContains(t, err, "disk full")
	require.ErrorContains(t, err, "record start-partition")
	assert.Equal(t, []string{"partition [[n2] [n1 n3]]", "heal"}, fc.Calls(),
		"the cut is healed; the clock is not frozen on top of a history that fails; the run stops")
	assert.Equal(t, int32(2), h.appended.Load(), "the start, then the stop")
}

func TestRunSkipsWhatItCannotAim(t *testing.T) {
	fc := &fakeCluster{}
	h := &history.Memory{}
	s := Schedule{Episodes: []Episode{
		{Kind: rundir.KindKill, Variant: One, Count: 1},                 // no order: a hand-made schedule
		{Kind: "meteor", Variant: One, Count: 1, Order: []string{"n1"}}, // a kind from a newer harness
		{Kind: rundir.KindPause, Variant: One, Count: 1, Order: []string{"n2"}},
	}}
	require.NoError(t, New(Config{Cluster: fc, History: h}).Run(context.Background(), s, time.Now()))
	assert.Equal(t, []string{"pause n2", "resume n2"}, fc.Calls())
	assert.Len(t, h.Ops(), 2)
}
