package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/systems/debian"
	"github.com/splitbrain/splitbrain/workloads"
)

func peers(n int) []systems.Peer {
	ps := make([]systems.Peer, n)
	for i := range ps {
		ps[i] = systems.Peer{ID: fmt.Sprintf("n%d", i+1), Index: i + 1, IP: fmt.Sprintf("10.1.2.%d", 11+i)}
	}
	return ps
}

// flags reads an argv of "--name value" and "--name=value" pairs.
func flags(t *testing.T, argv []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		require.True(t, strings.HasPrefix(a, "--"), "argument %q is not a flag", a)
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			require.Less(t, i+1, len(argv), "flag %s has no value", a)
			i++
			val = argv[i]
		}
		_, dup := m[name]
		require.False(t, dup, "flag %s given twice", name)
		m[name] = val
	}
	return m
}

func TestSystemRendering(t *testing.T) {
	files := []systems.Binary{{Dest: EtcdPath, File: "/cache/etcd"}}
	sys := System(Options{Binaries: files})
	require.NoError(t, sys.Validate())
	assert.Equal(t, "etcd", sys.Name)
	assert.Empty(t, sys.BaseImage, "FROM scratch")
	assert.Equal(t, files, sys.Binaries)
	assert.Equal(t, ClientPort, sys.ClientPort)
	assert.Equal(t, PeerPort, sys.PeerPort)
	assert.Equal(t, systems.ClockNone, sys.Clock, "a Go binary: no clock control")
	assert.Equal(t, ClientEtcd, sys.Client)

	ps := peers(3)
	argv := sys.Argv(ps[1], ps)
	assert.Equal(t, EtcdPath, argv[0])
	got := flags(t, argv[1:])
	want := map[string]string{
		"name":                        "n2",
		"data-dir":                    "/data/n2/etcd",
		"initial-cluster":             "n1=http://10.1.2.11:2380,n2=http://10.1.2.12:2380,n3=http://10.1.2.13:2380",
		"initial-cluster-state":       "new",
		"initial-cluster-token":       ClusterToken,
		"listen-client-urls":          "http://10.1.2.12:2379",
		"advertise-client-urls":       "http://10.1.2.12:2379",
		"listen-peer-urls":            "http://10.1.2.12:2380",
		"initial-advertise-peer-urls": "http://10.1.2.12:2380",
		"heartbeat-interval":          "50",
		"election-timeout":            "500",
		"pre-vote":                    "true",
		"logger":                      "zap",
		"log-outputs":                 "stderr",
	}
	assert.Equal(t, want, got)
	assert.True(t, strings.HasPrefix(got["data-dir"], sys.Data()+"/n2/"), "the data directory is under the node's, which outlives restarts")

	// Nine members, each its own URL.
	ps = peers(9)
	got = flags(t, sys.Argv(ps[8], ps)[1:])
	assert.Len(t, strings.Split(got["initial-cluster"], ","), 9)
	assert.Equal(t, "n9", got["name"])
	assert.Equal(t, "http://10.1.2.19:2379", got["listen-client-urls"])
}

func TestSystemOptions(t *testing.T) {
	sys := System(Options{BaseImage: "my/etcd:3.5", Etcd: "/usr/local/bin/etcd",
		Heartbeat: 100 * time.Millisecond, ElectionTimeout: time.Second, NoPreVote: true,
		Extra: []string{"--snapshot-count", "1000", "--name-suffix={index}"}})
	require.NoError(t, sys.Validate())
	assert.Equal(t, "my/etcd:3.5", sys.BaseImage)
	assert.Empty(t, sys.Binaries)
	ps := peers(3)
	argv := sys.Argv(ps[2], ps)
	assert.Equal(t, "/usr/local/bin/etcd", argv[0])
	got := flags(t, argv[1:])
	assert.Equal(t, "100", got["heartbeat-interval"])
	assert.Equal(t, "1000", got["election-timeout"])
	assert.Equal(t, "false", got["pre-vote"])
	assert.Equal(t, "1000", got["snapshot-count"])
	assert.Equal(t, "3", got["name-suffix"], "extra flags are templates")
}

