package clusters

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
	"github.com/splitbrain/splitbrain/workloads"
)

// TestNoStart: with Options.NoStart the servers wait for Ensemble.Start,
// one at a time.
func TestNoStart(t *testing.T) {
	needEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := Start(ctx, fakeSystem, 3, Options{NoStart: true, Logf: t.Logf})
	require.NoError(t, err)
	defer func() {
		require.NoError(t, e.Teardown(context.Background()))
		assertGone(t, e.RunID())
	}()
	for _, n := range e.Nodes() {
		h, err := e.Health(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, agentapi.StateIdle, h.Server, "%s's server before its start", n.ID)
	}
	require.NoError(t, e.Start(ctx, "n2"))
	n2, _ := e.Node("n2")
	for {
		c := workloads.NewClient("n2", "http://"+n2.Addr, 500*time.Millisecond)
		st, err := c.Status(ctx)
		c.Close()
		if err == nil && st.ID == "n2" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("n2 does not answer after its start: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, id := range []string{"n1", "n3"} {
		h, err := e.Health(ctx, id)
		require.NoError(t, err)
		require.Equal(t, agentapi.StateIdle, h.Server, "%s still waits", id)
	}
}
