//go:build linux

package nodeagent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

// The test binary doubles as a server: with NODEAGENT_TEST_SERVER set it
// prints events and a log line, answers POST /clock on the address in
// NODEAGENT_TEST_CLOCK (if any) with a lease, and sleeps.
func TestMain(m *testing.M) {
	if os.Getenv("NODEAGENT_TEST_SERVER") != "" {
		fakeServer()
		return
	}
	os.Exit(m.Run())
}

func fakeServer() {
	fmt.Println(`{"event":"role","role":"follower","term":1}`)
	fmt.Println("a plain log line")
	if _, err := fmt.Fprintln(os.Stderr, "fake server: a log line on stderr"); err == nil {
		fmt.Println(`{"event":"stderr-works"}`)
	}
	fmt.Println(`{"event":"role","role":"leader","term":2}`)
	if addr := os.Getenv("NODEAGENT_TEST_CLOCK"); addr != "" {
		http.HandleFunc("POST /clock", func(w http.ResponseWriter, r *http.Request) {
			var k struct {
				OffsetMS int64   `json:"offset_ms"`
				Rate     float64 `json:"rate"`
			}
			json.NewDecoder(r.Body).Decode(&k)
			// local(now) = now + offset; a lease of 2 local seconds.
			local := time.Now().Add(time.Duration(k.OffsetMS) * time.Millisecond)
			fmt.Printf(`{"event":"lease","term":2,"until_local_ms":%d}`+"\n", local.Add(2*time.Second).UnixMilli())
			w.Write([]byte(`{}`))
		})
		go http.ListenAndServe(addr, nil)
	}
	time.Sleep(time.Minute)
}

type fakeNet struct {
	mu      sync.Mutex
	in, out []netip.Addr
	loss    float64
	fail    error
}

func (f *fakeNet) Probe() error { return nil }

func (f *fakeNet) SetLoss(p float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loss = p
	return nil
}

func (f *fakeNet) SetDrops(in, out []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.in, f.out = in, out
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestAgent(t *testing.T, clockAddr string) (*Agent, *agentapi.Client, *fakeNet, *syncBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "NODEAGENT_TEST_SERVER=1")
	clockURL := ""
	if clockAddr != "" {
		env = append(env, "NODEAGENT_TEST_CLOCK="+clockAddr)
		clockURL = "http://" + clockAddr + "/clock"
	}
	fn := &fakeNet{}
	out := &syncBuffer{}
	a := New(Config{Node: "n1", Argv: []string{exe}, Env: env, ClockURL: clockURL, Stdout: out, Net: fn})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Stop(ctx)
		srv.Close()
	})
	return a, &agentapi.Client{Base: srv.URL}, fn, out
}

