package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems"
)

// brokenBackend is an engine that fails at the step named by fail.
type brokenBackend struct {
	fail    string
	started bool
}

var errEngine = errors.New("the engine went away")

func (b *brokenBackend) Ping(context.Context) error {
	if b.fail == "ping" {
		return errEngine
	}
	return nil
}

func (b *brokenBackend) Clean(context.Context) (int, error) { return 0, nil }

func (b *brokenBackend) Image(context.Context, systems.System) (string, error) {
	if b.fail == "image" {
		return "", errEngine
	}
	return "splitbrain-test:none", nil
}

func (b *brokenBackend) Start(context.Context, systems.System, int, clusters.Options) (Ensemble, error) {
	b.started = true
	return nil, errEngine
}

func TestBackendFails(t *testing.T) {
	// Whatever step of the engine fails, the run could not run (exit 3),
	// says why, and leaves no half-judged verdict.
	bin := filepath.Join(t.TempDir(), "node")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	for _, step := range []string{"ping", "image", "start"} {
		t.Run(step, func(t *testing.T) {
			cfg := Defaults()
			cfg.System, cfg.Binary, cfg.Args = SystemContract, bin, "--id {id}"
			cfg.Nodes, cfg.Store, cfg.Name = 3, t.TempDir(), "r"
			b := &brokenBackend{fail: step}
			_, err := Run(context.Background(), cfg, Options{Backend: b})
			require.ErrorIs(t, err, ErrCannotRun)
			assert.ErrorIs(t, err, errEngine)
			assert.Equal(t, step == "start", b.started)
			assert.NoFileExists(t, filepath.Join(cfg.Store, "r", rundir.ResultsFile), "nothing judged")
		})
	}
}

func TestPrepare(t *testing.T) {
	// Prepare builds the image and starts nothing, writes nothing; a
	// failing engine or bad settings could not run.
	bin := filepath.Join(t.TempDir(), "node")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	cfg := Defaults()
	cfg.System, cfg.Binary, cfg.Args = SystemContract, bin, "--id {id}"
	cfg.Nodes, cfg.Store = 3, t.TempDir()
	for _, tc := range []struct {
		name string
		fail string
		cfg  func(*Config)
	}{
		{name: "ready"},
		{name: "ping", fail: "ping"},
		{name: "image", fail: "image"},
		{name: "bad settings", cfg: func(c *Config) { c.Nodes = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			b := &brokenBackend{fail: tc.fail}
			err := Prepare(context.Background(), c, Options{Backend: b})
			if tc.fail == "" && tc.cfg == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrCannotRun)
				if tc.fail != "" {
					assert.ErrorIs(t, err, errEngine)
				}
			}
			assert.False(t, b.started, "no ensemble")
			entries, err := os.ReadDir(c.Store)
			require.NoError(t, err)
			assert.Empty(t, entries, "no run directory")
		})
	}
}
