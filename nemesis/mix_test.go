package nemesis

import (
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/rundir"
)

func TestGenerateMixWithoutPatternsIsGenerate(t *testing.T) {
	for seed := range int64(50) {
		for _, kinds := range [][]string{rundir.Kinds, {rundir.KindPartition}, {rundir.KindKill, rundir.KindClock}, nil} {
			want := Generate(seed, five, kinds, 3*time.Second, time.Minute)
			for _, ps := range []map[string]float64{nil, {}, {PlainDraw: 2}, {"meteor": 1}, {StrikeNewLeader: 0}} {
				assert.Equal(t, want, GenerateMix(seed, five, Mix{Kinds: kinds, Patterns: ps}, 3*time.Second, time.Minute))
			}
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func TestGenerateMixPure(t *testing.T) {
	mix := Mix{Kinds: rundir.Kinds, Patterns: map[string]float64{StrikeNewLeader: 1, FlappingPartitions: 2, PlainDraw: 1}, Compose: true}
	for seed := range int64(30) {
		a := GenerateMix(seed, five, mix, 2*time.Second, time.Minute)
		b := GenerateMix(seed, five, Mix{Kinds: slices.Clone(mix.Kinds), Patterns: maps.Clone(mix.Patterns), Compose: true}, 2*time.Second, time.Minute)
		require.Equal(t, a, b, "seed %d", seed)
	}
	assert.NotEqual(t, GenerateMix(1, five, mix, 2*time.Second, time.Minute), GenerateMix(2, five, mix, 2*time.Second, time.Minute))
}

func TestGenerateMixDrawsPatternsByWeight(t *testing.T) {
	count := map[string]int{}
	mix := Mix{Kinds: rundir.Kinds, Patterns: map[string]float64{StrikeNewLeader: 3, PausePastTimeout: 1, "meteor": 5}}
	for seed := range int64(200) {
		s := GenerateMix(seed, five, mix, time.Second, 30*time.Second)
		assert.Equal(t, map[string]float64{StrikeNewLeader: 3, PausePastTimeout: 1}, s.Patterns, "the weights drawn with")
		prevEnd := time.Duration(0)
		for _, ep := range s.Episodes {
			count[ep.Pattern]++
			assert.GreaterOrEqual(t, time.Duration(ep.At), prevEnd, "no overlap without Compose")
			assert.LessOrEqual(t, ep.End(), 30*time.Second)
			prevEnd = ep.End()
			assert.Contains(t, rundir.Kinds, ep.Kind)
			assert.ElementsMatch(t, five, ep.Order)
		}
	}
	assert.Zero(t, count[""], "no plain faults without a PlainDraw weight")
	ratio := float64(count[StrikeNewLeader]) / float64(count[PausePastTimeout])
	assert.InDelta(t, 3, ratio, 0.6, "drawn by weight: %v", count)

	// Patterns that need kinds the mix lacks are not drawn.
	for seed := range int64(50) {
		s := GenerateMix(seed, five, Mix{Kinds: []string{rundir.KindPause}, Patterns: map[string]float64{SlowClockCutOff: 1, PausePastTimeout: 1, PlainDraw: 1}}, time.Second, 30*time.Second)
		for _, ep := range s.Episodes {
			assert.Contains(t, []string{"", PausePastTimeout}, ep.Pattern)
			assert.Equal(t, rundir.KindPause, ep.Kind)
		}
	}
	// With PlainDraw, plain faults and patterns both.
	both := map[bool]int{}
	for seed := range int64(50) {
		for _, ep := range GenerateMix(seed, five, Mix{Kinds: rundir.Kinds, Patterns: map[string]float64{PlainDraw: 1, DoubleElection: 1}}, time.Second, 30*time.Second).Episodes {
			both[ep.Pattern == ""]++
		}
	}
	assert.Positive(t, both[true])
	assert.Positive(t, both[false])
}

func TestGenerateMixEveryPatternDraws(t *testing.T) {
	for _, name := range Patterns {
		s := GenerateMix(9, five, Mix{Kinds: rundir.Kinds, Patterns: map[string]float64{name: 1}}, time.Second, 30*time.Second)
		require.NotEmpty(t, s.Episodes, name)
		for _, ep := range s.Episodes {
			assert.Equal(t, name, ep.Pattern)
			assert.NotEmpty(t, ep.Variant, name)
			assert.GreaterOrEqual(t, time.Duration(ep.Duration), 1500*time.Millisecond, "a pattern has time for its steps")
		}
	}
}

func TestGenerateMixComposes(t *testing.T) {
	composed := map[string]int{}
	for seed := range int64(100) {
		s := GenerateMix(seed, five, Mix{Kinds: rundir.Kinds, Compose: true}, 2*time.Second, time.Minute)
		for i := 0; i < len(s.Episodes); i++ {
			first := s.Episodes[i]
			assert.Empty(t, first.Targets)
			if i+1 == len(s.Episodes) || time.Duration(s.Episodes[i+1].At) >= first.End() {
				continue
			}
			second := s.Episodes[i+1]
			i++
			composed[first.Kind+"+"+second.Kind]++
			assert.Greater(t, second.At, first.At)
			assert.Less(t, second.End(), first.End(), "the second heals first")
			assert.Positive(t, second.Duration)
			assert.NotEqual(t, first.Kind, second.Kind, "never two partitions at once, nor two of a kind")
			assert.Empty(t, second.Pattern, "the second is a plain fault")
			if first.Kind == rundir.KindPartition {
				assert.Contains(t, []string{CutOff, Others}, second.Targets)
				assert.False(t, second.Leader)
			}
			if i+1 < len(s.Episodes) {
				assert.GreaterOrEqual(t, time.Duration(s.Episodes[i+1].At), first.End(), "at most two at once")
			}
		}
	}
	for _, k := range []string{"partition+clock", "partition+pause", "partition+kill", "kill+partition", "pause+partition"} {
		assert.Positive(t, composed[k], "%s composed: %v", k, composed)
	}
}

// TestGenerateMixSeedPinned pins a schedule with patterns and composition,
// byte for byte: a stored one must replay the same. -update rewrites it.
func TestGenerateMixSeedPinned(t *testing.T) {
	// Named, not Patterns: a pattern added later must not change it.
	weights := map[string]float64{PlainDraw: 1}
	for _, p := range []string{"strike-new-leader", "isolate-after-ack", "isolate-kill-new-majority", "double-election",
		"pause-past-timeout", "slow-clock-cut-off", "one-way-leader", "flapping-partition", "shifting-partition"} {
		weights[p] = 1
	}
	s := GenerateMix(42, five, Mix{Kinds: rundir.Kinds, Patterns: weights, Compose: true}, 5*time.Second, 2*time.Minute)
	path := filepath.Join("testdata", "schedule-mix-seed-42.json")
	out := filepath.Join(t.TempDir(), "schedule.json")
	require.NoError(t, s.WriteFile(out))
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	stored, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, s, stored)
}

func TestReadFileRefusesUnknownPatterns(t *testing.T) {
	for want, ep := range map[string]string{
		"unknown pattern":                 `{"at":"0s","duration":"1s","kind":"pause","variant":"leader","order":["n1"],"pattern":"meteor"}`,
		"targets: want cut-off or others": `{"at":"0s","duration":"1s","kind":"pause","variant":"one","order":["n1"],"targets":"moon"}`,
		"order: \"n9\" is not one of":     `{"at":"0s","duration":"1s","kind":"pause","variant":"one","order":["n9"]}`,
		"count: want 0 to 1":              `{"at":"0s","duration":"1s","kind":"pause","variant":"one","order":["n1"],"count":4}`,
		"must not be negative":            `{"at":"-1s","duration":"1s","kind":"pause","variant":"one","order":["n1"]}`,
	} {
		path := filepath.Join(t.TempDir(), "schedule.json")
		require.NoError(t, os.WriteFile(path, []byte(`{"nodes":["n1"],"episodes":[`+ep+`]}`), 0o644))
		_, err := ReadFile(path)
		assert.ErrorContains(t, err, want)
	}
}

func FuzzReadFile(f *testing.F) {
	for _, p := range []string{"schedule-seed-42.json", "schedule-mix-seed-42.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", p))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(`{"episodes":[{"kind":"kill","order":[]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "schedule.json")
		require.NoError(t, os.WriteFile(path, b, 0o644))
		s, err := ReadFile(path)
		if err != nil {
			return
		}
		for _, ep := range s.Episodes {
			_ = ep.String()
			_ = ep.Partition(ep.Resolve(ep.Order[0]))
			_ = faults(ep, ep.Order)
		}
	})
}

func TestPatternsRegistered(t *testing.T) {
	assert.Len(t, patterns, len(Patterns))
	for _, name := range Patterns {
		p, ok := patterns[name]
		require.True(t, ok, name)
		assert.True(t, p.drawable(rundir.Kinds), name)
		assert.NotContains(t, rundir.Kinds, name, "a pattern is not a kind")
		assert.NotEqual(t, PlainDraw, name)
	}
}

func TestGenerateMixComposesWithPatterns(t *testing.T) {
	weights := map[string]float64{}
	for _, p := range Patterns {
		weights[p] = 1
	}
	composed := 0
	for seed := range int64(100) {
		s := GenerateMix(seed, five, Mix{Kinds: rundir.Kinds, Patterns: weights, Compose: true}, 2*time.Second, time.Minute)
		for i := 0; i+1 < len(s.Episodes); i++ {
			first, second := s.Episodes[i], s.Episodes[i+1]
			if time.Duration(second.At) >= first.End() {
				continue
			}
			i++
			composed++
			require.NotEmpty(t, first.Pattern)
			assert.Empty(t, second.Pattern)
			p := patterns[first.Pattern]
			assert.NotContains(t, append(p.needs, p.alt...), second.Kind, "%s with %s: a kind the pattern may use", first.Pattern, second.Kind)
			assert.Less(t, second.End(), first.End())
		}
	}
	assert.Positive(t, composed)
}
