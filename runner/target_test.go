package runner

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/systems"
)

// TestSystemGetsTheSeed: the nodes get the run's seed as {seed}, so that a
// replay (which keeps it) draws the same randomized timeouts.
func TestSystemGetsTheSeed(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "node")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	cases := []struct {
		name string
		cfg  func(*Config)
		want []string
	}{
		{"electd", func(c *Config) { c.Algo = "raft" }, []string{"--id", "n1", "--seed", "77"}},
		{"contract", func(c *Config) {
			c.System, c.Binary, c.Args = SystemContract, bin, "--id {id} --seed {seed}"
		}, []string{"--id", "n1", "--seed", "77"}},
	}
	self := systems.Peer{ID: "n1", Index: 1, IP: "10.0.0.11"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{cfg: Defaults(), log: slog.New(slog.DiscardHandler)}
			r.cfg.Seed, r.cfg.SeedSet = 77, true
			tc.cfg(&r.cfg)
			require.NoError(t, r.resolveSystem(t.Context()))
			argv := r.sys.Argv(self, []systems.Peer{self})
			assert.Subset(t, argv, tc.want)
			assert.NotContains(t, argv, "{seed}")
		})
	}
}
