package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/nemesis"
)

// TestGivenSchedule: Options.Schedule is the run's schedule, not one drawn
// from the seed, and a schedule for another ensemble size is refused.
func TestGivenSchedule(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	given := nemesis.Generate(7, nodes, []string{"kill"}, time.Second, 10*time.Second)
	require.NotEmpty(t, given.Episodes)

	cfg := Defaults()
	cfg.Nodes = 3
	r := &run{cfg: cfg, opts: Options{Schedule: &given}}
	require.NoError(t, r.loadSchedule())
	assert.Equal(t, given, r.sched)
	assert.Equal(t, int64(7), r.cfg.Seed, "the schedule's seed, when none was given")

	cfg.Seed, cfg.SeedSet = 99, true
	r = &run{cfg: cfg, opts: Options{Schedule: &given}}
	require.NoError(t, r.loadSchedule())
	assert.Equal(t, int64(99), r.cfg.Seed, "a given seed stays: it seeds the clients")

	cfg.Nodes = 5
	r = &run{cfg: cfg, opts: Options{Schedule: &given}}
	assert.ErrorContains(t, r.loadSchedule(), "3 nodes")
}
