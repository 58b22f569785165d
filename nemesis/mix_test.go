package nemesis

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

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