func TestNodeIndex(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{{"n1", 1, true}, {"n9", 9, true}, {"n12", 12, true}, {"1", 0, false}, {"n0", 0, false},
		{"n-1", 0, false}, {"nx", 0, false}, {"", 0, false}, {"n01", 0, false}, {"n+1", 0, false}} {
		got, err := NodeIndex(tc.in)
		if tc.ok {
			assert.NoError(t, err, tc.in)
			assert.Equal(t, tc.want, got, tc.in)
		} else {
			assert.Error(t, err, tc.in)
		}
	}
}

func TestModuleVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v3.5.35", "v3.5.35"}, {"3.6.16", "v3.6.16"}, {"v3.8.0-alpha.0", "v3.8.0-alpha.0"},
		{"", ""}, {"v2.3.8", ""}, {"3.5", ""}, {"v3.5.x", ""}, {"v3.5.35 ", ""}, {"v3.5.35;rm", ""}, {"latest", ""},
	} {
		got, err := ModuleVersion(tc.in)
		if tc.want == "" {
			assert.Error(t, err, "%q", tc.in)
			continue
		}
		assert.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
	}
}

// Real answers of Debian's etcd 3.4.23 (memstats cut short).
const (
	varsLeader   = `{"cmdline": ["/usr/bin/etcd"], "file_descriptor_limit": 1048576, "memstats": {"Alloc":1}, "raft.status": {"id":"2e1259d415f2a040","term":2,"vote":"2e1259d415f2a040","commit":4,"lead":"2e1259d415f2a040","raftState":"StateLeader","applied":4,"progress":{"2e1259d415f2a040":{"match":4,"next":5,"state":"StateReplicate"}},"leadtransferee":"0"}}`
	varsFollower = `{"raft.status": {"id":"9fb309c25b8ee5bd","term":3,"vote":"869dffee69d16456","commit":12,"lead":"869dffee69d16456","raftState":"StateFollower","applied":12,"progress":{},"leadtransferee":"0"}}`
	varsPreCand  = `{"raft.status": {"id":"9fb309c25b8ee5bd","term":3,"vote":"869dffee69d16456","commit":12,"lead":"0","raftState":"StatePreCandidate","applied":12,"progress":{},"leadtransferee":"0"}}`
	varsNoRaft   = `{"cmdline": [], "raft.status": null}`
)

func TestParseVars(t *testing.T) {
	s, err := ParseVars([]byte(varsLeader))
	require.NoError(t, err)
	assert.Equal(t, RaftStatus{ID: 0x2e1259d415f2a040, Term: 2, Lead: 0x2e1259d415f2a040, RaftState: StateLeader, Commit: 4, Applied: 4}, s)
	s, err = ParseVars([]byte(varsFollower))
	require.NoError(t, err)
	assert.Equal(t, uint64(0x869dffee69d16456), s.Lead)
	assert.Equal(t, StateFollower, s.RaftState)
	s, err = ParseVars([]byte(varsPreCand))
	require.NoError(t, err)
	assert.Zero(t, s.Lead)
	_, err = ParseVars([]byte(varsNoRaft))
	assert.ErrorIs(t, err, errNoRaft)
	for _, bad := range []string{
		``, `[]`, `{}`, `{"raft.status": 1}`, `{} {}`, `{"raft.status": {}}`,
		`{"raft.status": {"id":"1","lead":"0","raftState":"StateFollower"}}`,                          // no term
		`{"raft.status": {"id":"0","term":1,"lead":"0","raftState":"StateFollower"}}`,                 // id 0
		`{"raft.status": {"id":"1","term":1,"lead":"2","raftState":"StateLeader"}}`,                   // a leader naming another
		`{"raft.status": {"id":"1","term":1,"lead":"0","raftState":"StateBoss"}}`,                     // unknown state
		`{"raft.status": {"id":"xyz","term":1,"lead":"0","raftState":"StateFollower"}}`,               // not hex
		`{"raft.status": {"id":"1","term":1,"lead":"11111111111111111","raftState":"StateFollower"}}`, // 17 digits
		`{"raft.status": {"id":"1","term":-1,"lead":"0","raftState":"StateFollower"}}`,
		`{"raft.status": {"id":"1","term":9223372036854775807,"lead":"0","raftState":"StateFollower"}}`,
	} {
		_, err := ParseVars([]byte(bad))
		assert.Error(t, err, "%s", bad)
	}
}

