package nemesis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

var five = []string{"n1", "n2", "n3", "n4", "n5"}

func TestGenerateDeterministic(t *testing.T) {
	tests := []struct {
		name     string
		seed     int64
		nodes    []string
		kinds    []string
		interval time.Duration
		limit    time.Duration
		min      int // at least this many episodes
	}{
		{"all 5 nodes", 1, five, rundir.Kinds, 5 * time.Second, 60 * time.Second, 3},
		{"partition only", 2, five, []string{rundir.KindPartition}, 5 * time.Second, 60 * time.Second, 3},
		{"kill 3 nodes", 3, five[:3], []string{rundir.KindKill}, time.Second, 10 * time.Second, 2},
		{"clock and pause", 4, five, []string{rundir.KindClock, rundir.KindPause}, 2 * time.Second, 30 * time.Second, 4},
		{"none", 5, five, nil, 5 * time.Second, 60 * time.Second, 0},
		{"too short", 6, five, rundir.Kinds, 5 * time.Second, 4 * time.Second, 0},
		{"unknown kinds only", 7, five, []string{"meteor"}, time.Second, 10 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Generate(tt.seed, tt.nodes, tt.kinds, tt.interval, tt.limit)
			b := Generate(tt.seed, tt.nodes, tt.kinds, tt.interval, tt.limit)
			assert.Equal(t, a, b, "same seed, same schedule")
			assert.GreaterOrEqual(t, len(a.Episodes), tt.min)
			var prevEnd time.Duration
			for i, ep := range a.Episodes {
				assert.Contains(t, tt.kinds, ep.Kind)
				assert.GreaterOrEqual(t, time.Duration(ep.At), prevEnd, "episode %d overlaps the one before", i)
				assert.LessOrEqual(t, ep.End(), tt.limit, "episode %d ends after the limit", i)
				assert.ElementsMatch(t, tt.nodes, ep.Order)
				assert.NotEmpty(t, ep.Variant)
				prevEnd = ep.End()
			}
			if tt.min > 0 {
				c := Generate(tt.seed+100, tt.nodes, tt.kinds, tt.interval, tt.limit)
				assert.NotEqual(t, a.Episodes, c.Episodes, "another seed, another schedule")
			}
		})
	}
}

func TestScheduleRoundTrip(t *testing.T) {
	s := Generate(7, five, rundir.Kinds, 3*time.Second, 60*time.Second)
	path := filepath.Join(t.TempDir(), "schedule.json")
	require.NoError(t, s.WriteFile(path))
	got, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, s, got)
}