// waitEvent waits for an event matching f and returns it.
func waitEvent(t *testing.T, a *Agent, f func(agentapi.Event) bool) agentapi.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		evs, _ := a.Events().Since(1)
		for _, ev := range evs {
			if f(ev) {
				return ev
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	evs, _ := a.Events().Since(1)
	t.Fatalf("no such event among %+v", evs)
	return agentapi.Event{}
}

func TestAgentLifecycle(t *testing.T) {
	a, c, _, out := newTestAgent(t, "")
	ctx := context.Background()
	if h, err := c.Health(ctx); err != nil || h.Server != agentapi.StateIdle || h.Node != "n1" {
		t.Fatalf("before start: %+v %v", h, err)
	}
	before := time.Now()
	h, err := c.Start(ctx)
	if err != nil || h.Server != agentapi.StateRunning || h.PID == 0 || h.Starts != 1 {
		t.Fatalf("start: %+v %v", h, err)
	}
	leader := waitEvent(t, a, func(ev agentapi.Event) bool { return ev.Role == "leader" })
	if leader.Term != 2 || leader.Node != "n1" || leader.Source != agentapi.SourceNode ||
		leader.Time.Before(before) || leader.Time.After(time.Now()) {
		t.Errorf("leader event: %+v", leader)
	}
	// Stamps in order, seqs dense, the plain line only in the log.
	evs, _ := a.Events().Since(1)
	for i, ev := range evs {
		if ev.Seq != int64(i+1) || (i > 0 && ev.Time.Before(evs[i-1].Time)) {
			t.Errorf("event %d: seq %d time %v", i, ev.Seq, ev.Time)
		}
		if strings.Contains(string(ev.Line), "plain") {
			t.Errorf("plain log line became an event: %+v", ev)
		}
	}
	if !strings.Contains(out.String(), "a plain log line\n") {
		t.Errorf("stdout passthrough: %q", out.String())
	}
	// The server's stderr is the agent's (the container log).
	waitEvent(t, a, func(ev agentapi.Event) bool { return ev.Event == "stderr-works" })
	// Start again: a no-op.
	if h2, err := c.Start(ctx); err != nil || h2.PID != h.PID || h2.Starts != 1 {
		t.Errorf("second start: %+v %v", h2, err)
	}

	// Pause: the process is stopped; the agent still answers.
	if h, err := c.Pause(ctx); err != nil || h.Server != agentapi.StatePaused {
		t.Fatalf("pause: %+v %v", h, err)
	}
	if st := procState(h.PID); st != "T" {
		t.Errorf("paused server in state %q, want T", st)
	}
	if h, err := c.Resume(ctx); err != nil || h.Server != agentapi.StateRunning {
		t.Fatalf("resume: %+v %v", h, err)
	}
	if st := procState(h.PID); st == "T" {
		t.Errorf("resumed server still stopped")
	}

	// Kill, also of a paused server.
	c.Pause(ctx)
	h, err = c.Kill(ctx)
	if err != nil || h.Server != agentapi.StateExited || h.Signal != "killed" {
		t.Fatalf("kill: %+v %v", h, err)
	}
	waitEvent(t, a, func(ev agentapi.Event) bool { return ev.Event == agentapi.EventExit })
	if _, err := c.Pause(ctx); err == nil {
		t.Error("paused an exited server")
	} else if se := (*agentapi.StatusError)(nil); !errors.As(err, &se) || se.Code != http.StatusConflict {
		t.Errorf("pause of an exited server: %v, want 409", err)
	}
	if h, err := c.Kill(ctx); err != nil || h.Server != agentapi.StateExited {
		t.Errorf("second kill: %+v %v", h, err)
	}
	// Restart.
	if h, err := c.Start(ctx); err != nil || h.Starts != 2 || h.Server != agentapi.StateRunning {
		t.Fatalf("restart: %+v %v", h, err)
	}
	n := 0
	deadline := time.Now().Add(5 * time.Second)
	for n < 2 && time.Now().Before(deadline) {
		n = 0
		evs, _ := a.Events().Since(1)
		for _, ev := range evs {
			if ev.Role == "leader" {
				n++
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n != 2 {
		t.Errorf("%d leader events after the restart, want 2", n)
	}
}

func TestAgentDropsAndNetem(t *testing.T) {
	_, c, fn, _ := newTestAgent(t, "")
	ctx := context.Background()
	if err := c.SetDrops(ctx, agentapi.Drops{In: []string{"10.0.0.12"}, Out: []string{"10.0.0.12", "10.0.0.13"}}); err != nil {
		t.Fatal(err)
	}
	if len(fn.in) != 1 || len(fn.out) != 2 || fn.out[1] != netip.MustParseAddr("10.0.0.13") {
		t.Errorf("drops applied: in %v out %v", fn.in, fn.out)
	}
	if h, _ := c.Health(ctx); len(h.Drops.Out) != 2 {
		t.Errorf("health drops: %+v", h.Drops)
	}
	if err := c.SetDrops(ctx, agentapi.Drops{In: []string{"n2"}}); err == nil {
		t.Error("accepted a drop of a non-address")
	}
	fn.fail = errors.New("boom")
	if err := c.SetDrops(ctx, agentapi.Drops{}); err == nil {
		t.Error("netfilter failure not reported")
	}
	if h, _ := c.Health(ctx); len(h.Drops.Out) != 2 {
		t.Errorf("failed replacement changed the recorded rules: %+v", h.Drops)
	}
	fn.fail = nil
	if err := c.SetDrops(ctx, agentapi.Drops{}); err != nil || len(fn.in)+len(fn.out) != 0 {
		t.Errorf("heal: %v %v %v", err, fn.in, fn.out)
	}
	// No netem configured: delay is unsupported, loss alone falls back to netfilter.
	if err := c.Netem(ctx, agentapi.Netem{DelayMS: 5}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("netem without netem: %v", err)
	}
	if err := c.Netem(ctx, agentapi.Netem{Loss: 0.25}); err != nil || fn.loss != 0.25 {
		t.Errorf("loss without netem: %v, netfilter loss %v", err, fn.loss)
	}
	if err := c.Netem(ctx, agentapi.Netem{}); err != nil || fn.loss != 0 {
		t.Errorf("netem off: %v, netfilter loss %v", err, fn.loss)
	}
	if err := c.Netem(ctx, agentapi.Netem{Loss: 2}); err == nil {
		t.Error("loss 2 accepted")
	}
}

func TestAgentClockAndEvents(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a, c, _, _ := newTestAgent(t, addr)
	ctx := context.Background()
	if _, err := c.Clock(ctx, agentapi.Clock{OffsetMS: 1000, Rate: 1}); err == nil {
		t.Error("clock skew of a server that doesn't run")
	}
	if _, err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The fake server needs a moment to listen.
	var k agentapi.Clock
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if k, err = c.Clock(ctx, agentapi.Clock{OffsetMS: 60000, Rate: 1}); err == nil {
			break
		}
	}
	if err != nil || k.At.IsZero() {
		t.Fatalf("clock: %+v %v", k, err)
	}
	if h, _ := c.Health(ctx); h.Clock == nil || h.Clock.OffsetMS != 60000 {
		t.Errorf("health clock: %+v", h.Clock)
	}
	// The lease, 2 s on a clock 60 s ahead, is 2 s of true time from when
	// the server wrote it, less the line's way to the agent (held from its
	// arrival: 18 ms once under -race on 2 loaded cores). A conversion that
	// missed the offset would be 62 s, or clamped to nothing.
	lease := waitEvent(t, a, func(ev agentapi.Event) bool { return ev.Event == "lease" })
	if d := lease.Until.Sub(lease.From); d < 1500*time.Millisecond || d > 2005*time.Millisecond {
		t.Errorf("lease of %v, want 2s less the line's delivery", d)
	}
	if _, err := c.Clock(ctx, agentapi.Clock{OffsetMS: 0, Rate: -1}); err == nil {
		t.Error("negative rate accepted")
	}

	// The event stream: everything so far, then what comes, in order.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var got []agentapi.Event
	done := make(chan error, 1)
	go func() {
		done <- c.Events(sctx, 2, true, func(ev agentapi.Event) error {
			got = append(got, ev)
			if ev.Event == agentapi.EventExit {
				return errStop
			}
			return nil
		})
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := c.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errStop) {
		t.Fatalf("stream: %v", err)
	}
	if len(got) == 0 || got[0].Seq != 2 {
		t.Fatalf("stream from 2: %+v", got)
	}
	for i := range got {
		if got[i].Seq != got[0].Seq+int64(i) {
			t.Fatalf("stream seqs: %+v", got)
		}
	}
	// Without follow the stream ends.
	n := 0
	if err := c.Events(ctx, 1, false, func(agentapi.Event) error { n++; return nil }); err != nil || int64(n) != a.Events().Len() {
		t.Errorf("unfollowed stream: %d events, %v", n, err)
	}
}

var errStop = errors.New("stop")

// The stream is plain JSON lines.
func TestEventsWire(t *testing.T) {
	a, c, _, _ := newTestAgent(t, "")
	a.Events().Add(agentapi.Event{Time: time.Unix(1, 5), Source: "node", Event: "x"})
	resp, err := http.Get(c.Base + "/events?from=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || !strings.Contains(sc.Text(), `"seq":1`) || !strings.Contains(sc.Text(), `"node":"n1"`) {
		t.Fatalf("wire: %q", sc.Text())
	}
}

func TestAgentClockFile(t *testing.T) {
	f := t.TempDir() + "/clock"
	a := New(Config{Node: "n1", Argv: []string{"/bin/true"}, ClockFile: f})
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	c := &agentapi.Client{Base: srv.URL}
	k, err := c.Clock(context.Background(), agentapi.Clock{OffsetMS: -1500, Rate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f)
	want := fmt.Sprintf("%d -1500000000 0.5\n", k.At.UnixNano())
	if err != nil || string(b) != want {
		t.Errorf("clock file %q (%v), want %q", b, err, want)
	}
	if caps, _ := c.Capabilities(context.Background()); !caps.Clock {
		t.Errorf("capabilities: %+v", caps)
	}
	// Leases are converted with it.
	a.onLine([]byte(fmt.Sprintf(`{"event":"lease","term":1,"until_local_ms":%d}`, SkewOf(k).Local(k.At.Add(time.Second)).UnixMilli())), k.At)
	evs, _ := a.Events().Since(1)
	last := evs[len(evs)-1]
	if d := last.Until.Sub(k.At); d < 998*time.Millisecond || d > 1002*time.Millisecond {
		t.Errorf("lease until %v after the skew, want 1s", d)
	}
}
