package zookeeper

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/workloads"
)

func peers(n int) []systems.Peer {
	ps := make([]systems.Peer, n)
	for i := range ps {
		ps[i] = systems.Peer{ID: nodeID(int64(i + 1)), Index: i + 1, IP: "10.1.2." + string(rune('1'+i)) + "1"}
	}
	return ps
}

func TestSystemRendering(t *testing.T) {
	sys := System(Options{BaseImage: "splitbrain/zookeeper-base:x"})
	require.NoError(t, sys.Validate())
	assert.Equal(t, "splitbrain/zookeeper-base:x", sys.BaseImage)
	assert.Equal(t, ClientPort, sys.ClientPort)
	ps := peers(3)
	files := map[string]string{}
	for _, f := range sys.Files {
		files[f.Path] = sys.Expand(f.Content, ps[1], ps)
	}
	assert.Equal(t, "2\n", files[DataDir+"/myid"], "n2's myid")
	cfg := map[string]string{}
	for _, l := range strings.Split(files[ConfPath], "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		require.True(t, ok, "zoo.cfg line %q", l)
		_, dup := cfg[k]
		require.False(t, dup, "zoo.cfg sets %s twice", k)
		cfg[k] = v
	}
	for k, want := range map[string]string{
		"tickTime":               "250",
		"initLimit":              "20",
		"syncLimit":              "4",
		"dataDir":                DataDir,
		"clientPort":             "2181",
		"admin.enableServer":     "true",
		"admin.serverPort":       "8080",
		"4lw.commands.whitelist": "srvr,stat,mntr,ruok",
		"server.1":               "10.1.2.11:2888:3888",
		"server.2":               "10.1.2.21:2888:3888",
		"server.3":               "10.1.2.31:2888:3888",
	} {
		assert.Equal(t, want, cfg[k], "zoo.cfg %s", k)
	}
	assert.NotContains(t, cfg, "server.4")
	assert.True(t, strings.HasPrefix(DataDir, sys.Data()+"/"), "dataDir under the system's data directory")

	argv := sys.Argv(ps[0], ps)
	assert.Equal(t, systems.ClockFile, sys.Clock)
	assert.Equal(t, []systems.Binary{{Dest: "/zkclock", Package: ClockPackage}}, sys.Binaries)
	require.Equal(t, "/zkclock", argv[0], "the JVM runs under zkclock")
	assert.Contains(t, argv, systems.ClockFilePath)
	argv = argv[indexOf(argv, "--")+1:]
	assert.Equal(t, JavaHome+"/bin/java", argv[0])
	assert.Contains(t, argv, "-Xmx"+DefaultHeap)
	assert.Equal(t, []string{"org.apache.zookeeper.server.quorum.QuorumPeerMain", ConfPath}, argv[len(argv)-2:])
	cp := argv[indexOf(argv, "-cp")+1]
	for _, j := range []string{"zookeeper.jar", "slf4j-simple.jar", "servlet-api.jar"} {
		assert.Contains(t, cp, JarDir+"/"+j)
	}

	custom := System(Options{BaseImage: "zk:3.8", Heap: "256m", Java: "/opt/java/bin/java", ClassPath: "/zk/lib/*", TickTime: 500 * time.Millisecond, NoClock: true})
	require.NoError(t, custom.Validate())
	assert.Equal(t, systems.ClockNone, custom.Clock)
	assert.Empty(t, custom.Binaries)
	argv = custom.Argv(ps[0], ps)
	assert.Equal(t, "/opt/java/bin/java", argv[0])
	assert.Contains(t, argv, "-Xmx256m")
	assert.Equal(t, "/zk/lib/*", argv[indexOf(argv, "-cp")+1])
	assert.Contains(t, custom.Expand(custom.Files[0].Content, ps[0], ps), "\ntickTime=500\n")
}

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	return -1
}

