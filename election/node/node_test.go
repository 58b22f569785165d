package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/wal"
)

// syncBuffer collects a node's event lines; the loop writes while the test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "event line %q", sc.Text())
		out = append(out, m)
	}
	return out
}

// testNode is one node of an in-process ensemble on loopback.
type testNode struct {
	*Node
	fake   *fakeProto
	url    string
	addr   string
	dir    string
	events *syncBuffer
	cancel context.CancelFunc
	runErr chan error
}

type clusterOpts struct {
	leader         string
	requestTimeout time.Duration
	tune           func(*fakeProto)
}

// listenAll reserves an ephemeral port per node first, since every node's
// configuration needs every address.
func listenAll(t *testing.T, n int) ([]net.Listener, []Peer) {
	t.Helper()
	var lns []net.Listener
	var peers []Peer
	for i := range n {
		ln := ListenRestartable(t)
		lns = append(lns, ln)
		peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i+1), Addr: ln.Addr().String()})
	}
	return lns, peers
}

func startFakeCluster(t *testing.T, size int, o clusterOpts) []*testNode {
	t.Helper()
	lns, peers := listenAll(t, size)
	var nodes []*testNode
	for i, p := range peers {
		tn := startFakeNode(t, p.ID, peers, t.TempDir(), lns[i], o)
		nodes = append(nodes, tn)
	}
	return nodes
}

