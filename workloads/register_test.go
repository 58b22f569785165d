package workloads

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
)

func TestClientOutcomes(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, "/kv/") {
		case "ok", "ok/cas":
			_, _ = w.Write([]byte(`{"value":7}`))
		case "null":
			_, _ = w.Write([]byte(`{"value":null}`))
		case "mismatch/cas":
			w.WriteHeader(http.StatusPreconditionFailed)
		case "notleader", "notleader/cas":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"not leader","leader":"n2"}`))
		case "garbage", "garbage/cas":
			_, _ = w.Write([]byte(`{"value":`))
		case "string":
			_, _ = w.Write([]byte(`{"value":"seven"}`))
		case "huge":
			_, _ = w.Write([]byte(`{"value":1,"pad":"` + strings.Repeat("x", maxBody) + `"}`))
		case "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "hang":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		case "reset", "reset/cas":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				conn.Close()
			}
		}
	}))
	defer srv.Close()
	defer close(hang) // before srv.Close, which waits for handlers
	c := NewClient("n1", srv.URL, 200*time.Millisecond)
	defer c.Close()
	ctx := context.Background()

	tests := []struct {
		name string
		do   func() Outcome
		want history.Type
		val  string
		err  string
	}{
		{"read 200", func() Outcome { return c.Read(ctx, "ok") }, history.OK, "7", ""},
		{"read null", func() Outcome { return c.Read(ctx, "null") }, history.OK, "null", ""},
		{"write 200", func() Outcome { return c.Write(ctx, "ok", 3) }, history.OK, "3", ""},
		{"cas 200", func() Outcome { return c.CAS(ctx, "ok", 1, 2) }, history.OK, "[1,2]", ""},
		{"cas 412", func() Outcome { return c.CAS(ctx, "mismatch", 1, 2) }, history.Fail, "[1,2]", "412"},
		{"write 503", func() Outcome { return c.Write(ctx, "notleader", 4) }, history.Fail, "4", "leader n2"},
		{"cas 503", func() Outcome { return c.CAS(ctx, "notleader", 1, 2) }, history.Fail, "[1,2]", "not leader"},
		{"read 503", func() Outcome { return c.Read(ctx, "notleader") }, history.Fail, "null", "503"},
		{"read garbage", func() Outcome { return c.Read(ctx, "garbage") }, history.Info, "null", "garbage"},
		{"read wrong type", func() Outcome { return c.Read(ctx, "string") }, history.Info, "null", "garbage"},
		{"read oversize", func() Outcome { return c.Read(ctx, "huge") }, history.Info, "null", "larger"},
		{"write garbage", func() Outcome { return c.Write(ctx, "garbage", 5) }, history.Info, "5", "garbage"},
		{"write 500", func() Outcome { return c.Write(ctx, "500", 5) }, history.Info, "5", "HTTP 500"},
		{"write timeout", func() Outcome { return c.Write(ctx, "hang", 6) }, history.Info, "6", "timeout"},
		{"read timeout", func() Outcome { return c.Read(ctx, "hang") }, history.Info, "null", "timeout"},
		{"cas reset", func() Outcome { return c.CAS(ctx, "reset", 1, 2) }, history.Info, "[1,2]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.do()
			assert.Equal(t, tt.want, o.Type, "error: %s", o.Error)
			assert.Equal(t, tt.val, o.Value.String())
			assert.Contains(t, o.Error, tt.err)
			if tt.want != history.OK {
				assert.NotEmpty(t, o.Error)
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close()
		o := NewClient("n9", "http://"+addr, 200*time.Millisecond).Write(ctx, "k", 1)
		assert.Equal(t, history.Fail, o.Type, "the request never left: definitely not applied")
		assert.Contains(t, o.Error, "refused")
	})
}

// fakeNode serves the node contract from memory; fail makes every nth
// request hang (an info outcome).
type fakeNode struct {
	mu    sync.Mutex
	kv    map[string]int64
	n     atomic.Int64
	every int64
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.every > 0 && f.n.Add(1)%f.every == 0 {
		http.Error(w, "flaky", http.StatusBadGateway)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/kv/")
	key, cas := strings.CutSuffix(path, "/cas")
	switch {
	case r.URL.Path == "/status":
		_, _ = w.Write([]byte(`{"id":"n1","role":"leader","term":3,"leader":"n1"}`))
	case cas:
		var b struct{ From, To int64 }
		_ = jsonDecode(r, &b)
		if v, ok := f.kv[key]; !ok || v != b.From {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		f.kv[key] = b.To
	case r.Method == http.MethodPut:
		var b struct{ Value int64 }
		_ = jsonDecode(r, &b)
		f.kv[key] = b.Value
	default:
		if v, ok := f.kv[key]; ok {
			_, _ = w.Write([]byte(`{"value":` + itoa(v) + `}`))
			return
		}
		_, _ = w.Write([]byte(`{"value":null}`))
	}
}

func TestRegisterRun(t *testing.T) {
	node := &fakeNode{kv: map[string]int64{}, every: 7}
	srv := httptest.NewServer(node)
	defer srv.Close()
	h := &history.Memory{}
	stats := &Stats{}
	r, err := NewRegister(RegisterConfig{
		Nodes:       []Endpoint{{"n1", hostPort(srv.URL)}, {"n2", hostPort(srv.URL)}},
		Concurrency: 4, Keys: 3, Seed: 42, History: h, Stats: stats,
		Timeout: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, r.Run(ctx))
	ops := h.Ops()
	require.NotEmpty(t, ops)

	written := map[int64]bool{}
	open := map[history.Process]history.Op{}
	retired := map[history.Process]bool{}
	nodes := map[history.Process]string{}
	sawInfo := false
	for _, op := range ops {
		if op.Type == history.Invoke {
			assert.False(t, retired[op.Process], "process %d invoked after an info", op.Process)
			_, busy := open[op.Process]
			assert.False(t, busy, "process %d has two operations open", op.Process)
			open[op.Process] = op
			nodes[op.Process] = op.Node
			var vals []int64
			switch op.F {
			case history.FWrite:
				vals = []int64{op.Value.Int}
			case history.FCAS:
				vals = []int64{op.Value.To}
			}
			for _, v := range vals {
				assert.False(t, written[v], "value %d written twice", v)
				written[v] = true
			}
			continue
		}
		inv, ok := open[op.Process]
		require.True(t, ok, "completion without invocation: %+v", op)
		delete(open, op.Process)
		assert.Equal(t, inv.F, op.F)
		assert.Equal(t, inv.Key, op.Key)
		if op.Type == history.Info {
			sawInfo = true
			retired[op.Process] = true
		}
	}
	assert.Empty(t, open, "every operation completes when the run ends")
	assert.True(t, sawInfo, "the flaky node gave some info outcomes")
	assert.Greater(t, r.nextProcess.Load(), int64(4), "retired processes were replaced")
	// Round robin: processes 0 and 2 on n1, 1 and 3 on n2.
	assert.Equal(t, "n1", nodes[0])
	assert.Equal(t, "n2", nodes[1])
	assert.Equal(t, "n1", nodes[2])
	total := stats.OK.Load() + stats.Fail.Load() + stats.Info.Load()
	assert.Equal(t, int64(len(ops)/2), total)
	assert.Positive(t, stats.Fail.Load(), "cas mismatches are fail")

	final, err := r.FinalReads(context.Background(), Endpoint{"n1", hostPort(srv.URL)})
	require.NoError(t, err)
	assert.Len(t, final, 3)
}

func TestRegisterRate(t *testing.T) {
	srv := httptest.NewServer(&fakeNode{kv: map[string]int64{}})
	defer srv.Close()
	h := &history.Memory{}
	r, err := NewRegister(RegisterConfig{Nodes: []Endpoint{{"n1", hostPort(srv.URL)}}, Concurrency: 3, Keys: 1, Rate: 50, History: h})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	require.NoError(t, r.Run(ctx))
	n := len(h.Ops()) / 2
	assert.InDelta(t, 20, n, 8, "about 50/s for 0.4 s")
}

func TestNewRegisterRejects(t *testing.T) {
	h := &history.Memory{}
	ep := []Endpoint{{"n1", "x:1"}}
	for _, cfg := range []RegisterConfig{
		{Concurrency: 1, Keys: 1, History: h},
		{Nodes: ep, Concurrency: 0, Keys: 1, History: h},
		{Nodes: ep, Concurrency: 1, Keys: 0, History: h},
		{Nodes: ep, Concurrency: 1, Keys: 1, Rate: -1, History: h},
		{Nodes: ep, Concurrency: 1, Keys: 1},
	} {
		_, err := NewRegister(cfg)
		assert.Error(t, err)
	}
}

// FuzzClientAnswers: whatever a node answers, the client maps it to ok, fail
// or info and never panics; a read is ok only with an integer or null.
func FuzzClientAnswers(f *testing.F) {
	f.Add(200, `{"value":7}`)
	f.Add(200, `{"value":null}`)
	f.Add(200, `{"value":1.5}`)
	f.Add(200, `{"value":7}{}`)
	f.Add(503, `{"error":"not leader","leader":"n2"}`)
	f.Add(412, ``)
	f.Add(500, `{"error":"x","indeterminate":true}`)
	f.Add(200, "\x00\xff")
	var code atomic.Int64
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(code.Load()))
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()
	c := NewClient("n1", srv.URL, time.Second)
	defer c.Close()
	f.Fuzz(func(t *testing.T, status int, answer string) {
		if status < 200 || status > 599 {
			return
		}
		code.Store(int64(status))
		body.Store(answer)
		for _, o := range []Outcome{c.Read(context.Background(), "k"), c.Write(context.Background(), "k", 1), c.CAS(context.Background(), "k", 1, 2)} {
			switch o.Type {
			case history.OK:
				if status != http.StatusOK {
					t.Fatalf("ok from HTTP %d", status)
				}
			case history.Fail:
				if status != http.StatusServiceUnavailable && status != http.StatusPreconditionFailed {
					t.Fatalf("fail from HTTP %d", status)
				}
			case history.Info:
			default:
				t.Fatalf("outcome %q", o.Type)
			}
		}
	})
}
