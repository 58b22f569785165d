package nemesis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/rundir"
)

// TestFaultKinds injects each kind against the fake ensemble: what it
// does, what it says to record, and what its heal undoes.
func TestFaultKinds(t *testing.T) {
	order := []string{"n2", "n1", "n3"} // resolved: the leader, n2, first
	tests := []struct {
		name      string
		ep        Episode
		kind      string
		nodes     []string
		calls     []string // by Inject
		start     Entry
		stop      Entry
		healCalls []string // by Heal
	}{
		{"kill the leader", Episode{Kind: rundir.KindKill, Variant: Leader, Leader: true, Count: 1},
			rundir.KindKill, []string{"n2"}, []string{"kill n2"},
			Entry{rundir.Kill, "n2", map[string]any{"kind": Leader, "leader": true, "nodes": []string{"n2"}}},
			Entry{rundir.Start, "n2", map[string]any{"nodes": []string{"n2"}}},
			[]string{"start n2"}},
		{"kill a minority", Episode{Kind: rundir.KindKill, Variant: Minority, Count: 2},
			rundir.KindKill, []string{"n2", "n1"}, []string{"kill n2", "kill n1"},
			Entry{rundir.Kill, "", map[string]any{"kind": Minority, "nodes": []string{"n2", "n1"}}},
			Entry{rundir.Start, "", map[string]any{"nodes": []string{"n2", "n1"}}},
			[]string{"start n2", "start n1"}},
		{"pause one", Episode{Kind: rundir.KindPause, Variant: One, Count: 1},
			rundir.KindPause, []string{"n2"}, []string{"pause n2"},
			Entry{rundir.Pause, "n2", map[string]any{"kind": One, "nodes": []string{"n2"}}},
			Entry{rundir.Resume, "n2", map[string]any{"nodes": []string{"n2"}}},
			[]string{"resume n2"}},
		{"partition halves", Episode{Kind: rundir.KindPartition, Variant: Halves},
			rundir.KindPartition, []string{"n2"}, []string{"partition [[n2] [n1 n3]]"},
			Entry{rundir.StartPartition, "n2", map[string]any{"kind": Halves, "nodes": []string{"n2"},
				"groups": [][]string{{"n2"}, {"n1", "n3"}}}},
			Entry{rundir.StopPartition, "", map[string]any{"kind": Halves, "nodes": []string{"n2"}}},
			[]string{"heal"}},
		{"partition one way", Episode{Kind: rundir.KindPartition, Variant: IsolateNode, OneWay: "out"},
			rundir.KindPartition, []string{"n2"}, []string{"heal", "block [n2] [n1]", "block [n2] [n3]"},
			Entry{rundir.StartPartition, "n2", map[string]any{"kind": IsolateNode, "nodes": []string{"n2"}, "one_way": "out",
				"blocked": [][2]string{{"n2", "n1"}, {"n2", "n3"}}}},
			Entry{rundir.StopPartition, "", map[string]any{"kind": IsolateNode, "nodes": []string{"n2"}}},
			[]string{"heal"}},
		{"clock bump", Episode{Kind: rundir.KindClock, Variant: Bump, Count: 1, OffsetMS: -400},
			rundir.KindClock, []string{"n2"}, []string{"clock n2 -400ms 1"},
			Entry{rundir.ClockBump, "n2", map[string]any{"kind": Bump, "nodes": []string{"n2"}, "offset_ms": int64(-400)}},
			Entry{rundir.ClockReset, "n2", map[string]any{"nodes": []string{"n2"}}},
			[]string{"clock n2 0s 1"}},
		{"clock rate", Episode{Kind: rundir.KindClock, Variant: Rate, Leader: true, Count: 1, ClockRate: 0.5},
			rundir.KindClock, []string{"n2"}, []string{"clock n2 0s 0.5"},
			Entry{rundir.ClockBump, "n2", map[string]any{"kind": Rate, "leader": true, "nodes": []string{"n2"}, "offset_ms": 0, "rate": 0.5}},
			Entry{rundir.ClockReset, "n2", map[string]any{"nodes": []string{"n2"}}},
			[]string{"clock n2 0s 1"}},
		{"netem on all", Episode{Kind: rundir.KindNetem, Variant: All, Count: 3, DelayMS: 50},
			rundir.KindNetem, order, []string{"netem n2 50ms 0", "netem n1 50ms 0", "netem n3 50ms 0"},
			Entry{rundir.StartNetem, "", map[string]any{"kind": All, "nodes": order, "delay_ms": int64(50), "loss": 0.0}},
			Entry{rundir.StopNetem, "", map[string]any{"nodes": order}},
			[]string{"netem n2 0s 0", "netem n1 0s 0", "netem n3 0s 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := faults(tt.ep, order)
			require.Len(t, fs, 1)
			f := fs[0]
			assert.Equal(t, tt.kind, f.Kind())
			assert.Equal(t, tt.nodes, f.Nodes())
			fc := &fakeCluster{}
			inj, err := f.Inject(context.Background(), fc)
			require.NoError(t, err)
			assert.Equal(t, tt.calls, fc.Calls())
			assert.Equal(t, tt.start, inj.Start)
			assert.Equal(t, tt.stop, inj.Stop)
			require.NoError(t, inj.Heal(context.Background()))
			assert.Equal(t, tt.healCalls, fc.Calls()[len(tt.calls):])
		})
	}
}