func TestToStatus(t *testing.T) {
	book := NewMembers()
	rs, err := ParseVars([]byte(varsFollower))
	require.NoError(t, err)
	// The leader is unknown, and the lookup names nobody: an error, not a guess.
	_, err = toStatus("n1", rs, book, func() error { return nil })
	assert.Error(t, err)
	lookups := 0
	lookup := func() error {
		lookups++
		return book.learn(0x869dffee69d16456, "n2")
	}
	st, err := toStatus("n1", rs, book, lookup)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n1", Role: rundir.RoleFollower, Term: 3, Leader: "n2", Commit: 12}, st)
	_, err = toStatus("n1", rs, book, lookup)
	require.NoError(t, err)
	assert.Equal(t, 1, lookups, "a known leader is not looked up again")

	// n1 is member 9fb3...: another node answering with that id is an error.
	_, err = toStatus("n3", rs, book, nil)
	assert.Error(t, err)

	lead := RaftStatus{ID: 0x869dffee69d16456, Term: 3, Lead: 0x869dffee69d16456, RaftState: StateLeader}
	st, err = toStatus("n2", lead, book, nil)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n2", Role: rundir.RoleLeader, Term: 3, Leader: "n2"}, st)

	pre, err := ParseVars([]byte(varsPreCand))
	require.NoError(t, err)
	st, err = toStatus("n1", pre, book, nil)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n1", Role: rundir.RoleCandidate, Term: 3, Commit: 12}, st)

	noLead := RaftStatus{ID: 0x9fb309c25b8ee5bd, Term: 4, RaftState: StateFollower}
	st, err = toStatus("n1", noLead, book, nil)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n1", Role: rundir.RoleFollower, Term: 4}, st, "a follower that knows no leader yet")

	_, err = toStatus("n1", RaftStatus{ID: 7, Term: 1, Lead: 9, RaftState: StateFollower}, NewMembers(), func() error { return errors.New("down") })
	assert.ErrorContains(t, err, "down")
}

func TestMembers(t *testing.T) {
	m := NewMembers()
	require.NoError(t, m.learn(1, "n1"))
	require.NoError(t, m.learn(1, "n1"), "again")
	assert.Error(t, m.learn(1, "n2"), "one id, two nodes")
	assert.Error(t, m.learn(2, "n1"), "one node, two ids")
	n, ok := m.Node(1)
	assert.True(t, ok)
	assert.Equal(t, "n1", n)
	_, ok = m.Node(2)
	assert.False(t, ok)
}

func TestDefinite(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{rpctypes.ErrGRPCNoLeader, true},
		{rpctypes.ErrGRPCRequestTooManyRequests, true},
		{rpctypes.ErrGRPCRequestTooLarge, true},
		{rpctypes.ErrGRPCNoSpace, true},
		{status.Error(codes.Unknown, "raft proposal dropped"), true},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.1:2379: connect: connection refused"`), true},
		{rpctypes.ErrGRPCTimeout, false},
		{rpctypes.ErrGRPCTimeoutDueToLeaderFail, false},
		{rpctypes.ErrGRPCTimeoutDueToConnectionLost, false},
		{rpctypes.ErrGRPCLeaderChanged, false},
		{rpctypes.ErrGRPCStopped, false},
		{status.Error(codes.Unavailable, "error reading from server: EOF"), false},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), false},
		{status.Error(codes.Unknown, "something else"), false},
		{context.DeadlineExceeded, false},
		{errors.New("plain"), false},
	} {
		assert.Equal(t, tc.want, definite(tc.err), "%v", tc.err)
	}
	assert.Equal(t, history.Info, writeOutcome(history.IntValue(1), rpctypes.ErrGRPCTimeout).Type)
	assert.Equal(t, history.Fail, writeOutcome(history.IntValue(1), rpctypes.ErrGRPCNoLeader).Type)
	assert.Equal(t, history.OK, writeOutcome(history.IntValue(1), nil).Type)
	assert.Equal(t, "timeout", describe(status.Error(codes.DeadlineExceeded, "context deadline exceeded")))
	assert.Equal(t, "etcdserver: no leader", describe(rpctypes.ErrGRPCNoLeader))
}

