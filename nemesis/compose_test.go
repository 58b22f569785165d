package nemesis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

func msD(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }

func TestOverlappingEpisodesRunConcurrently(t *testing.T) {
	s := Schedule{Episodes: []Episode{
		{At: msD(0), Duration: msD(800), Kind: rundir.KindPartition, Variant: Halves, Order: five},
		{At: msD(50), Duration: msD(350), Kind: rundir.KindPause, Variant: One, Count: 1, Targets: CutOff, Order: []string{"n5", "n2", "n1", "n3", "n4"}},
		{At: msD(100), Duration: msD(350), Kind: rundir.KindKill, Variant: One, Count: 1, Targets: Others, Order: []string{"n1", "n4", "n2", "n3", "n5"}},
		{At: msD(120), Duration: msD(380), Kind: rundir.KindClock, Variant: Rate, ClockRate: 0.5, Count: 5, Targets: CutOff, Order: five},
		{At: msD(130), Duration: msD(50), Kind: rundir.KindPartition, Variant: IsolateNode, Order: five}, // a second cut: skipped
	}}
	fc := &fakeCluster{}
	h := &history.Memory{}
	n := New(Config{Cluster: fc, History: h})
	done := make(chan error)
	go func() { done <- n.Run(context.Background(), s, time.Now()) }()
	// Which of the overlapping faults starts or heals first is the
	// scheduler's business on a loaded machine: the test waits for the
	// four to be in force together (from 120 ms to 400 ms), and asserts
	// what was done, not the order within.
	all := []string{"partition halves [n1 n2]", "pause one on cut-off [n2]", "kill one on others [n4]", "clock rate on cut-off [n1 n2]"}
	var active []string
	require.Eventually(t, func() bool {
		active = strings.Split(n.Active(), " + ")
		return len(active) == len(all)
	}, 5*time.Second, time.Millisecond, "four faults in force at once")
	assert.ElementsMatch(t, all, active)
	require.NoError(t, <-done)
	calls := fc.Calls()
	require.Len(t, calls, 10, "one partition at a time: the second cut is skipped: %v", calls)
	assert.Equal(t, "partition [[n1 n2] [n3 n4 n5]]", calls[0])
	assert.Equal(t, "heal", calls[9], "the partition, longest, heals last")
	assert.ElementsMatch(t, []string{
		"pause n2", // the first cut-off node in its own order
		"kill n4",  // the first of the others in its own order
		"clock n1 0s 0.5", "clock n2 0s 0.5",
		"resume n2", "start n4",
		"clock n1 0s 1", "clock n2 0s 1",
	}, calls[1:9])
	es := entries(t, h)
	balanced(t, es)
	assert.Len(t, es, 8)
	assert.Equal(t, 4, n.Applied())
	assert.Empty(t, n.Active())
}

func TestOverlappingEpisodesHealInReverseWhenCutShort(t *testing.T) {
	s := Schedule{Episodes: []Episode{
		{Duration: Duration(time.Hour), Kind: rundir.KindPartition, Variant: IsolateLeader, Leader: true, Order: []string{"n1", "n2", "n3"}},
		{At: msD(10), Duration: Duration(time.Hour), Kind: rundir.KindPause, Variant: One, Count: 1, Targets: Others, Order: []string{"n1", "n2", "n3"}},
		{At: msD(20), Duration: Duration(time.Hour), Kind: rundir.KindNetem, Variant: All, Count: 3, DelayMS: 40, Targets: CutOff, Order: []string{"n1", "n2", "n3"}},
	}}
	fc := &fakeCluster{}
	n := New(Config{Cluster: fc, History: &history.Memory{}, Leader: func() string { return "n3" }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx, s, time.Now()) }()
	require.Eventually(t, func() bool { return len(fc.Calls()) == 3 }, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"partition [[n3] [n1 n2]]", "pause n1", "netem n3 40ms 0", "netem n3 0s 0", "resume n1", "heal"}, fc.Calls())
}

func TestEpisodesInTurnDoNotOverlap(t *testing.T) {
	// The second starts when the first ends: it waits for the heal, even a
	// slow one, as when one fault at a time was the only way.
	s := Schedule{Episodes: []Episode{
		{Duration: msD(30), Kind: rundir.KindKill, Variant: One, Count: 1, Order: []string{"n1", "n2", "n3"}},
		{At: msD(30), Duration: msD(10), Kind: rundir.KindKill, Variant: One, Count: 1, Order: []string{"n1", "n2", "n3"}},
	}}
	slow := &slowStart{fakeCluster: &fakeCluster{}}
	require.NoError(t, New(Config{Cluster: slow, History: &history.Memory{}}).Run(context.Background(), s, time.Now()))
	assert.Equal(t, []string{"kill n1", "start n1", "kill n1", "start n1"}, slow.Calls())
}

// slowStart takes 100 ms to start a node.
type slowStart struct{ *fakeCluster }

func (s *slowStart) Start(ctx context.Context, id string) error {
	time.Sleep(100 * time.Millisecond)
	return s.fakeCluster.Start(ctx, id)
}