func startFakeNode(t *testing.T, id string, peers []Peer, dir string, ln net.Listener, o clusterOpts) *testNode {
	t.Helper()
	tn := &testNode{dir: dir, events: &syncBuffer{}, addr: ln.Addr().String()}
	tn.url = "http://" + tn.addr
	n, err := New(Config{
		ID:      id,
		Peers:   peers,
		DataDir: dir,
		NewProtocol: func(c election.Config) (election.Protocol, error) {
			tn.fake = newFake(c, o.leader)
			if o.tune != nil {
				o.tune(tn.fake)
			}
			return tn.fake, nil
		},
		Events:         tn.events,
		RequestTimeout: o.requestTimeout,
	})
	require.NoError(t, err)
	tn.Node = n
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	tn.runErr = make(chan error, 1)
	go func() { tn.runErr <- n.Run(ctx, ln) }()
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

func (tn *testNode) stop(t *testing.T) {
	tn.cancel()
	select {
	case err, ok := <-tn.runErr:
		if ok {
			assert.NoError(t, err)
			close(tn.runErr)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("node %s did not stop within 5s", tn.id)
	}
}

var httpc = &http.Client{Timeout: 5 * time.Second}

// call does one request and decodes the JSON answer (nil for no body).
func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	resp, err := httpc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(bytes.TrimSpace(b)) == 0 {
		return resp.StatusCode, nil
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "answer %q", b)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return resp.StatusCode, m
}

func TestWriteReadCASOnLeader(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1"})[0]

	code, body := call(t, "GET", n.url+"/kv/x", "")
	assert.Equal(t, 200, code)
	assert.Equal(t, map[string]any{"value": nil}, body, "a key never written reads null")

	code, _ = call(t, "PUT", n.url+"/kv/x", `{"value": 7}`)
	assert.Equal(t, 200, code)
	code, body = call(t, "GET", n.url+"/kv/x", "")
	assert.Equal(t, 200, code)
	assert.Equal(t, 7.0, body["value"])

	code, body = call(t, "POST", n.url+"/kv/x/cas", `{"from": 6, "to": 9}`)
	assert.Equal(t, 412, code, "cas with the wrong expected value")
	assert.NotEmpty(t, body["error"])
	code, _ = call(t, "POST", n.url+"/kv/x/cas", `{"from": 7, "to": -9}`)
	assert.Equal(t, 200, code)
	_, body = call(t, "GET", n.url+"/kv/x", "")
	assert.Equal(t, -9.0, body["value"])
}

// The contract's central ordering: a client sees 200 only after the record
// the write produced is fsynced in the write-ahead file.
func TestAcknowledgedWriteIsAlreadyInTheWAL(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1"})[0]
	for i := 1; i <= 20; i++ {
		code, _ := call(t, "PUT", n.url+"/kv/k", fmt.Sprintf(`{"value": %d}`, i))
		require.Equal(t, 200, code)
		data, err := os.ReadFile(filepath.Join(n.dir, wal.FileName))
		require.NoError(t, err)
		recs, _, err := wal.Decode(data)
		require.NoError(t, err)
		require.NotEmpty(t, recs)
		assert.JSONEq(t, fmt.Sprintf(`{"k":"k","v":%d}`, i), string(recs[len(recs)-1]))
	}
}

func TestRestartReplaysTheWAL(t *testing.T) {
	lns, peers := listenAll(t, 1)
	dir := t.TempDir()
	n := startFakeNode(t, "n1", peers, dir, lns[0], clusterOpts{leader: "n1"})
	code, _ := call(t, "PUT", n.url+"/kv/a", `{"value": 42}`)
	require.Equal(t, 200, code)
	n.stop(t)

	ln, err := net.Listen("tcp", peers[0].Addr)
	require.NoError(t, err)
	n2 := startFakeNode(t, "n1", peers, dir, ln, clusterOpts{leader: "n1"})
	_, body := call(t, "GET", n2.url+"/kv/a", "")
	assert.Equal(t, 42.0, body["value"])
}

func TestGarbageBodiesAre400(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1"})[0]
	cases := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"not json", "PUT", "/kv/x", "garbage", 400, "malformed JSON"},
		{"empty", "PUT", "/kv/x", "", 400, "empty body"},
		{"string value", "PUT", "/kv/x", `{"value": "7"}`, 400, "malformed JSON"},
		{"float value", "PUT", "/kv/x", `{"value": 1.5}`, 400, "malformed JSON"},
		{"overflowing value", "PUT", "/kv/x", `{"value": 99999999999999999999}`, 400, "malformed JSON"},
		{"missing value", "PUT", "/kv/x", `{}`, 400, `"value" is missing`},
		{"null value", "PUT", "/kv/x", `{"value": null}`, 400, `"value" is missing`},
		{"unknown field", "PUT", "/kv/x", `{"value": 1, "extra": 2}`, 400, "unknown field"},
		{"trailing data", "PUT", "/kv/x", `{"value": 1} {"value": 2}`, 400, "trailing data"},
		{"array", "PUT", "/kv/x", `[1]`, 400, "malformed JSON"},
		{"cas missing to", "POST", "/kv/x/cas", `{"from": 1}`, 400, `"to" is missing`},
		{"cas garbage", "POST", "/kv/x/cas", `{{`, 400, "malformed JSON"},
		{"clock missing offset", "POST", "/clock", `{"rate": 1}`, 400, `"offset_ms" is missing`},
		{"clock negative rate", "POST", "/clock", `{"offset_ms": 0, "rate": -1}`, 400, "rate"},
		{"clock huge offset", "POST", "/clock", `{"offset_ms": 9000000000000000}`, 400, "offset_ms"},
		{"key too long", "GET", "/kv/" + strings.Repeat("k", MaxKeyLen+1), "", 400, "key must be"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, c.method, n.url+c.path, c.body)
			assert.Equal(t, c.code, code)
			require.NotNil(t, body)
			assert.Contains(t, body["error"], c.msg)
		})
	}
	// Nothing of the above reached the register.
	_, body := call(t, "GET", n.url+"/kv/x", "")
	assert.Nil(t, body["value"])
}

func TestOversizedBodiesAre413(t *testing.T) {
	n := startFakeCluster(t, 2, clusterOpts{leader: "n1"})[0]
	big := `{"value": 1` + strings.Repeat(" ", MaxClientBody) + `}`
	code, body := call(t, "PUT", n.url+"/kv/x", big)
	assert.Equal(t, 413, code)
	assert.Contains(t, body["error"], "exceeds")

	code, _ = call(t, "POST", n.url+"/peer?from=n2", strings.Repeat("x", MaxPeerBody+1))
	assert.Equal(t, 413, code)
}