func TestFrozenPartitionIsTwoFaults(t *testing.T) {
	ep := Episode{Kind: rundir.KindPartition, Variant: Halves, Leader: true, FreezeClock: true}
	fs := faults(ep, []string{"n2", "n1", "n3", "n4", "n5"})
	require.Len(t, fs, 2, "the cut, then the clocks of the cut-off nodes")
	assert.Equal(t, rundir.KindPartition, fs[0].Kind())
	assert.Equal(t, rundir.KindClock, fs[1].Kind())
	assert.Equal(t, []string{"n2", "n1"}, fs[1].Nodes())
	fc := &fakeCluster{}
	inj, err := fs[1].Inject(context.Background(), fc)
	require.NoError(t, err)
	assert.Equal(t, []string{"clock n2 0s 0", "clock n1 0s 0"}, fc.Calls())
	assert.Equal(t, Entry{rundir.ClockBump, "", map[string]any{"kind": "freeze", "nodes": []string{"n2", "n1"}, "offset_ms": 0, "rate": 0}}, inj.Start,
		"no leader field: the freeze follows the cut, it does not aim")
}

func TestUnsupportedLeavesNothing(t *testing.T) {
	order := []string{"n1", "n2", "n3"}
	fc := &fakeCluster{noNetem: true, noClock: true}
	_, err := faults(Episode{Kind: rundir.KindNetem, Variant: One, Count: 1, Loss: 0.2}, order)[0].Inject(context.Background(), fc)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = faults(Episode{Kind: rundir.KindClock, Variant: Bump, Count: 1, OffsetMS: 100}, order)[0].Inject(context.Background(), fc)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Empty(t, fc.Calls())
}

func TestFailedInjectStillHeals(t *testing.T) {
	fc := &fakeCluster{fail: func(call string) bool { return call == "kill n1" }}
	inj, err := faults(Episode{Kind: rundir.KindKill, Variant: Minority, Count: 2}, []string{"n1", "n2", "n3"})[0].Inject(context.Background(), fc)
	require.ErrorContains(t, err, "kill n1")
	assert.Equal(t, []string{"kill n1", "kill n2"}, fc.Calls(), "one node failing does not spare the others")
	require.NoError(t, inj.Heal(context.Background()))
	assert.Equal(t, []string{"start n1", "start n2"}, fc.Calls()[2:])
}

func TestStrobeFlipsUntilHealed(t *testing.T) {
	ep := Episode{Kind: rundir.KindClock, Variant: Strobe, Count: 1, OffsetMS: 300, PeriodMS: 5}
	fc := &fakeCluster{}
	inj, err := faults(ep, []string{"n1", "n2", "n3"})[0].Inject(context.Background(), fc)
	require.NoError(t, err)
	assert.Equal(t, Entry{rundir.ClockStrobe, "n1", map[string]any{"kind": Strobe, "nodes": []string{"n1"}, "offset_ms": int64(300), "period_ms": int64(5)}}, inj.Start)
	require.Eventually(t, func() bool { return len(fc.Calls()) >= 3 }, 5*time.Second, time.Millisecond)
	calls := fc.Calls()
	assert.Equal(t, []string{"clock n1 300ms 1", "clock n1 0s 1", "clock n1 300ms 1"}, calls[:3], "on, off, on")
	require.NoError(t, inj.Heal(context.Background()))
	calls = fc.Calls()
	assert.Equal(t, "clock n1 0s 1", calls[len(calls)-1])
	require.NoError(t, inj.Heal(context.Background()), "a heal bears being retried")
	assert.Len(t, fc.Calls(), len(calls)+1, "no flip after the heal")
}
