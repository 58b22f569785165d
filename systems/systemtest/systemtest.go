// Package systemtest holds what the Docker tests of the real systems
// (systems/zookeeper, systems/etcd) share: a poll of every node's status,
// waiting for a leader a majority agrees on (failing the test on two
// leaders in one term), and small helpers. Only tests import it.
package systemtest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/workloads"
)

// View is one poll of every node's status.
type View map[string]workloads.Status

// LeaderOf returns the leader that a majority of among (the leader
// included) agree on in one term, if any.
func (v View) LeaderOf(among []string) (string, int64, bool) {
	type reign struct {
		leader string
		term   int64
	}
	votes := map[reign]int{}
	for _, id := range among {
		if st, ok := v[id]; ok && st.Leader != "" {
			votes[reign{st.Leader, st.Term}]++
		}
	}
	for r, n := range votes {
		if n > len(among)/2 && v[r.leader].Role == rundir.RoleLeader && v[r.leader].Term == r.term {
			return r.leader, r.term, true
		}
	}
	return "", 0, false
}

// Harness is an ensemble under test and a client per node.
type Harness[C workloads.Conn] struct {
	T       testing.TB
	E       *clusters.Ensemble
	Clients map[string]C
	// Every is the polling period of WaitLeader; 20 ms when zero.
	Every   time.Duration
	leaders map[int64]string // every (term -> leader) a poll saw
}

// New returns a harness of e with no clients yet.
func New[C workloads.Conn](t testing.TB, e *clusters.Ensemble) *Harness[C] {
	return &Harness[C]{T: t, E: e, Clients: map[string]C{}, leaders: map[int64]string{}}
}

// Poll asks each of ids for its status; a node that does not answer is
// left out. Two leaders in one term, over all polls, fail the test.
func (h *Harness[C]) Poll(ctx context.Context, ids []string) View {
	v := View{}
	for _, id := range ids {
		st, err := h.Clients[id].Status(ctx)
		if err != nil {
			continue
		}
		v[id] = st
		if st.Role == rundir.RoleLeader {
			if prev, ok := h.leaders[st.Term]; ok && prev != id {
				h.T.Errorf("two leaders in term %d: %s and %s", st.Term, prev, id)
			}
			h.leaders[st.Term] = id
		}
	}
	return v
}

// WaitLeader polls among until a majority agree on a leader in a term
// above after, and returns it with the time it took; it fails the test
// when ctx ends first.
func (h *Harness[C]) WaitLeader(ctx context.Context, among []string, after int64) (string, int64, time.Duration) {
	h.T.Helper()
	every := h.Every
	if every <= 0 {
		every = 20 * time.Millisecond
	}
	start := time.Now()
	var last View
	for {
		last = h.Poll(ctx, among)
		if l, term, ok := last.LeaderOf(among); ok && term > after {
			return l, term, time.Since(start)
		}
		select {
		case <-ctx.Done():
			h.T.Fatalf("no leader among %v in a term above %d: %v (last view %+v)", among, after, ctx.Err(), last)
		case <-time.After(every):
		}
	}
}

// IDs are the ensemble's node ids.
func (h *Harness[C]) IDs() []string {
	var ids []string
	for _, n := range h.E.Nodes() {
		ids = append(ids, n.ID)
	}
	return ids
}

// Without returns ids less id.
func Without(ids []string, id string) []string {
	return slices.DeleteFunc(slices.Clone(ids), func(x string) bool { return x == id })
}

// RequireOutcome fails t unless o has type typ and, for an ok or when v
// is given, value v.
func RequireOutcome(t testing.TB, typ history.Type, v history.Value, o workloads.Outcome, what string) {
	t.Helper()
	require.Equal(t, typ, o.Type, "%s: %+v", what, o)
	if typ == history.OK || v.Kind != history.None {
		require.Equal(t, v, o.Value, "%s: %+v", what, o)
	}
}

// EnvInt is the integer in environment variable name, or def.
func EnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// Summary is "p50 X, worst Y, best Z (n)" of ds.
func Summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Sorted(slices.Values(ds))
	return fmt.Sprintf("p50 %v, worst %v, best %v (%d)", s[len(s)/2].Round(time.Millisecond),
		s[len(s)-1].Round(time.Millisecond), s[0].Round(time.Millisecond), len(s))
}

// Throughput runs the register workload of splitbrain run
// (workloads.Register: concurrency processes bound round robin to the
// nodes, 5 keys) through dial for d, and logs operations per second by
// outcome under name.
func Throughput(ctx context.Context, t testing.TB, name string, e *clusters.Ensemble, dial workloads.Dial, concurrency int, d time.Duration) {
	t.Helper()
	var eps []workloads.Endpoint
	for _, n := range e.Nodes() {
		eps = append(eps, workloads.Endpoint{Node: n.ID, Addr: n.Addr})
	}
	stats := &workloads.Stats{}
	reg, err := workloads.NewRegister(workloads.RegisterConfig{Nodes: eps, Concurrency: concurrency, Keys: 5,
		Seed: 1, History: &history.Memory{}, Stats: stats, Dial: dial})
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	require.NoError(t, reg.Run(rctx))
	ok, fail, info := stats.OK.Load(), stats.Fail.Load(), stats.Info.Load()
	t.Logf("%s, %d clients: %.0f ops/s (ok %d, fail %d, info %d)", name, concurrency,
		float64(ok+fail+info)/time.Since(start).Seconds(), ok, fail, info)
}

// WaitAllFollow polls among until every node but leader follows leader,
// failing the test after within.
func (h *Harness[C]) WaitAllFollow(ctx context.Context, among []string, leader string, within time.Duration) {
	h.T.Helper()
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		v := h.Poll(wctx, among)
		ok := true
		for _, id := range Without(among, leader) {
			ok = ok && v[id].Role == rundir.RoleFollower && v[id].Leader == leader
		}
		if ok {
			return
		}
		select {
		case <-wctx.Done():
			h.T.Fatalf("not every node follows %s: %+v", leader, v)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// engineErr is why no Docker engine answered, set by Main.
var engineErr error

// Main runs a test binary's tests: it turns testcontainers' reaper off,
// asks whether a Docker engine answers, and removes what killed runs left
// behind. Call it from TestMain.
func Main(m *testing.M) {
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, engineErr = clusters.Ping(ctx)
	cancel()
	if engineErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if n, err := clusters.Clean(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "clean:", err)
		} else if n > 0 {
			fmt.Fprintf(os.Stderr, "clean: removed %d leftovers\n", n)
		}
		cancel()
	}
	os.Exit(m.Run())
}

// NeedEngine skips t, saying why, under -short or when no Docker engine
// answered Main.
func NeedEngine(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: a Docker integration test (-short)")
	}
	if engineErr != nil {
		t.Skipf("skipping: needs a Docker engine: %v", engineErr)
	}
}