func TestParseKinds(t *testing.T) {
	for in, want := range map[string][]string{
		"": nil, "none": nil, "all": rundir.Kinds,
		"partition,kill": {rundir.KindPartition, rundir.KindKill},
		" clock , clock": {rundir.KindClock},
	} {
		got, err := ParseKinds(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseKinds("partition,meteor")
	assert.ErrorContains(t, err, `"meteor"`)
}

func TestPartitionCuts(t *testing.T) {
	order := []string{"n3", "n1", "n5", "n2", "n4"}
	ep := Episode{Kind: rundir.KindPartition, Variant: IsolateLeader, Leader: true, Order: order}
	res := ep.Resolve("n2")
	assert.Equal(t, []string{"n2", "n3", "n1", "n5", "n4"}, res)
	c := ep.Partition(res)
	assert.Equal(t, [][]string{{"n2"}, {"n3", "n1", "n5", "n4"}}, c.Groups)
	assert.Equal(t, order, ep.Resolve(""), "no leader known: the drawn order")

	c = Episode{Variant: Halves, Order: order}.Partition(order)
	assert.Equal(t, [][]string{{"n3", "n1"}, {"n5", "n2", "n4"}}, c.Groups)

	c = Episode{Variant: IsolateNode, OneWay: "in"}.Partition(order)
	assert.Len(t, c.Blocked, 4)
	for _, b := range c.Blocked {
		assert.Equal(t, "n3", b[1], "only what n3 receives is dropped")
	}

	c = Episode{Variant: MajoritiesRing}.Partition(order)
	seen := map[string][]string{}
	for _, x := range order {
		seen[x] = []string{x}
	}
	blocked := map[[2]string]bool{}
	for _, b := range c.Blocked {
		blocked[b] = true
	}
	for _, x := range order {
		for _, y := range order {
			if x != y && !blocked[[2]string{x, y}] {
				seen[x] = append(seen[x], y)
			}
			assert.Equal(t, blocked[[2]string{x, y}], blocked[[2]string{y, x}], "symmetric")
		}
	}
	views := map[string]bool{}
	for x, s := range seen {
		assert.Len(t, s, 3, "%s sees a majority", x)
		slices.Sort(s)
		views[strings.Join(s, ",")] = true
	}
	assert.Len(t, views, 5, "no two nodes see the same majority")

	c = Episode{Variant: Bridge}.Partition(order)
	assert.Equal(t, []string{"n3"}, c.Targets)
	for _, b := range c.Blocked {
		assert.NotContains(t, b, "n3", "the bridge sees everyone")
	}
	assert.Len(t, c.Blocked, 8)
}

// fakeCluster records the calls it gets.
type fakeCluster struct {
	mu      sync.Mutex
	calls   []string
	noNetem bool
	noClock bool
	// fail, when set, makes the calls it says yes to fail (they are
	// recorded all the same).
	fail func(call string) bool
}

func (f *fakeCluster) add(s string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := fmt.Sprintf(s, args...)
	f.calls = append(f.calls, call)
	if f.fail != nil && f.fail(call) {
		return fmt.Errorf("fake: %s failed", call)
	}
	return nil
}

func (f *fakeCluster) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeCluster) Kill(_ context.Context, id string) error   { return f.add("kill %s", id) }
func (f *fakeCluster) Start(_ context.Context, id string) error  { return f.add("start %s", id) }
func (f *fakeCluster) Pause(_ context.Context, id string) error  { return f.add("pause %s", id) }
func (f *fakeCluster) Resume(_ context.Context, id string) error { return f.add("resume %s", id) }
func (f *fakeCluster) Partition(_ context.Context, g ...[]string) error {
	return f.add("partition %v", g)
}
func (f *fakeCluster) Block(_ context.Context, from, to []string) error {
	return f.add("block %v %v", from, to)
}
func (f *fakeCluster) Heal(_ context.Context) error { return f.add("heal") }
func (f *fakeCluster) Clock(_ context.Context, id string, o time.Duration, r float64) error {
	if f.noClock {
		return fmt.Errorf("clock: %w", errors.ErrUnsupported)
	}
	return f.add("clock %s %v %g", id, o, r)
}
func (f *fakeCluster) Netem(_ context.Context, id string, d time.Duration, l float64) error {
	if f.noNetem {
		return fmt.Errorf("netem: %w", errors.ErrUnsupported)
	}
	return f.add("netem %s %v %g", id, d, l)
}

func TestRunRecordsStartAndStop(t *testing.T) {
	ms := func(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }
	s := Schedule{Episodes: []Episode{
		{At: ms(0), Duration: ms(20), Kind: rundir.KindPartition, Variant: IsolateLeader, Leader: true, Order: []string{"n1", "n2", "n3"}},
		{At: ms(30), Duration: ms(20), Kind: rundir.KindKill, Variant: Leader, Leader: true, Count: 1, Order: []string{"n3", "n1", "n2"}},
		{At: ms(60), Duration: ms(20), Kind: rundir.KindPause, Variant: One, Count: 1, Order: []string{"n3", "n1", "n2"}},
		{At: ms(90), Duration: ms(20), Kind: rundir.KindClock, Variant: Bump, Count: 1, OffsetMS: -400, Order: []string{"n1", "n2", "n3"}},
		{At: ms(120), Duration: ms(20), Kind: rundir.KindNetem, Variant: All, Count: 3, DelayMS: 50, Order: []string{"n1", "n2", "n3"}},
		{At: ms(150), Duration: ms(20), Kind: rundir.KindNetem, Variant: One, Count: 1, Loss: 0.1, Order: []string{"n1", "n2", "n3"}},
		{At: ms(180), Duration: ms(20), Kind: rundir.KindClock, Variant: Bump, Count: 1, OffsetMS: 100, Order: []string{"n1", "n2", "n3"}},
	}}
	fc := &fakeCluster{noNetem: true}
	h := &history.Memory{}
	n := New(Config{Cluster: fc, History: h, Leader: func() string { return "n2" }, NoClock: true})
	require.NoError(t, n.Run(context.Background(), s, time.Now()))

	var fs []rundir.Fault
	for _, op := range h.Ops() {
		assert.Equal(t, history.Nemesis, op.Process)
		assert.Equal(t, history.Info, op.Type)
		fs = append(fs, rundir.Fault(op.F))
	}
	assert.Equal(t, []rundir.Fault{rundir.StartPartition, rundir.StopPartition, rundir.Kill, rundir.Start, rundir.Pause, rundir.Resume}, fs,
		"clock skipped (no clock), netem skipped (unsupported)")
	var v map[string]any
	require.NoError(t, json.Unmarshal(h.Ops()[0].Value.Raw, &v))
	assert.Equal(t, []any{"n2"}, v["nodes"], "the leader at that moment")
	assert.Equal(t, "isolate-leader", v["kind"])
	assert.Equal(t, "n2", h.Ops()[2].Node)
	assert.Equal(t, []string{"partition [[n2] [n1 n3]]", "heal", "kill n2", "start n2", "pause n3", "resume n3"}, fc.calls)
	assert.Equal(t, []string{rundir.KindNetem}, n.Unsupported())
	assert.Equal(t, "", n.Active())
}

func TestRunHealsOnCancel(t *testing.T) {
	s := Schedule{Episodes: []Episode{
		{Duration: Duration(time.Hour), Kind: rundir.KindKill, Variant: Minority, Count: 2, Order: []string{"n1", "n2", "n3", "n4", "n5"}},
	}}
	fc := &fakeCluster{}
	h := &history.Memory{}
	n := New(Config{Cluster: fc, History: h})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.NoError(t, n.Run(ctx, s, time.Now()))
	assert.Equal(t, []string{"kill n1", "kill n2", "start n1", "start n2"}, fc.calls)
	require.Len(t, h.Ops(), 2)
	assert.Equal(t, string(rundir.Start), h.Ops()[1].F)
	assert.Equal(t, "", h.Ops()[1].Node, "two targets: listed in value.nodes")
}

func TestStrobe(t *testing.T) {
	s := Schedule{Episodes: []Episode{
		{Duration: Duration(300 * time.Millisecond), Kind: rundir.KindClock, Variant: Strobe, Count: 1, OffsetMS: 300, PeriodMS: 20, Order: []string{"n1", "n2", "n3"}},
	}}
	fc := &fakeCluster{}
	h := &history.Memory{}
	require.NoError(t, New(Config{Cluster: fc, History: h}).Run(context.Background(), s, time.Now()))
	assert.GreaterOrEqual(t, len(fc.calls), 4)
	assert.Equal(t, "clock n1 300ms 1", fc.calls[0])
	assert.Equal(t, "clock n1 0s 1", fc.calls[len(fc.calls)-1])
	require.Len(t, h.Ops(), 2)
	assert.Equal(t, string(rundir.ClockStrobe), h.Ops()[0].F)
	assert.Equal(t, string(rundir.ClockReset), h.Ops()[1].F)
}

func TestFrozenClockPartition(t *testing.T) {
	s := Schedule{Episodes: []Episode{{Duration: Duration(20 * time.Millisecond), Kind: rundir.KindPartition, Variant: IsolateLeader,
		Leader: true, FreezeClock: true, Order: []string{"n1", "n2", "n3"}}}}
	fc := &fakeCluster{}
	h := &history.Memory{}
	require.NoError(t, New(Config{Cluster: fc, History: h, Leader: func() string { return "n3" }}).Run(context.Background(), s, time.Now()))
	assert.Equal(t, []string{"partition [[n3] [n1 n2]]", "clock n3 0s 0", "clock n3 0s 1", "heal"}, fc.calls)
	var fs []rundir.Fault
	for _, op := range h.Ops() {
		fs = append(fs, rundir.Fault(op.F))
	}
	assert.Equal(t, []rundir.Fault{rundir.StartPartition, rundir.ClockBump, rundir.ClockReset, rundir.StopPartition}, fs)

	// Without clock control, the partition alone.
	fc, h = &fakeCluster{}, &history.Memory{}
	require.NoError(t, New(Config{Cluster: fc, History: h, NoClock: true}).Run(context.Background(), s, time.Now()))
	assert.Equal(t, []string{"partition [[n1] [n2 n3]]", "heal"}, fc.calls)

	// Generate draws it only with clock faults on.
	for seed := range int64(50) {
		for _, ep := range Generate(seed, five, []string{rundir.KindPartition}, time.Second, time.Minute).Episodes {
			assert.False(t, ep.FreezeClock)
		}
	}
}
