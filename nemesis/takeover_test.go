package nemesis

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

// redisLike is a Takeover over fc whose masters n1..n3 have replicas
// n4..n6 (n4 follows n1, ...); Promote is recorded as a call of fc.
func redisLike(fc *fakeCluster) *Takeover {
	of := map[string][]string{"n1": {"n4"}, "n2": {"n5"}, "n3": {"n6"}}
	return &Takeover{
		Followers: func(leader string) []string { return of[leader] },
		Promote:   func(_ context.Context, node string) error { return fc.add("promote %s", node) },
	}
}

var six = []string{"n1", "n2", "n3", "n4", "n5", "n6"}

func TestTakeoverFault(t *testing.T) {
	ep := Episode{Kind: rundir.KindTakeover, Variant: Leader, Leader: true, Count: 1}
	order := []string{"n2", "n6", "n5", "n1", "n3", "n4"} // resolved: the leader, n2, first
	fs := faults(ep, order)
	require.Len(t, fs, 1)
	f := fs[0]
	assert.Equal(t, rundir.KindTakeover, f.Kind())
	assert.Equal(t, []string{"n2"}, f.Nodes())
	fc := &fakeCluster{}
	inj, err := f.Inject(context.Background(), promoting{Cluster: fc, t: redisLike(fc)})
	require.NoError(t, err)
	assert.Equal(t, []string{"partition [[n2] [n6 n5 n1 n3 n4]]", "promote n5"}, fc.Calls(), "cut the master off, then promote its replica")
	assert.Equal(t, Entry{rundir.StartTakeover, "n2", map[string]any{"kind": Leader, "leader": true, "nodes": []string{"n2"},
		"replica": "n5", "groups": [][]string{{"n2"}, {"n6", "n5", "n1", "n3", "n4"}}}}, inj.Start)
	assert.Equal(t, Entry{rundir.StopTakeover, "", map[string]any{"kind": Leader, "nodes": []string{"n2"}}}, inj.Stop)
	require.NoError(t, inj.Heal(context.Background()))
	assert.Equal(t, []string{"heal"}, fc.Calls()[2:])
	assert.Equal(t, []string{"the network"}, claimsOf(f), "one cut at a time")
}

func TestTakeoverWithoutTheSystemsHelp(t *testing.T) {
	f := faults(Episode{Kind: rundir.KindTakeover, Variant: Leader, Leader: true, Count: 1}, six)[0]
	fc := &fakeCluster{}
	_, err := f.Inject(context.Background(), fc)
	assert.ErrorIs(t, err, errors.ErrUnsupported, "a system without a takeover")
	assert.Empty(t, fc.Calls())

	// A master with no follower known: nothing is applied, and it says so.
	tk := &Takeover{Followers: func(string) []string { return nil }, Promote: func(context.Context, string) error { return nil }}
	inj, err := f.Inject(context.Background(), promoting{Cluster: fc, t: tk})
	assert.ErrorContains(t, err, "no follower of n1")
	require.NoError(t, inj.Heal(context.Background()))
	assert.Empty(t, fc.Calls())

	// A promotion that fails leaves the cut to heal.
	tk = redisLike(fc)
	tk.Promote = func(context.Context, string) error { return errors.New("not a replica") }
	inj, err = f.Inject(context.Background(), promoting{Cluster: fc, t: tk})
	assert.ErrorContains(t, err, "takeover on n4: not a replica")
	require.NoError(t, inj.Heal(context.Background()))
	assert.Equal(t, []string{"partition [[n1] [n2 n3 n4 n5 n6]]", "heal"}, fc.Calls())
}

func TestRunTakeover(t *testing.T) {
	ms := func(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }
	s := Schedule{Episodes: []Episode{
		{At: ms(0), Duration: ms(20), Kind: rundir.KindTakeover, Variant: Leader, Leader: true, Count: 1, Order: six},
		// Overlapping: a partition while the takeover's cut holds is skipped.
		{At: ms(5), Duration: ms(5), Kind: rundir.KindPartition, Variant: IsolateNode, Order: six},
	}}
	run := func(tk func(*fakeCluster) *Takeover) ([]string, []history.Op, *Nemesis) {
		fc := &fakeCluster{}
		h := &history.Memory{}
		cfg := Config{Cluster: fc, History: h, Leader: func() string { return "n3" }}
		if tk != nil {
			cfg.Takeover = tk(fc)
		}
		n := New(cfg)
		require.NoError(t, n.Run(context.Background(), s, time.Now()))
		return fc.Calls(), h.Ops(), n
	}
	calls, ops, n := run(redisLike)
	assert.Equal(t, []string{"partition [[n3] [n1 n2 n4 n5 n6]]", "promote n6", "heal"}, calls)
	require.Len(t, ops, 2)
	assert.Equal(t, string(rundir.StartTakeover), ops[0].F)
	assert.Equal(t, "n3", ops[0].Node, "the master cut off")
	assert.Equal(t, string(rundir.StopTakeover), ops[1].F)
	assert.Equal(t, 1, n.Applied())

	calls, ops, n = run(nil)
	assert.Equal(t, []string{"partition [[n1] [n2 n3 n4 n5 n6]]", "heal"}, calls, "no takeover without the system's help; the partition alone runs")
	assert.Len(t, ops, 2)
	assert.Empty(t, n.Unsupported(), "known before the run: the runner says so in run.json")
}

func TestGenerateTakeover(t *testing.T) {
	kinds := append(slices.Clone(rundir.Kinds), rundir.KindTakeover)
	seen := 0
	for seed := range int64(20) {
		for _, ep := range Generate(seed, six, kinds, time.Second, time.Minute).Episodes {
			if ep.Kind == rundir.KindTakeover {
				seen++
				assert.True(t, ep.Leader, "a takeover replaces the leader's shard's master")
				assert.Equal(t, 1, ep.Count)
			}
		}
	}
	assert.Positive(t, seen, "drawn when asked for")
	// Drawn with the other kinds, it leaves their draw of a schedule
	// without it alone: a system without takeover draws as before.
	plain := Generate(42, five, rundir.Kinds, 5*time.Second, 2*time.Minute)
	b, err := json.MarshalIndent(plain, "", "  ")
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "schedule-seed-42.json"))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(b))

	k, err := ParseKinds("takeover,kill")
	require.NoError(t, err)
	assert.Equal(t, []string{rundir.KindTakeover, rundir.KindKill}, k)
	k, err = ParseKinds("all")
	require.NoError(t, err)
	assert.NotContains(t, k, rundir.KindTakeover, "all is every system's kinds; the runner adds the system's own")

	dir := t.TempDir()
	s := Generate(3, six, []string{rundir.KindTakeover}, time.Second, 20*time.Second)
	require.NotEmpty(t, s.Episodes)
	path := filepath.Join(dir, "schedule.json")
	require.NoError(t, s.WriteFile(path))
	back, err := ReadFile(path)
	require.NoError(t, err, "a stored takeover replays")
	assert.Equal(t, s, back)
}