func TestUnknownPathsAndMethods(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1"})[0]
	code, body := call(t, "GET", n.url+"/nope", "")
	assert.Equal(t, 404, code)
	assert.Contains(t, body["error"], "no such endpoint")
	code, _ = call(t, "GET", n.url+"/kv/", "")
	assert.Equal(t, 404, code)
	code, _ = call(t, "GET", n.url+"/kv/a/b", "")
	assert.Equal(t, 404, code)
	code, body = call(t, "DELETE", n.url+"/kv/x", "")
	assert.Equal(t, 405, code)
	assert.Contains(t, body["error"], "GET, PUT")
	code, _ = call(t, "POST", n.url+"/status", "{}")
	assert.Equal(t, 405, code)
}

func TestNotLeaderWithoutKnownLeaderIs503(t *testing.T) {
	n := startFakeCluster(t, 2, clusterOpts{leader: ""})[0]
	code, body := call(t, "PUT", n.url+"/kv/x", `{"value": 1}`)
	assert.Equal(t, 503, code)
	assert.Equal(t, map[string]any{"error": "not leader", "leader": ""}, body)
}

func TestFollowerForwardsToTheLeader(t *testing.T) {
	nodes := startFakeCluster(t, 3, clusterOpts{leader: "n2"})
	code, body := call(t, "PUT", nodes[0].url+"/kv/x", `{"value": 5}`)
	require.Equal(t, 200, code, "%v", body)
	code, body = call(t, "GET", nodes[2].url+"/kv/x", "")
	require.Equal(t, 200, code)
	assert.Equal(t, 5.0, body["value"])
	code, _ = call(t, "POST", nodes[0].url+"/kv/x/cas", `{"from": 4, "to": 6}`)
	assert.Equal(t, 412, code, "the leader's 412 is relayed")
	// The write happened on the leader only.
	_, received, _ := nodes[1].fake.snapshot()
	_ = received
	assert.Equal(t, int64(5), nodes[1].fake.kvGet("x"))
}

func TestForwardToADeadLeaderIs503(t *testing.T) {
	nodes := startFakeCluster(t, 2, clusterOpts{leader: "n2"})
	nodes[1].stop(t)
	code, body := call(t, "PUT", nodes[0].url+"/kv/x", `{"value": 5}`)
	assert.Equal(t, 503, code, "connection refused: the leader never saw it")
	assert.Equal(t, "n2", body["leader"])
}

// A forwarded request that the target cannot serve is not forwarded again.
func TestForwardIsOneHop(t *testing.T) {
	nodes := startFakeCluster(t, 2, clusterOpts{leader: "n2"})
	req, _ := http.NewRequest("PUT", nodes[0].url+"/kv/x", strings.NewReader(`{"value":1}`))
	req.Header.Set(forwardedHeader, "n2")
	resp, err := httpc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
}

func TestUnansweredRequestTimesOutAs504Indeterminate(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1", requestTimeout: 100 * time.Millisecond,
		tune: func(f *fakeProto) { f.silent = true }})[0]
	start := time.Now()
	code, body := call(t, "PUT", n.url+"/kv/x", `{"value": 1}`)
	assert.Equal(t, 504, code)
	assert.Equal(t, true, body["indeterminate"])
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestLostLeadershipIsIndeterminateNot503(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1",
		tune: func(f *fakeProto) { f.answerErr = election.ErrLostLeadership }})[0]
	code, body := call(t, "PUT", n.url+"/kv/x", `{"value": 1}`)
	assert.Equal(t, 500, code)
	assert.Equal(t, true, body["indeterminate"])
	assert.Contains(t, body["error"], "outcome unknown")
}

func TestStatusAndClockSkew(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1"})[0]
	code, body := call(t, "GET", n.url+"/status", "")
	require.Equal(t, 200, code)
	assert.Equal(t, "n1", body["id"])
	assert.Equal(t, "leader", body["role"])
	assert.Equal(t, "n1", body["leader"])
	for _, k := range []string{"term", "commit", "clock_offset_ms"} {
		assert.Contains(t, body, k)
	}
	assert.InDelta(t, 0, body["clock_offset_ms"], 2)

	code, _ = call(t, "POST", n.url+"/clock", `{"offset_ms": 5000, "rate": 1}`)
	require.Equal(t, 200, code)
	_, body = call(t, "GET", n.url+"/status", "")
	assert.InDelta(t, 5000, body["clock_offset_ms"], 5)
	// The protocol's Tick sees the skewed clock.
	require.Eventually(t, func() bool {
		last, _, _ := n.fake.snapshot()
		return last.Sub(time.Now()) > 4900*time.Millisecond
	}, 2*time.Second, 5*time.Millisecond)

	code, _ = call(t, "POST", n.url+"/clock", `{"offset_ms": -250}`)
	require.Equal(t, 200, code)
	_, body = call(t, "GET", n.url+"/status", "")
	assert.InDelta(t, -250, body["clock_offset_ms"], 5)
	assert.Equal(t, 1.0, body["clock_rate"])
}

