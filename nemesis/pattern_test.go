package nemesis

import (
	"context"
	"encoding/json"
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

// electing is a fake cluster that elects: when its leader is killed,
// paused or cut off, another node it can reach leads a few milliseconds
// later (the observer's view, Leader). It records calls like fakeCluster
// and keeps what is in force, to check that everything was healed.
type electing struct {
	*fakeCluster
	nodes []string
	delay time.Duration

	mu      sync.Mutex
	leader  string
	down    map[string]string // killed or paused nodes: "kill" or "pause"
	cut     map[string]bool   // nodes cut off (or one way)
	clocks  map[string]float64
	elected int // elections after the first
}

func newElecting(nodes ...string) *electing {
	return &electing{fakeCluster: &fakeCluster{}, nodes: nodes, delay: 10 * time.Millisecond, leader: nodes[0],
		down: map[string]string{}, cut: map[string]bool{}, clocks: map[string]float64{}}
}

// Leader is the observer's view.
func (e *electing) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

func (e *electing) Elections() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.elected
}

// impaired deposes the leader when it is one of ids: a new one is
// elected among the others after delay.
func (e *electing) impaired(ids ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader == "" || !slices.Contains(ids, e.leader) {
		return
	}
	old := e.leader
	e.leader = ""
	time.AfterFunc(e.delay, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, n := range e.nodes {
			if n != old && e.down[n] == "" && !e.cut[n] {
				e.leader = n
				e.elected++
				return
			}
		}
	})
}

func (e *electing) Kill(ctx context.Context, id string) error {
	e.mu.Lock()
	e.down[id] = "kill"
	e.mu.Unlock()
	e.impaired(id)
	return e.fakeCluster.Kill(ctx, id)
}

func (e *electing) Start(ctx context.Context, id string) error {
	e.mu.Lock()
	delete(e.down, id)
	e.mu.Unlock()
	return e.fakeCluster.Start(ctx, id)
}

func (e *electing) Pause(ctx context.Context, id string) error {
	e.mu.Lock()
	e.down[id] = "pause"
	e.mu.Unlock()
	e.impaired(id)
	return e.fakeCluster.Pause(ctx, id)
}

func (e *electing) Resume(ctx context.Context, id string) error {
	e.mu.Lock()
	delete(e.down, id)
	e.mu.Unlock()
	return e.fakeCluster.Resume(ctx, id)
}

func (e *electing) Partition(ctx context.Context, groups ...[]string) error {
	var minority []string
	e.mu.Lock()
	clear(e.cut) // a cut replaces the one before
	for _, g := range groups {
		if len(g) <= len(e.nodes)/2 {
			minority = append(minority, g...)
		}
	}
	for _, n := range minority {
		e.cut[n] = true
	}
	e.mu.Unlock()
	e.impaired(minority...)
	return e.fakeCluster.Partition(ctx, groups...)
}

func (e *electing) Block(ctx context.Context, from, to []string) error {
	e.mu.Lock()
	ids := append(slices.Clone(from), to...)
	if l := e.leader; slices.Contains(ids, l) {
		e.cut[l] = true
	}
	e.mu.Unlock()
	e.impaired(ids...)
	return e.fakeCluster.Block(ctx, from, to)
}

func (e *electing) Heal(ctx context.Context) error {
	e.mu.Lock()
	clear(e.cut)
	e.mu.Unlock()
	return e.fakeCluster.Heal(ctx)
}

func (e *electing) Clock(ctx context.Context, id string, o time.Duration, r float64) error {
	e.mu.Lock()
	if o == 0 && r == 1 {
		delete(e.clocks, id)
	} else {
		e.clocks[id] = r
	}
	e.mu.Unlock()
	return e.fakeCluster.Clock(ctx, id, o, r)
}

