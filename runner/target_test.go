package runner

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTargetPassesTheSeed: the nodes get the run's seed, so that a replay
// (which keeps it) draws the same randomized timeouts.
func TestTargetPassesTheSeed(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "node")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	cases := []struct {
		name string
		cfg  func(*Config)
		want []string
	}{
		{"electd", func(c *Config) { c.Algo = "raft" }, []string{"--seed", "77"}},
		{"contract", func(c *Config) {
			c.System, c.Binary, c.Args = SystemContract, bin, "--id {id} --seed {seed}"
		}, []string{"--id", "{id}", "--seed", "77"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.Seed, c.SeedSet = 77, true
			tc.cfg(&c)
			tg, err := c.target(t.Context(), slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			assert.Subset(t, tg.sys.Args, tc.want)
			assert.NotContains(t, tg.sys.Args, "{seed}")
		})
	}
}