func TestEventsAreJSONLines(t *testing.T) {
	nodes := startFakeCluster(t, 2, clusterOpts{leader: "n1"})
	// n1 (leader) announces its role at start and leases as it ticks.
	require.Eventually(t, func() bool {
		kinds := map[string]bool{}
		for _, e := range nodes[0].events.lines(t) {
			kinds[e["event"].(string)] = true
		}
		return kinds["role"] && kinds["lease"]
	}, 2*time.Second, 10*time.Millisecond)
	ev := nodes[0].events.lines(t)
	assert.Equal(t, map[string]any{"event": "role", "id": "n1", "role": "leader", "term": 0.0, "local_ms": ev[0]["local_ms"]}, ev[0])
	for _, e := range ev {
		if e["event"] == "lease" {
			assert.Greater(t, e["until_local_ms"], e["local_ms"])
		}
	}
	// A term change is announced exactly once even though the fake both
	// emits a role event and changes its Status.
	// A later term change is the fence: n2's loop handles messages in order,
	// so once term 4 is announced every announcement of term 3 is out.
	nodes[0].peers["n2"].enqueue([]byte("term 3"))
	nodes[0].peers["n2"].enqueue([]byte("term 4"))
	require.Eventually(t, func() bool {
		evs := roleEvents(t, nodes[1].events)
		return len(evs) > 0 && evs[len(evs)-1]["term"] == 4.0
	}, 2*time.Second, 10*time.Millisecond)
	evs := roleEvents(t, nodes[1].events)
	require.Len(t, evs, 3, "the start, term 3 and term 4, each once: %v", evs)
	assert.Equal(t, "follower", evs[1]["role"])
	assert.Equal(t, 3.0, evs[1]["term"])
	assert.Equal(t, 4.0, evs[2]["term"])
}

func roleEvents(t *testing.T, b *syncBuffer) []map[string]any {
	var out []map[string]any
	for _, e := range b.lines(t) {
		if e["event"] == "role" {
			out = append(out, e)
		}
	}
	return out
}

func TestPeerTransportDeliversInOrder(t *testing.T) {
	nodes := startFakeCluster(t, 2, clusterOpts{leader: ""})
	for i := 1; i <= 200; i++ {
		nodes[0].peers["n2"].enqueue([]byte(fmt.Sprintf("term %d", i)))
	}
	require.Eventually(t, func() bool {
		_, rec, _ := nodes[1].fake.snapshot()
		return len(rec) == 200
	}, 5*time.Second, 10*time.Millisecond)
	_, rec, _ := nodes[1].fake.snapshot()
	for i, m := range rec {
		assert.Equal(t, "n1", m.from)
		assert.Equal(t, fmt.Sprintf("term %d", i+1), string(m.payload))
	}
	// The status snapshot is published after the batch's Ready is handled.
	assert.Eventually(t, func() bool { return nodes[1].Status().Term == 200 }, time.Second, 5*time.Millisecond)
}

func TestPeerEndpointRejectsStrangersAndBadFrames(t *testing.T) {
	nodes := startFakeCluster(t, 2, clusterOpts{leader: ""})
	code, body := call(t, "POST", nodes[0].url+"/peer?from=n9", "")
	assert.Equal(t, 400, code)
	assert.Contains(t, body["error"], "not a peer")
	code, _ = call(t, "POST", nodes[0].url+"/peer?from=n1", "")
	assert.Equal(t, 400, code, "a node is not its own peer")
	code, body = call(t, "POST", nodes[0].url+"/peer?from=n2", "\x10\x00\x00\x00abc")
	assert.Equal(t, 400, code)
	assert.Contains(t, body["error"], "malformed")
	// A well-framed payload the protocol rejects is counted, not fatal.
	code, _ = call(t, "POST", nodes[0].url+"/peer?from=n2", string(appendFrame(nil, []byte("junk"))))
	assert.Equal(t, 204, code)
	require.Eventually(t, func() bool { return nodes[0].Stats().StepErrors.Load() == 1 }, 2*time.Second, 5*time.Millisecond)
}