// healed says what is still in force, "" when nothing is.
func (e *electing) inForce() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for n, d := range e.down {
		out = append(out, d+" "+n)
	}
	for n := range e.cut {
		out = append(out, "cut "+n)
	}
	for n := range e.clocks {
		out = append(out, "clock "+n)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// entries are the history's nemesis entries as "f node [nodes] pattern".
func entries(t *testing.T, h *history.Memory) []string {
	t.Helper()
	var out []string
	for _, op := range h.Ops() {
		var v map[string]any
		require.NoError(t, json.Unmarshal(op.Value.Raw, &v))
		assert.NotNil(t, v["nodes"], "every entry names its nodes: %s", op.F)
		out = append(out, fmt.Sprintf("%s %v %v", op.F, v["nodes"], v["pattern"]))
	}
	return out
}

// balanced checks that every start has its stop, in the run format.
func balanced(t *testing.T, es []string) {
	t.Helper()
	stops := map[string]string{"start-partition": "stop-partition", "kill": "start", "pause": "resume",
		"clock-bump": "clock-reset", "clock-strobe": "clock-reset", "start-netem": "stop-netem"}
	open := map[string]int{}
	for _, e := range es {
		f, rest, _ := strings.Cut(e, " ")
		if stop, ok := stops[f]; ok {
			open[stop+" "+rest]++
		} else {
			open[e]--
		}
	}
	for k, v := range open {
		assert.Zero(t, v, "unbalanced: %s", k)
	}
}

func TestPatternsFireAndHeal(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	base := Episode{Duration: Duration(600 * time.Millisecond), Order: nodes, Leader: true, Count: 1}
	with := func(name string, set func(*Episode)) Episode {
		ep := base
		ep.Pattern = name
		set(&ep)
		return ep
	}
	tests := []struct {
		name  string
		ep    Episode
		acked bool
		// want are the entries in order ("f [nodes] pattern").
		want []string
		// elections after the first, at least.
		elections int
	}{
		{"strike-new-leader provoked, kill", with(StrikeNewLeader, func(e *Episode) { e.Kind, e.Variant, e.WaitMS = rundir.KindKill, Leader, 20 }), false,
			[]string{"kill [n1]", "kill [n2]", "start [n1]", "start [n2]"}, 2},
		{"strike-new-leader provoked, pause", with(StrikeNewLeader, func(e *Episode) { e.Kind, e.Variant, e.WaitMS = rundir.KindPause, Leader, 20 }), false,
			[]string{"pause [n1]", "pause [n2]", "resume [n1]", "resume [n2]"}, 2},
		{"isolate-after-ack", with(IsolateAfterAck, func(e *Episode) { e.Kind, e.Variant, e.HoldMS, e.WaitMS = rundir.KindPartition, IsolateLeader, 50, 10 }), true,
			[]string{"start-partition [n1]", "stop-partition [n1]"}, 1},
		{"isolate-kill-new-majority, new leader", with(IsolateKillQuorum, func(e *Episode) { e.Kind, e.Variant, e.WaitMS, e.HoldMS = rundir.KindPartition, Leader, 10, 50 }), false,
			[]string{"start-partition [n1]", "kill [n2]", "stop-partition [n1]", "start [n2]"}, 2},
		{"isolate-kill-new-majority, follower", with(IsolateKillQuorum, func(e *Episode) { e.Kind, e.Variant, e.WaitMS, e.HoldMS = rundir.KindPartition, One, 10, 50 }), false,
			[]string{"start-partition [n1]", "kill [n3]", "stop-partition [n1]", "start [n3]"}, 1},
		{"isolate-kill-new-majority, new leader and enough to break the quorum", with(IsolateKillQuorum, func(e *Episode) {
			e.Kind, e.Variant, e.Count, e.WaitMS, e.HoldMS = rundir.KindPartition, Leader, 2, 10, 50
		}), false, []string{"start-partition [n1]", "kill [n2 n3]", "stop-partition [n1]", "start [n2 n3]"}, 2},
		{"isolate-kill-new-majority, followers enough to break the quorum", with(IsolateKillQuorum, func(e *Episode) {
			e.Kind, e.Variant, e.Count, e.WaitMS, e.HoldMS = rundir.KindPartition, One, 2, 10, 50
		}), false, []string{"start-partition [n1]", "kill [n3 n4]", "stop-partition [n1]", "start [n3 n4]"}, 1},
		{"double-election, pause", with(DoubleElection, func(e *Episode) { e.Kind, e.Variant = rundir.KindPause, Leader }), false,
			[]string{"pause [n1]", "pause [n2]", "resume [n1]", "resume [n2]"}, 2},
		{"double-election, isolate", with(DoubleElection, func(e *Episode) { e.Kind, e.Variant = rundir.KindPartition, IsolateLeader }), false,
			[]string{"start-partition [n1]", "stop-partition [n1]", "start-partition [n2]", "stop-partition [n2]"}, 2},
		{"pause-past-timeout", with(PausePastTimeout, func(e *Episode) { e.Kind, e.Variant, e.WaitMS = rundir.KindPause, Leader, 30 }), false,
			[]string{"pause [n1]", "resume [n1]"}, 1},
		{"slow-clock-cut-off", with(SlowClockCutOff, func(e *Episode) { e.Kind, e.Variant, e.ClockRate, e.WaitMS = rundir.KindClock, Rate, 0.25, 20 }), false,
			[]string{"clock-bump [n1]", "start-partition [n1]", "stop-partition [n1]", "clock-reset [n1]"}, 1},
		{"one-way-leader out", with(OneWayLeader, func(e *Episode) { e.Kind, e.Variant, e.OneWay, e.HoldMS = rundir.KindPartition, Leader, "out", 30 }), false,
			[]string{"start-partition [n1]", "stop-partition [n1]"}, 1},
		{"one-way follower deaf", with(OneWayLeader, func(e *Episode) { e.Kind, e.Variant, e.OneWay, e.HoldMS = rundir.KindPartition, One, "in", 30 }), false,
			[]string{"start-partition [n2]", "stop-partition [n2]"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ec := newElecting(nodes...)
			h := &history.Memory{}
			cfg := Config{Cluster: ec, History: h, Leader: ec.Leader}
			if tt.acked {
				var mu sync.Mutex
				n := int64(0)
				cfg.Acked = func() int64 { mu.Lock(); defer mu.Unlock(); n++; return n }
			}
			nem := New(cfg)
			began := time.Now()
			require.NoError(t, nem.Run(context.Background(), Schedule{Episodes: []Episode{tt.ep}}, began))
			assert.Less(t, time.Since(began), 5*time.Second, "bounded by the episode")
			es := entries(t, h)
			var short []string
			for _, e := range es {
				assert.True(t, strings.HasSuffix(e, " "+tt.ep.Pattern), "named after its pattern: %s", e)
				short = append(short, strings.TrimSuffix(e, " "+tt.ep.Pattern))
			}
			assert.Equal(t, tt.want, short)
			balanced(t, es)
			assert.Empty(t, ec.inForce(), "everything healed")
			assert.GreaterOrEqual(t, ec.Elections(), tt.elections)
			assert.Equal(t, map[string]PatternStat{tt.ep.Pattern: {Fired: 1}}, nem.PatternStats())
			assert.Equal(t, 1, nem.Applied())
			assert.Empty(t, nem.Active())
		})
	}
}

func TestFlappingPartition(t *testing.T) {
	ec := newElecting(five...)
	h := &history.Memory{}
	ep := Episode{Duration: Duration(400 * time.Millisecond), Order: five, Kind: rundir.KindPartition, Pattern: FlappingPartitions,
		Variant: IsolateLeader, Leader: true, PeriodMS: 40, HoldMS: 20}
	nem := New(Config{Cluster: ec, History: h, Leader: ec.Leader})
	require.NoError(t, nem.Run(context.Background(), Schedule{Episodes: []Episode{ep}}, time.Now()))
	es := entries(t, h)
	require.GreaterOrEqual(t, len(es), 6, "several flaps: %v", es)
	balanced(t, es)
	assert.Equal(t, "start-partition [n1] flapping-partition", es[0])
	assert.Equal(t, "start-partition [n2] flapping-partition", es[2], "each cut aims at the leader of that moment")
	assert.Empty(t, ec.inForce())
}

func TestPatternGivesUpAtItsEnd(t *testing.T) {
	for _, name := range Patterns {
		t.Run(name, func(t *testing.T) {
			fc := &fakeCluster{}
			h := &history.Memory{}
			nem := New(Config{Cluster: fc, History: h}) // never a leader
			ep := drawPattern(newRand(1), five, name, rundir.Kinds)
			ep.Duration = Duration(80 * time.Millisecond)
			began := time.Now()
			require.NoError(t, nem.Run(context.Background(), Schedule{Episodes: []Episode{ep}}, began))
			assert.Less(t, time.Since(began), time.Second)
			assert.GreaterOrEqual(t, time.Since(began), 80*time.Millisecond, "waited for its trigger until its end")
			assert.Empty(t, fc.Calls(), "nothing applied")
			assert.Empty(t, h.Ops(), "nothing recorded")
			assert.Equal(t, map[string]PatternStat{name: {GaveUp: 1}}, nem.PatternStats())
			assert.Zero(t, nem.Applied())
		})
	}
}

func TestPatternCutShortHeals(t *testing.T) {
	ec := newElecting(five...)
	h := &history.Memory{}
	ep := Episode{Duration: Duration(time.Hour), Order: five, Kind: rundir.KindPartition, Pattern: IsolateKillQuorum, Variant: Leader, Leader: true, HoldMS: 3_600_000}
	nem := New(Config{Cluster: ec, History: h, Leader: ec.Leader})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- nem.Run(ctx, Schedule{Episodes: []Episode{ep}}, time.Now()) }()
	require.Eventually(t, func() bool { return len(h.Ops()) == 2 }, 5*time.Second, time.Millisecond, "isolated, then killed")
	assert.Equal(t, "pattern isolate-kill-new-majority leader", nem.Active())
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"start-partition [n1] isolate-kill-new-majority", "kill [n2] isolate-kill-new-majority",
		"start [n2] isolate-kill-new-majority", "stop-partition [n1] isolate-kill-new-majority"}, entries(t, h), "healed in reverse")
	assert.Empty(t, ec.inForce())
}

