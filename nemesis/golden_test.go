package nemesis

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// everyVariant draws episodes until it has one of every shape Generate
// makes (kind, variant, aimed at the leader, one way, frozen clock, count),
// all at offset 0 so that they run back to back without waiting.
func everyVariant() []Episode {
	seen := map[string]bool{}
	var out []Episode
	for seed := range int64(300) {
		for _, ep := range Generate(seed, five, rundir.Kinds, time.Second, time.Minute).Episodes {
			key := fmt.Sprint(ep.Kind, ep.Variant, ep.Leader, ep.OneWay, ep.FreezeClock, ep.Count, ep.DelayMS > 0)
			if seen[key] {
				continue
			}
			seen[key] = true
			ep.At, ep.Duration = 0, 0
			if ep.Variant == Strobe {
				ep.PeriodMS = int64(time.Hour / time.Millisecond) // no flip: the calls stay the same run to run
			}
			out = append(out, ep)
		}
	}
	return out
}

type goldenOp struct {
	F     string          `json:"f"`
	Node  string          `json:"node,omitempty"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error,omitempty"`
}

type goldenRun struct {
	Ops         []goldenOp `json:"ops"`
	Calls       []string   `json:"calls"`
	Applied     int        `json:"applied"`
	Unsupported []string   `json:"unsupported"`
}

// TestGoldenHistory pins the history entries and the cluster calls of a
// schedule with every shape of fault, in the cases that change them: a
// leader known or not, clock and netem missing, actions failing. The
// entries are the run format (docs/run-format.md): they must not change
// when the code does. go test ./nemesis -run Golden -update rewrites them.
func TestGoldenHistory(t *testing.T) {
	eps := everyVariant()
	require.Greater(t, len(eps), 25, "Generate draws many shapes")
	failing := func(prefixes ...string) func(string) bool {
		return func(call string) bool {
			for _, p := range prefixes {
				if strings.HasPrefix(call, p) {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name    string
		leader  string
		noClock bool // the system accepts none
		cluster *fakeCluster
		eps     []Episode
	}{
		{"leader known", "n3", false, &fakeCluster{}, eps},
		{"no leader known", "", false, &fakeCluster{}, eps},
		{"no clock faults, no netem", "n3", true, &fakeCluster{noNetem: true}, eps},
		{"clock unsupported here", "n3", false, &fakeCluster{noClock: true}, eps},
		{"actions fail", "n3", false, &fakeCluster{fail: failing("kill n3", "resume", "partition", "netem n3 0s")}, []Episode{
			{Kind: rundir.KindKill, Variant: Leader, Leader: true, Count: 1, Order: five},
			{Kind: rundir.KindPause, Variant: One, Count: 1, Order: five},
			{Kind: rundir.KindPartition, Variant: Halves, Order: five},
			{Kind: rundir.KindNetem, Variant: Leader, Leader: true, Count: 1, DelayMS: 30, Order: five},
		}},
	}
	got := map[string]goldenRun{}
	for _, tt := range tests {
		h := &history.Memory{}
		n := New(Config{Cluster: tt.cluster, History: h, Leader: func() string { return tt.leader }, NoClock: tt.noClock,
			LeaderWait: time.Millisecond})
		require.NoError(t, n.Run(context.Background(), Schedule{Episodes: tt.eps}, time.Now()), tt.name)
		run := goldenRun{Calls: tt.cluster.Calls(), Applied: n.Applied(), Unsupported: n.Unsupported()}
		for _, op := range h.Ops() {
			run.Ops = append(run.Ops, goldenOp{F: op.F, Node: op.Node, Value: op.Value.Raw, Error: op.Error})
		}
		got[tt.name] = run
	}
	path := filepath.Join("testdata", "golden-history.json")
	b, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(b))
}

// TestGenerateSeedPinned pins the schedule of one seed, byte for byte as
// schedule.json: Generate is a pure function of its arguments, and a
// stored schedule must replay the same faults, so neither the draw nor the
// file format may drift. -update rewrites it.
func TestGenerateSeedPinned(t *testing.T) {
	path := filepath.Join("testdata", "schedule-seed-42.json")
	s := Generate(42, five, rundir.Kinds, 5*time.Second, 2*time.Minute)
	out := filepath.Join(t.TempDir(), "schedule.json")
	require.NoError(t, s.WriteFile(out))
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	stored, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, s, stored, "the stored schedule reads back as drawn")
}