func TestMyID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{{"n1", 1, true}, {"n9", 9, true}, {"n12", 12, true}, {"1", 0, false}, {"n0", 0, false}, {"n-1", 0, false}, {"nx", 0, false}, {"", 0, false}} {
		got, err := MyID(tc.in)
		if tc.ok {
			assert.NoError(t, err, tc.in)
			assert.Equal(t, tc.want, got, tc.in)
		} else {
			assert.Error(t, err, tc.in)
		}
	}
}

// Real answers of Debian's ZooKeeper 3.8.0 AdminServer (addresses cut).
const (
	zabLeader        = `{"myid":3,"is_leader":true,"voting":true,"last_zxid":"0x100000000","zab_epoch":1,"zab_counter":0,"zabstate":"broadcast","command":"zabstate","error":null}`
	zabFollowerZero  = `{"myid":2,"is_leader":false,"voting":true,"last_zxid":"0x0","zab_epoch":0,"zab_counter":0,"zabstate":"broadcast","command":"zabstate","error":null}`
	zabNotServing    = `{"command":"zabstate","error":"This ZooKeeper instance is not currently serving requests"}`
	leaderOfFollower = `{"is_leader":false,"leader_id":3,"leader_ip":"10.1.2.31","command":"leader","error":null}`
)

func TestParseZabState(t *testing.T) {
	z, err := ParseZabState([]byte(zabLeader))
	require.NoError(t, err)
	assert.Equal(t, ZabState{MyID: 3, IsLeader: true, LastZxid: "0x100000000", ZabEpoch: 1, ZabState: "broadcast"}, z)
	z, err = ParseZabState([]byte(zabNotServing))
	require.NoError(t, err)
	assert.Contains(t, z.Error, "not currently serving")
	for _, bad := range []string{``, `[]`, `{"last_zxid":"12"}`, `{"last_zxid":"0x100000000","zab_epoch":2}`, `{} {}`, `{"zab_epoch":-1}`, `{"myid":"x"}`} {
		_, err := ParseZabState([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestParseSrvr(t *testing.T) {
	out := "Zookeeper version: 3.8.0-debian--1, built on 2024-06-16 00:00 UTC\nLatency min/avg/max: 0/0.0/0\n" +
		"Received: 3\nSent: 2\nConnections: 1\nOutstanding: 0\nZxid: 0x200000004\nMode: follower\nNode count: 6\n"
	mode, zxid, err := ParseSrvr([]byte(out))
	require.NoError(t, err)
	assert.Equal(t, "follower", mode)
	assert.Equal(t, int64(0x200000004), zxid)
	mode, _, err = ParseSrvr([]byte("This ZooKeeper instance is not currently serving requests\n"))
	require.NoError(t, err)
	assert.Empty(t, mode)
	_, _, err = ParseSrvr([]byte("Mode: leader\n"))
	assert.Error(t, err)
	_, _, err = ParseSrvr([]byte("Mode: leader\nZxid: 0xzz\n"))
	assert.Error(t, err)
}

// fakeAdmin serves canned AdminServer answers that a test changes.
type fakeAdmin struct {
	mu     sync.Mutex
	answer map[string]string
}

func (f *fakeAdmin) set(cmd, body string) {
	f.mu.Lock()
	f.answer[cmd] = body
	f.mu.Unlock()
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	body, ok := f.answer[strings.TrimPrefix(r.URL.Path, "/commands/")]
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(body))
}

func newFake(t *testing.T) (*fakeAdmin, string) {
	f := &fakeAdmin{answer: map[string]string{}}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return f, strings.TrimPrefix(s.URL, "http://")
}

// TestProbe: roles from zabstate, a follower's epoch from its leader, and
// no epoch of a node that is not leading ever going back.
func TestProbe(t *testing.T) {
	ctx := context.Background()
	hc := &http.Client{Timeout: time.Second}
	book := NewEpochs()
	lead, leadAddr := newFake(t)
	foll, follAddr := newFake(t)

	lead.set("zabstate", zabLeader)
	st, err := probe(ctx, hc, "n3", leadAddr, book)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n3", Role: rundir.RoleLeader, Term: 1, Leader: "n3", Commit: 0x100000000}, st)

	foll.set("zabstate", zabFollowerZero)
	foll.set("leader", leaderOfFollower)
	st, err = probe(ctx, hc, "n2", follAddr, book)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n2", Role: rundir.RoleFollower, Term: 1, Leader: "n3"}, st, "the follower's epoch is its leader's, not its zxid's 0")

	foll.set("zabstate", zabNotServing)
	st, err = probe(ctx, hc, "n2", follAddr, book)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n2", Role: rundir.RoleLooking, Term: 1}, st, "looking keeps the epoch it was in")

	// The leader answering as another server is garbage.
	_, err = probe(ctx, hc, "n1", leadAddr, book)
	assert.ErrorContains(t, err, "answers as server 3")

	// A leader in broadcast but not is_leader (AdminServer still shows the
	// follower's server): not a leader.
	foll.set("zabstate", strings.Replace(zabFollowerZero, `"zabstate":"broadcast"`, `"zabstate":"synchronization"`, 1))
	st, err = probe(ctx, hc, "n2", follAddr, book)
	require.NoError(t, err)
	assert.Equal(t, rundir.RoleLooking, st.Role)

	for _, bad := range []string{"", "garbage", `{"myid":2,"last_zxid":"0x5","zab_epoch":9}`, strings.Repeat("x", maxAnswer+10)} {
		foll.set("zabstate", bad)
		_, err := probe(ctx, hc, "n2", follAddr, book)
		assert.Error(t, err, "%.40q", bad)
	}
	_, err = probe(ctx, hc, "n2", "127.0.0.1:1", book)
	assert.Error(t, err, "nothing listening")
}

func TestEpochs(t *testing.T) {
	b := NewEpochs()
	assert.Equal(t, int64(0), b.notLeading(1, 0, 0))
	b.leading(2, 3)
	assert.Equal(t, int64(3), b.notLeading(1, 0, 2), "from its leader")
	assert.Equal(t, int64(3), b.notLeading(1, 1, 0), "a truncated zxid does not take it back")
	assert.Equal(t, int64(5), b.notLeading(1, 5, 2), "its own zxid is newer")
	b.leading(2, 7)
	assert.Equal(t, int64(7), b.notLeading(2, 0, 0), "a leader that stepped down keeps its epoch")
}

// TestClientTimeouts: a client of a server that never answers returns
// within its timeout: a fail for reads (no effect) and for writes and
// cas, as nothing was sent without a session; Status is an error.
func TestClientTimeouts(t *testing.T) {
	c, err := NewClient("n1", "127.0.0.1:1", ClientOptions{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	for name, op := range map[string]func() workloads.Outcome{
		"read":  func() workloads.Outcome { return c.Read(ctx, "k") },
		"write": func() workloads.Outcome { return c.Write(ctx, "k", 1) },
		"cas":   func() workloads.Outcome { return c.CAS(ctx, "k", 1, 2) },
	} {
		start := time.Now()
		o := op()
		assert.Less(t, time.Since(start), 2*time.Second, name)
		assert.Equal(t, history.Fail, o.Type, "%s: %+v", name, o)
	}
	_, err = c.Status(ctx)
	assert.Error(t, err)

	_, err = NewClient("n1", "nohost", ClientOptions{})
	assert.Error(t, err)
	_, err = NewClient("x", "127.0.0.1:2181", ClientOptions{})
	assert.Error(t, err)
	_, err = NewClient("n1", "127.0.0.1:2181", ClientOptions{ReadMode: "lease"})
	assert.Error(t, err)
	o := c.Read(ctx, "a/b")
	assert.Equal(t, history.Fail, o.Type)
}

func TestWriteOutcome(t *testing.T) {
	v := history.IntValue(1)
	assert.Equal(t, history.OK, writeOutcome(v, nil, true).Type)
	assert.Equal(t, history.Fail, writeOutcome(v, context.DeadlineExceeded, false).Type, "never sent")
	assert.Equal(t, history.Info, writeOutcome(v, context.DeadlineExceeded, true).Type, "sent, no answer")
	assert.Equal(t, "timeout", writeOutcome(v, context.DeadlineExceeded, true).Error)
}

func FuzzParseZabState(f *testing.F) {
	for _, s := range []string{zabLeader, zabFollowerZero, zabNotServing, `{}`, `{"last_zxid":"0xffffffffffffffff","zab_epoch":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := ParseZabState(b)
		if err != nil || z.Error != "" || z.LastZxid == "" {
			return
		}
		zx, err := ParseZxid(z.LastZxid)
		if err != nil || zx>>32 != z.ZabEpoch || z.ZabEpoch < 0 {
			t.Fatalf("accepted %q: %+v", b, z)
		}
		if _, err := json.Marshal(z); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseSrvr(f *testing.F) {
	f.Add([]byte("Zxid: 0x200000004\nMode: follower\n"))
	f.Add([]byte("This ZooKeeper instance is not currently serving requests\n"))
	f.Add([]byte("Mode: leader\nZxid: 0x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mode, _, err := ParseSrvr(b)
		if err == nil && mode == "" && !strings.Contains(string(b), "not currently serving") && !strings.Contains(string(b), "Mode:") {
			t.Fatalf("accepted %q with no mode", b)
		}
	})
}

func FuzzParseLeader(f *testing.F) {
	f.Add([]byte(leaderOfFollower))
	f.Add([]byte(`{"error":"server is not initialized"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseLeader(b)
	})
}

func FuzzParseZxid(f *testing.F) {
	for _, s := range []string{"0x0", "0x100000003", "0xffffffffffffffff", "0x", "12", "0x-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseZxid(s); err == nil && !strings.HasPrefix(s, "0x") {
			t.Fatalf("accepted %q", s)
		}
	})
}

// TestGate: once the caller gave up (and was told nothing was sent),
// nothing is sent; once something was sent, giving up says so.
func TestGate(t *testing.T) {
	g := &gate{}
	assert.False(t, g.abandon(), "nothing sent yet")
	assert.False(t, g.send(), "no sending after the caller gave up")
	assert.False(t, g.wasSent())
	g = &gate{}
	assert.True(t, g.send())
	assert.True(t, g.abandon(), "a request was sent: indeterminate")
	assert.True(t, g.wasSent())
}

// registerClient is workloads.Client's method set, which the runner will
// use through an interface: Client must keep matching it.
type registerClient interface {
	Read(ctx context.Context, key string) workloads.Outcome
	Write(ctx context.Context, key string, v int64) workloads.Outcome
	CAS(ctx context.Context, key string, from, to int64) workloads.Outcome
	Status(ctx context.Context) (workloads.Status, error)
	Close()
}

var (
	_ registerClient = (*Client)(nil)
	_ registerClient = (*workloads.Client)(nil)
)

func TestReadModes(t *testing.T) {
	for _, tt := range []struct{ mode, want string }{{"", ReadQuorum}, {ReadQuorum, ReadQuorum}, {ReadSync, ReadSync}, {ReadLocal, ReadLocal}} {
		c, err := NewClient("n1", "127.0.0.1:1", ClientOptions{ReadMode: tt.mode})
		require.NoError(t, err, tt.mode)
		assert.Equal(t, tt.want, c.readMode, "read mode %q", tt.mode)
		c.Close()
	}
	_, err := NewClient("n1", "127.0.0.1:1", ClientOptions{ReadMode: "lease"})
	assert.ErrorContains(t, err, "want quorum, sync or local")
	assert.False(t, strings.HasPrefix(FencePrefix, ZnodePrefix), "a fence znode is never a register key's")
}