func TestPatternScheduleReplays(t *testing.T) {
	s := GenerateMix(3, five, Mix{Kinds: rundir.Kinds, Patterns: map[string]float64{IsolateKillQuorum: 1, PausePastTimeout: 1}}, 200*time.Millisecond, 3*time.Second)
	require.NotEmpty(t, s.Episodes)
	path := filepath.Join(t.TempDir(), "schedule.json")
	require.NoError(t, s.WriteFile(path))
	stored, err := ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, s, stored)
	play := func(s Schedule) []string {
		ec := newElecting(five...)
		h := &history.Memory{}
		require.NoError(t, New(Config{Cluster: ec, History: h, Leader: ec.Leader}).Run(context.Background(), s, time.Now()))
		assert.Empty(t, ec.inForce())
		return entries(t, h)
	}
	first := play(s)
	assert.NotEmpty(t, first)
	// The same faults on the same roles; when two heals fall in the same
	// instant, a loaded machine may order them either way.
	assert.ElementsMatch(t, first, play(stored), "the same patterns on the same roles")
}

func TestShiftingPartition(t *testing.T) {
	ec := newElecting(five...)
	h := &history.Memory{}
	ep := Episode{Duration: Duration(500 * time.Millisecond), Order: five, Kind: rundir.KindPartition, Pattern: ShiftingPartition,
		Variant: Rotate, Leader: true, Count: 2, PeriodMS: 1000, WaitMS: 30}
	nem := New(Config{Cluster: ec, History: h, Leader: ec.Leader})
	require.NoError(t, nem.Run(context.Background(), Schedule{Episodes: []Episode{ep}}, time.Now()))
	es := entries(t, h)
	require.GreaterOrEqual(t, len(es), 6, "several shifts: %v", es)
	balanced(t, es)
	assert.Equal(t, []string{"start-partition [n1 n2] shifting-partition", "stop-partition [n1 n2] shifting-partition",
		"start-partition [n3 n4] shifting-partition", "stop-partition [n3 n4] shifting-partition",
		"start-partition [n5 n1] shifting-partition"}, es[:5], "the leader cut off first; each shift on a new leader")
	calls := ec.Calls()
	assert.Equal(t, "heal", calls[len(calls)-1])
	assert.NotContains(t, calls[:len(calls)-1], "heal", "each cut replaces the last at once")
	assert.Empty(t, ec.inForce())
	assert.GreaterOrEqual(t, ec.Elections(), 3)
}

func TestShiftingPartitionAlternates(t *testing.T) {
	ec := newElecting(five...)
	h := &history.Memory{}
	ep := Episode{Duration: Duration(500 * time.Millisecond), Order: five, Kind: rundir.KindPartition, Pattern: ShiftingPartition,
		Variant: Alternate, Leader: true, Count: 2, PeriodMS: 1000, WaitMS: 30}
	require.NoError(t, New(Config{Cluster: ec, History: h, Leader: ec.Leader}).Run(context.Background(), Schedule{Episodes: []Episode{ep}}, time.Now()))
	es := entries(t, h)
	require.GreaterOrEqual(t, len(es), 6, "several shifts: %v", es)
	balanced(t, es)
	assert.Equal(t, []string{"start-partition [n1 n2] shifting-partition", "stop-partition [n1 n2] shifting-partition",
		"start-partition [n3 n4] shifting-partition", "stop-partition [n3 n4] shifting-partition",
		"start-partition [n1 n2] shifting-partition"}, es[:5], "n5 in both majorities, going back and forth")
	assert.Empty(t, ec.inForce())
}