// Sends to a stopped peer fail fast and are dropped; the sender recovers
// when the peer comes back.
func TestSendsToADownPeerAreDroppedAndRecover(t *testing.T) {
	lns, peers := listenAll(t, 2)
	n1 := startFakeNode(t, "n1", peers, t.TempDir(), lns[0], clusterOpts{})
	lns[1].Close() // n2 is down: connection refused
	for i := range 50 {
		n1.peers["n2"].enqueue([]byte(fmt.Sprintf("term %d", i+1)))
	}
	require.Eventually(t, func() bool { return n1.Stats().DroppedDown.Load() > 0 }, 2*time.Second, 5*time.Millisecond)

	ln, err := net.Listen("tcp", peers[1].Addr)
	require.NoError(t, err)
	n2 := startFakeNode(t, "n2", peers, t.TempDir(), ln, clusterOpts{})
	require.Eventually(t, func() bool {
		n1.peers["n2"].enqueue([]byte("hb"))
		_, rec, _ := n2.fake.snapshot()
		return len(rec) > 0
	}, 3*time.Second, 20*time.Millisecond)
}

func TestStoppingAnswersWaitingRequestsIndeterminate(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1", requestTimeout: 3 * time.Second,
		tune: func(f *fakeProto) { f.silent = true }})[0]
	type answer struct {
		code int
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := httpc.Post(n.url+"/kv/x/cas", "application/json", strings.NewReader(`{"from":1,"to":2}`))
		if err != nil {
			done <- answer{err: err}
			return
		}
		resp.Body.Close()
		done <- answer{code: resp.StatusCode}
	}()
	require.Eventually(t, func() bool { return len(n.props) == 0 && n.fake.pendingSeen() }, 2*time.Second, 5*time.Millisecond)
	n.stop(t)
	select {
	case a := <-done:
		// Either the answer made it out (indeterminate) or the connection
		// closed under it: never a definite failure.
		if a.err == nil {
			assert.Contains(t, []int{500, 504}, a.code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request still hanging after the node stopped")
	}
}

func TestRunTwiceFails(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1"})[0]
	// The first Run starts in a goroutine; wait until it has claimed the
	// node, or the call below would be the first one and run forever.
	require.Eventually(t, n.started.Load, 2*time.Second, time.Millisecond)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	assert.Error(t, n.Run(ctx, ln))
}

func TestNewRejectsBadConfig(t *testing.T) {
	okProto := func(c election.Config) (election.Protocol, error) { return newFake(c, ""), nil }
	peers := []Peer{{ID: "n1", Addr: "127.0.0.1:1"}}
	for name, cfg := range map[string]Config{
		"no id":         {Peers: peers, DataDir: t.TempDir(), NewProtocol: okProto},
		"not in peers":  {ID: "n2", Peers: peers, DataDir: t.TempDir(), NewProtocol: okProto},
		"no protocol":   {ID: "n1", Peers: peers, DataDir: t.TempDir()},
		"no data dir":   {ID: "n1", Peers: peers, NewProtocol: okProto},
		"dup peer":      {ID: "n1", Peers: append(peers, peers[0]), DataDir: t.TempDir(), NewProtocol: okProto},
		"protocol fail": {ID: "n1", Peers: peers, DataDir: t.TempDir(), NewProtocol: func(election.Config) (election.Protocol, error) { return nil, fmt.Errorf("boom") }},
	} {
		_, err := New(cfg)
		assert.Error(t, err, name)
	}
}

func TestCorruptWALRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	var data []byte
	data = wal.AppendRecord(data, []byte(`{"term":1}`))
	data = wal.AppendRecord(data, []byte(`{"term":2}`))
	data = wal.AppendRecord(data, []byte(`{"term":3}`))
	data[8+10+8] ^= 0xff
	require.NoError(t, os.WriteFile(filepath.Join(dir, wal.FileName), data, 0o644))
	_, err := New(Config{ID: "n1", Peers: []Peer{{ID: "n1", Addr: "127.0.0.1:1"}}, DataDir: dir,
		NewProtocol: func(c election.Config) (election.Protocol, error) { return newFake(c, ""), nil }})
	require.Error(t, err)
	assert.ErrorIs(t, err, wal.ErrCorrupt)
}