func TestParseValue(t *testing.T) {
	v, err := workloads.DecodeValue([]byte("-42"))
	require.NoError(t, err)
	assert.Equal(t, int64(-42), v)
	for _, bad := range []string{"", "1.5", " 1", "x", "99999999999999999999"} {
		_, err := workloads.DecodeValue([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
	_, err = key("")
	assert.Error(t, err)
	k, err := key("x")
	require.NoError(t, err)
	assert.Equal(t, KeyPrefix+"x", k)
}

func TestNewClientOptions(t *testing.T) {
	_, err := NewClient("n1", "no-port", ClientOptions{})
	assert.Error(t, err)
	_, err = NewClient("x1", "127.0.0.1:1", ClientOptions{})
	assert.Error(t, err)
	_, err = NewClient("n1", "127.0.0.1:1", ClientOptions{ReadMode: "quorum"})
	assert.Error(t, err)
}

// TestClientBounded: every call on a member that accepts connections but
// never speaks returns within the timeout, and none is ok.
func TestClientBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	c, err := NewClient("n1", ln.Addr().String(), ClientOptions{Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	for name, op := range map[string]func() workloads.Outcome{
		"read":  func() workloads.Outcome { return c.Read(ctx, "x") },
		"write": func() workloads.Outcome { return c.Write(ctx, "x", 1) },
		"cas":   func() workloads.Outcome { return c.CAS(ctx, "x", 1, 2) },
	} {
		start := time.Now()
		o := op()
		assert.Less(t, time.Since(start), 2*time.Second, name)
		assert.NotEqual(t, history.OK, o.Type, "%s: %+v", name, o)
	}
	start := time.Now()
	_, err = c.Status(ctx)
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// stuckKV is an etcd KV service that takes every request and never
// answers.
type stuckKV struct {
	pb.UnimplementedKVServer
	got atomic.Int64
}

func (s *stuckKV) wait(ctx context.Context) error {
	s.got.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

func (s *stuckKV) Range(ctx context.Context, _ *pb.RangeRequest) (*pb.RangeResponse, error) {
	return nil, s.wait(ctx)
}

func (s *stuckKV) Put(ctx context.Context, _ *pb.PutRequest) (*pb.PutResponse, error) {
	return nil, s.wait(ctx)
}

func (s *stuckKV) Txn(ctx context.Context, _ *pb.TxnRequest) (*pb.TxnResponse, error) {
	return nil, s.wait(ctx)
}

// TestClientSentTimeout: a request that reached the member and had no
// answer within the timeout is indeterminate for a put or a cas (it may
// yet apply), a fail for a get (no effect either way). Each is sent once:
// the library does not retry.
func TestClientSentTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	kv := &stuckKV{}
	pb.RegisterKVServer(srv, kv)
	go srv.Serve(ln)
	defer srv.Stop()
	c, err := NewClient("n1", ln.Addr().String(), ClientOptions{Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	o := c.Read(ctx, "x")
	assert.Equal(t, history.Fail, o.Type, "%+v", o)
	assert.Equal(t, "timeout", o.Error)
	o = c.Write(ctx, "x", 1)
	assert.Equal(t, history.Info, o.Type, "%+v", o)
	o = c.CAS(ctx, "x", 1, 2)
	assert.Equal(t, history.Info, o.Type, "%+v", o)
	assert.Equal(t, int64(3), kv.got.Load(), "one attempt per call")
}

// TestClientRefused: a member that is down: writes were never sent, so
// they fail.
func TestClientRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewClient("n1", addr, ClientOptions{Timeout: 500 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	o := c.Write(context.Background(), "x", 1)
	assert.Equal(t, history.Fail, o.Type, "%+v", o)
	o = c.CAS(context.Background(), "x", 1, 2)
	assert.Equal(t, history.Fail, o.Type, "%+v", o)
}

func TestStatusOverHTTP(t *testing.T) {
	var body atomic.Value
	body.Store(varsLeader)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/vars" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body.Load().(string))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c, err := NewClient("n1", addr, ClientOptions{Timeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n1", Role: rundir.RoleLeader, Term: 2, Leader: "n1", Commit: 4}, st)
	body.Store(strings.Repeat(" ", maxVars+10) + "{}")
	_, err = c.Status(context.Background())
	assert.ErrorContains(t, err, "larger than")
	body.Store("garbage")
	_, err = c.Status(context.Background())
	assert.Error(t, err)
}

func TestSlogCore(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	z := zap.New(&slogCore{l: l}).With(zap.String("target", "t1"))
	z.Warn("retrying", zap.Int("attempt", 2))
	out := buf.String()
	for _, want := range []string{"retrying", "level=warn", "target=t1", "attempt=2"} {
		assert.Contains(t, out, want)
	}
	buf.Reset()
	quiet := zap.New(&slogCore{l: slog.New(slog.NewTextHandler(&buf, nil))})
	quiet.Error("dropped")
	assert.Empty(t, buf.String(), "debug is off in an info logger")
}

func FuzzParseVars(f *testing.F) {
	for _, s := range []string{varsLeader, varsFollower, varsPreCand, varsNoRaft, `{}`, `{"raft.status":{"id":"1","term":1,"lead":"1","raftState":"StateLeader"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseVars(b)
		if err != nil {
			return
		}
		if s.ID == 0 {
			t.Fatalf("accepted member id 0: %s", b)
		}
		if s.RaftState == StateLeader && s.Lead != s.ID {
			t.Fatalf("accepted a leader naming another: %s", b)
		}
		// What it accepts, toStatus turns into a status or an error, never a panic.
		st, err := toStatus("n1", s, NewMembers(), nil)
		if err == nil && st.Role == rundir.RoleLeader && st.Leader != "n1" {
			t.Fatalf("leader status naming another: %+v", st)
		}
		if err == nil && st.Term < 0 {
			t.Fatalf("negative term: %+v", st)
		}
	})
}

func FuzzNodeIndex(f *testing.F) {
	for _, s := range []string{"n1", "n10", "n0", "x", "n01", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NodeIndex(s)
		if err == nil && fmt.Sprintf("n%d", n) != s {
			t.Fatalf("NodeIndex(%q) = %d", s, n)
		}
	})
}

func FuzzModuleVersion(f *testing.F) {
	for _, s := range []string{"v3.5.35", "3.6.16", "v3.8.0-alpha.0", "../x", "v3.5.35 -ldflags"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ModuleVersion(s)
		if err != nil {
			return
		}
		// It goes into go get's argument and a directory name.
		if strings.ContainsAny(v, " /\\\x00@:") || strings.Contains(v, "..") || !strings.HasPrefix(v, "v3.") {
			t.Fatalf("ModuleVersion(%q) = %q", s, v)
		}
	})
}

func TestPrepare(t *testing.T) {
	ctx := context.Background()
	sys, b, err := Prepare(ctx, Options{BaseImage: "my/etcd:3.5", Version: "v3.5.35"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "my/etcd:3.5", sys.BaseImage)
	assert.Empty(t, sys.Binaries, "a user's image: nothing built")
	assert.Zero(t, b)
	_, _, err = Prepare(ctx, Options{Version: "latest"}, nil)
	assert.ErrorContains(t, err, "want v3.MINOR.PATCH")
}

func TestPruneCache(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	for _, n := range []string{"debian-old", "debian-new", "tmp-old", "tmp-new"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, n), 0o755))
		if strings.HasSuffix(n, "-old") {
			require.NoError(t, os.Chtimes(filepath.Join(dir, n), old, old))
		}
	}
	debian.PruneCache(dir, 30*24*time.Hour)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{"debian-old", "debian-new", "tmp-new"}, left, "entries live 30 days, a killed build's work directory one")
}

func TestDial(t *testing.T) {
	members := NewMembers()
	dial := Dial(ClientOptions{ReadMode: ReadSerializable, Members: members})
	conn, err := dial(workloads.Endpoint{Node: "n2", Addr: "127.0.0.1:1"}, 250*time.Millisecond)
	require.NoError(t, err)
	defer conn.Close()
	c, ok := conn.(*Client)
	require.True(t, ok)
	assert.Equal(t, "n2", c.Node)
	assert.Equal(t, 250*time.Millisecond, c.timeout)
	assert.True(t, c.serializable)
	assert.Same(t, members, c.members, "one book per ensemble")
	conn, err = dial(workloads.Endpoint{Node: "bad", Addr: "127.0.0.1:1"}, time.Second)
	assert.Error(t, err)
	assert.Nil(t, conn, "no typed nil behind the interface")
}
