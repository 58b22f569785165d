package clusters

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/workloads"
)

// fakeSystem runs internal/fakenode, a contract node that elects nobody.
var fakeSystem = systems.System{
	Name:       "fakenode",
	Binaries:   []systems.Binary{{Dest: "/fakenode", Package: "github.com/splitbrain/splitbrain/clusters/internal/fakenode"}},
	Args:       []string{"/fakenode", "--id", "{id}", "--listen", "{listen}", "--peers", "{peers}", "--data", "{data}"},
	ClientPort: 7101,
	Client:     systems.ClientContract,
	Clock:      systems.ClockContract,
}

func get(ctx context.Context, t testing.TB, url string, timeout time.Duration) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

type eventSink struct {
	mu  sync.Mutex
	evs []Event
}

func (s *eventSink) add(ev Event) {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
}

func (s *eventSink) find(f func(Event) bool) (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.evs {
		if f(ev) {
			return ev, true
		}
	}
	return Event{}, false
}

// TestFakeEnsemble drives every fault through the agent against fakenode.
func TestFakeEnsemble(t *testing.T) {
	needEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var sink eventSink
	e, err := Start(ctx, fakeSystem, 3, Options{OnEvent: sink.add, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Teardown(context.Background()); err != nil {
			t.Error(err)
		}
		assertGone(t, e.RunID())
	}()
	nodes := e.Nodes()
	status := func(i int) (workloads.Status, error) {
		c := workloads.NewClient(nodes[i].ID, "http://"+nodes[i].Addr, time.Second)
		defer c.Close()
		return c.Status(ctx)
	}
	peer := func(from int, to string) error {
		code, body, err := get(ctx, t, "http://"+nodes[from].Addr+"/peer/"+to, 3*time.Second)
		if err == nil && code != 200 {
			err = errors.New(body)
		}
		return err
	}
	for i := range nodes {
		if s, err := status(i); err != nil || s.ID != nodes[i].ID {
			t.Fatalf("status of %s: %+v %v", nodes[i].ID, s, err)
		}
	}
	if err := peer(0, "n2"); err != nil {
		t.Fatalf("n1 -> n2 before the partition: %v", err)
	}

	// Partition n1 away: no peer traffic, host traffic still flows.
	if err := e.Partition(ctx, []string{"n1"}, []string{"n2", "n3"}); err != nil {
		t.Fatal(err)
	}
	if err := peer(0, "n2"); err == nil {
		t.Error("n1 reached n2 through the partition")
	} else if !strings.Contains(err.Error(), "reused=true") {
		t.Errorf("n1 -> n2 in the partition: %v; want a failure on the connection established before", err)
	}
	if err := peer(2, "n1"); err == nil {
		t.Error("n3 reached n1 through the partition")
	}
	if err := peer(1, "n3"); err != nil {
		t.Errorf("n2 -> n3 in the majority: %v", err)
	}
	if _, err := status(0); err != nil {
		t.Errorf("host -> partitioned n1: %v", err)
	}
	// One way: n2 can't send to n3, so n3's requests to n2 don't get answers either.
	if err := e.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := peer(0, "n2"); err != nil {
		t.Errorf("n1 -> n2 after heal: %v", err)
	}
	if err := e.Block(ctx, []string{"n2"}, []string{"n3"}); err != nil {
		t.Fatal(err)
	}
	if err := peer(2, "n2"); err == nil {
		t.Error("n3 got an answer from n2 while n2 -> n3 is blocked")
	}
	if err := peer(0, "n2"); err != nil {
		t.Errorf("n1 -> n2 with only n2 -> n3 blocked: %v", err)
	}
	if err := e.Heal(ctx); err != nil {
		t.Fatal(err)
	}

	// Kill and start: same address, same data.
	if err := e.Kill(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if _, err := status(1); err == nil {
		t.Error("killed n2 answers")
	}
	if err := e.Start(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	var s workloads.Status
	for deadline := time.Now().Add(10 * time.Second); ; {
		if s, err = status(1); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || s.Commit != 2 {
		t.Errorf("n2 after restart: %+v %v (want commit 2: its data survived)", s, err)
	}

	// Pause and resume.
	if err := e.Pause(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	if _, err := status(2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("paused n3: %v, want a timeout", err)
	}
	if h, err := e.Health(ctx, "n3"); err != nil || h.Server != agentapi.StatePaused {
		t.Errorf("paused n3's agent: %+v %v", h, err)
	}
	if err := e.Resume(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	if _, err := status(2); err != nil {
		t.Errorf("resumed n3: %v", err)
	}

	// Clock: the offset shows in /status, the lease comes back in true time.
	if err := e.Clock(ctx, "n1", 5*time.Second, 2); err != nil {
		t.Fatal(err)
	}
	if s, err := status(0); err != nil || s.ClockOffsetMS != 5000 {
		t.Errorf("n1's status after the skew: %+v %v", s, err)
	}
	var lease Event
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var ok bool
		if lease, ok = sink.find(func(ev Event) bool { return ev.Node == "n1" && ev.Event == "lease" }); ok {
			break
		}
	}
	if lease.Event == "" {
		t.Fatal("no lease event from n1")
	}
	if d := lease.Until.Sub(lease.From); d < 980*time.Millisecond || d > 1010*time.Millisecond {
		t.Errorf("lease lasts %v in true time, want 1s", d)
	}
	if !lease.From.Equal(lease.Time) {
		t.Errorf("lease starts at %v, read at %v: want the same (the contract: held from the line's arrival)", lease.From, lease.Time)
	}

	// Loss alone works everywhere: all of n1's packets lost, then none.
	if err := e.Netem(ctx, "n1", 0, 1); err != nil {
		t.Fatalf("loss: %v", err)
	}
	if _, err := status(0); err == nil {
		t.Error("n1 answers with all its packets lost")
	}
	if err := peer(1, "n1"); err == nil {
		t.Error("n2 -> n1 with all of n1's packets lost")
	}
	if err := e.Netem(ctx, "n1", 0, 0); err != nil {
		t.Fatalf("loss off: %v", err)
	}
	if _, err := status(0); err != nil {
		t.Errorf("n1 after loss off: %v", err)
	}
	// Netem: works or is unsupported with a reason.
	caps, err := e.Capabilities(ctx)
	if err != nil || !caps.Drops || !caps.Loss || !caps.Clock || caps.Netem == (caps.NetemReason != "") {
		t.Errorf("capabilities: %+v %v", caps, err)
	}
	t.Logf("capabilities: %+v", caps)
	if err := e.Netem(ctx, "n1", 10*time.Millisecond, 0); errors.Is(err, errors.ErrUnsupported) {
		t.Logf("netem unsupported here: %v", err)
	} else if err != nil {
		t.Errorf("netem: %v", err)
	} else if err := e.Netem(ctx, "n1", 0, 0); err != nil {
		t.Errorf("netem off: %v", err)
	}

	logs, err := e.Logs(ctx, "n1")
	if err != nil || !strings.Contains(string(logs), "plain log line") {
		t.Errorf("logs of n1: %v\n%s", err, logs)
	}
	if _, ok := sink.find(func(ev Event) bool { return ev.Node == "n2" && ev.Event == agentapi.EventExit }); !ok {
		t.Error("no exit event of n2")
	}
}

// assertGone checks through the Docker API that nothing of run is left.
func assertGone(t testing.TB, run string) {
	t.Helper()
	cli, err := Docker()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := make(client.Filters).Add("label", LabelRun+"="+run)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Items) > 0 || len(ns.Items) > 0 {
		t.Errorf("after teardown of %s: %d containers, %d networks left", run, len(cs.Items), len(ns.Items))
	}
}

// TestStartFailure: a server that can't start fails Start with its log,
// and leaves nothing behind.
func TestStartFailure(t *testing.T) {
	needEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys := fakeSystem
	sys.Args = append(append([]string{}, sys.Args...), "--no-such-flag")
	_, err := Start(ctx, sys, 3, Options{RunID: "startfail" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")})
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("Start: %v, want the server's complaint about the flag", err)
	}
	t.Log(err)
}