// A lease event produced with a result is printed before the answer leaves.
func TestEventsPrecedeTheAnswersTheyCover(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1"})[0]
	for i := 1; i <= 20; i++ {
		code, _ := call(t, "PUT", n.url+"/kv/x", fmt.Sprintf(`{"value": %d}`, 100000+i))
		require.Equal(t, 200, code)
		found := false
		for _, e := range n.events.lines(t) {
			if e["event"] == "lease" && e["until_local_ms"].(float64)-e["local_ms"].(float64) > 99000 {
				found = true
			}
		}
		require.True(t, found, "lease event of write %d printed before its answer", i)
	}
}

// When the write-ahead file fails, the node stops: the write's answer is
// never a success and nothing that depends on it goes out.
func TestWALFailureStopsTheNode(t *testing.T) {
	n := startFakeCluster(t, 1, clusterOpts{leader: "n1"})[0]
	require.NoError(t, n.wal.Close()) // every later append fails
	req, _ := http.NewRequest("PUT", n.url+"/kv/x", strings.NewReader(`{"value": 1}`))
	resp, err := httpc.Do(req)
	if err == nil {
		resp.Body.Close()
		assert.NotEqual(t, 200, resp.StatusCode)
		assert.NotEqual(t, 503, resp.StatusCode, "the write may be on disk in part: indeterminate")
	}
	select {
	case err := <-n.runErr:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "closed")
		close(n.runErr)
	case <-time.After(5 * time.Second):
		t.Fatal("node kept running after its write-ahead file failed")
	}
}

// The handler works on its own too (httptest), without a running loop,
// for everything that never reaches the protocol.
func TestHandlerWithoutRunningLoop(t *testing.T) {
	n, err := New(Config{ID: "n1", Peers: []Peer{{ID: "n1", Addr: "127.0.0.1:1"}}, DataDir: t.TempDir(),
		NewProtocol: func(c election.Config) (election.Protocol, error) { return newFake(c, "n1"), nil }})
	require.NoError(t, err)
	t.Cleanup(func() { n.wal.Close() })
	h := n.Handler()
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/status", "", 200},
		{"PUT", "/kv/x", "{not json", 400},
		{"PUT", "/kv/x", `{"value": 1e3}`, 400},
		{"GET", "/metrics", "", 404},
		{"PATCH", "/clock", "", 405},
		{"POST", "/clock", `{"offset_ms": 10, "rate": 0.5}`, 200},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
		assert.Equal(t, c.code, rec.Code, "%s %s %s: %s", c.method, c.path, c.body, rec.Body)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	}
	assert.Equal(t, 0.5, n.Clock().Rate())
}

// A stopped node leaves no goroutines behind: senders, server, handlers
// and keep-alive connections all end with Run. goleak looks at what this
// test started only (IgnoreCurrent), and retries while goroutines wind down.
func TestNoGoroutinesLeftAfterStop(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	nodes := startFakeCluster(t, 3, clusterOpts{leader: "n1"})
	for i := range 20 {
		code, _ := call(t, "PUT", nodes[i%3].url+"/kv/x", fmt.Sprintf(`{"value": %d}`, i))
		require.Equal(t, 200, code)
	}
	// Heartbeats have opened the peer connections once both followers got one.
	require.Eventually(t, func() bool {
		return gotHeartbeat(nodes[1]) && gotHeartbeat(nodes[2])
	}, 3*time.Second, 10*time.Millisecond)
	for _, n := range nodes {
		n.stop(t)
	}
	httpc.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

func gotHeartbeat(tn *testNode) bool {
	_, received, _ := tn.fake.snapshot()
	for _, in := range received {
		if string(in.payload) == "hb" {
			return true
		}
	}
	return false
}
