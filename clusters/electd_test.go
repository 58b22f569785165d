package clusters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/systems/electd"
	"github.com/splitbrain/splitbrain/workloads"
)

var electdSystem = electd.System(electd.Options{Algo: electdAlgo()})

func electdAlgo() string {
	if a := os.Getenv("SPLITBRAIN_TEST_ALGO"); a != "" {
		return a
	}
	return "raft"
}

// statusOf asks node n's /status with a short timeout.
func statusOf(ctx context.Context, n Node, timeout time.Duration) (workloads.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := workloads.NewClient(n.ID, "http://"+n.Addr, timeout)
	defer c.Close()
	return c.Status(ctx)
}

// waitLeader waits until a majority of the nodes in among agree on one
// leader in one term, the leader itself included, and returns it.
func waitLeader(ctx context.Context, among []Node, notID string) (id string, term int64, err error) {
	quorum := len(among)/2 + 1
	var last string
	for {
		votes := map[[2]any]int{}
		role := map[string]string{}
		for _, n := range among {
			s, err := statusOf(ctx, n, 300*time.Millisecond)
			if err != nil {
				continue
			}
			role[n.ID] = string(s.Role)
			if s.Leader != "" {
				votes[[2]any{s.Leader, s.Term}]++
			}
		}
		for k, v := range votes {
			l, t := k[0].(string), k[1].(int64)
			if v >= quorum && role[l] == "leader" && l != notID {
				return l, t, nil
			}
		}
		last = fmt.Sprint(votes, role)
		select {
		case <-ctx.Done():
			return "", 0, fmt.Errorf("no leader: %w (last: %s)", ctx.Err(), last)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func put(ctx context.Context, n Node, key string, v int64, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+n.Addr+"/kv/"+key,
		bytes.NewReader([]byte(fmt.Sprintf(`{"value":%d}`, v))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT /kv/%s on %s: %s", key, n.ID, resp.Status)
	}
	return nil
}

func needElectd(t testing.TB) {
	t.Helper()
	needEngine(t)
}

func nodesExcept(e *Ensemble, id string) []Node {
	var out []Node
	for _, n := range e.Nodes() {
		if n.ID != id {
			out = append(out, n)
		}
	}
	return out
}

// TestElectdEnsemble runs a 3-node electd ensemble through every fault.
func TestElectdEnsemble(t *testing.T) {
	needElectd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var sink eventSink
	e, err := Start(ctx, electdSystem, 3, Options{OnEvent: sink.add, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			for _, n := range e.Nodes() {
				logs, _ := e.Logs(context.Background(), n.ID)
				t.Logf("logs of %s:\n%s", n.ID, tail(logs, 3000))
			}
		}
		if err := e.Teardown(context.Background()); err != nil {
			t.Error(err)
		}
		assertGone(t, e.RunID())
	}()
	byID := map[string]Node{}
	for _, n := range e.Nodes() {
		byID[n.ID] = n
	}

	leader, term, err := waitLeader(ctx, e.Nodes(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %s in term %d", leader, term)
	if err := put(ctx, byID[leader], "x", 1, 3*time.Second); err != nil {
		t.Fatalf("write through the leader: %v", err)
	}

	t.Run("isolate leader", func(t *testing.T) {
		others := nodesExcept(e, leader)
		if err := e.Partition(ctx, []string{leader}, []string{others[0].ID, others[1].ID}); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
		newLeader, newTerm, err := waitLeader(wctx, others, leader)
		wcancel()
		if err != nil {
			t.Fatal(err)
		}
		if newTerm <= term {
			t.Errorf("new leader %s in term %d, not after %d", newLeader, newTerm, term)
		}
		// The old leader still answers the host, but knows nothing of the
		// new term, and can't get a write through its peers.
		s, err := statusOf(ctx, byID[leader], time.Second)
		if err != nil {
			t.Fatalf("host -> isolated old leader: %v", err)
		}
		if s.Leader == newLeader && s.Term == newTerm {
			t.Errorf("isolated %s knows the new leader: %+v", leader, s)
		}
		if err := put(ctx, byID[leader], "x", 2, 2*time.Second); err == nil {
			t.Errorf("isolated %s committed a write", leader)
		}
		if err := put(ctx, byID[newLeader], "x", 3, 3*time.Second); err != nil {
			t.Errorf("write through the new leader %s: %v", newLeader, err)
		}
		if err := e.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		// Reunited: all three follow one leader in one term.
		deadline := time.Now().Add(15 * time.Second)
		for {
			l, tm, err := waitLeader(ctx, e.Nodes(), "")
			if err != nil {
				t.Fatal(err)
			}
			s, err := statusOf(ctx, byID[leader], time.Second)
			if err == nil && s.Leader == l && s.Term == tm {
				leader, term = l, tm
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("old leader not reunited after heal: %+v %v, leader %s term %d", s, err, l, tm)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("kill and restart", func(t *testing.T) {
		victim := nodesExcept(e, leader)[0]
		before, err := statusOf(ctx, victim, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Kill(ctx, victim.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := statusOf(ctx, victim, 500*time.Millisecond); err == nil {
			t.Fatalf("killed %s answers", victim.ID)
		}
		if err := e.Start(ctx, victim.ID); err != nil {
			t.Fatal(err)
		}
		after, _ := e.Node(victim.ID)
		if after.Addr != victim.Addr || after.Container != victim.Container {
			t.Errorf("restarted %s moved: %+v -> %+v", victim.ID, victim, after)
		}
		var s workloads.Status
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(25 * time.Millisecond) {
			s, err = statusOf(ctx, victim, 300*time.Millisecond)
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("restarted %s: %v", victim.ID, err)
		}
		// The term is on disk: a node that lost its data would start at 0.
		if s.Term < before.Term {
			t.Errorf("restarted %s is in term %d, before the kill %d: its data is gone", victim.ID, s.Term, before.Term)
		}
		if _, _, err := waitLeader(ctx, e.Nodes(), ""); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("pause and resume", func(t *testing.T) {
		victim := nodesExcept(e, leader)[1]
		if err := e.Pause(ctx, victim.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := statusOf(ctx, victim, 500*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("paused %s: %v, want a timeout", victim.ID, err)
		}
		if err := e.Resume(ctx, victim.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := statusOf(ctx, victim, 2*time.Second); err != nil {
			t.Errorf("resumed %s: %v", victim.ID, err)
		}
	})

	t.Run("clock", func(t *testing.T) {
		victim := nodesExcept(e, leader)[0]
		if err := e.Clock(ctx, victim.ID, 3*time.Second, 1); err != nil {
			t.Fatal(err)
		}
		s, err := statusOf(ctx, victim, time.Second)
		if err != nil || s.ClockOffsetMS < 2950 || s.ClockOffsetMS > 3050 {
			t.Errorf("status after +3s: %+v %v", s, err)
		}
		// The skew belongs to the machine: a restarted server gets it again.
		if err := e.Kill(ctx, victim.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx, victim.ID); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(25 * time.Millisecond) {
			s, err = statusOf(ctx, victim, 300*time.Millisecond)
			if err == nil && s.ClockOffsetMS >= 2950 && s.ClockOffsetMS <= 3050 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("restarted %s's clock: %+v %v, want +3s again", victim.ID, s, err)
			}
		}
		if err := e.Clock(ctx, victim.ID, 0, 1); err != nil {
			t.Fatal(err)
		}
		if s, err := statusOf(ctx, victim, time.Second); err != nil || s.ClockOffsetMS < -50 || s.ClockOffsetMS > 50 {
			t.Errorf("status after the reset: %+v %v", s, err)
		}
	})

	t.Run("logs", func(t *testing.T) {
		logs, err := e.Logs(ctx, "n1")
		// stdout's events and stderr's log lines alike
		if err != nil || !bytes.Contains(logs, []byte(`"event":"role"`)) || !bytes.Contains(logs, []byte("electd starting")) {
			t.Errorf("logs of n1: %v\n%s", err, tail(logs, 2000))
		}
	})

	t.Run("events", func(t *testing.T) {
		if _, ok := sink.find(func(ev Event) bool {
			return ev.Source == SourceNode && ev.Event == "role" && ev.Role == "leader"
		}); !ok {
			t.Error("no role=leader event")
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

var _ = systems.ClientContract

// TestElectdLeaseSkew: a leader 10 s ahead prints lease ends 10 s ahead
// on its clock; the events carry them in true time.
func TestElectdLeaseSkew(t *testing.T) {
	needElectd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var sink eventSink
	sys := electd.System(electd.Options{Algo: electdAlgo(), ReadMode: "lease"})
	e, err := Start(ctx, sys, 3, Options{OnEvent: sink.add})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Teardown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if _, _, err := waitLeader(ctx, e.Nodes(), ""); err != nil {
		t.Fatal(err)
	}
	// Every node's clock jumps 10 s ahead, so whichever node leads after the
	// jump (it may cost the leader its leadership) holds a skewed lease.
	for _, n := range e.Nodes() {
		if err := e.Clock(ctx, n.ID, 10*time.Second, 1); err != nil {
			t.Fatal(err)
		}
	}
	applied := time.Now()
	var lease Event
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		lease, ok = sink.find(func(ev Event) bool {
			return ev.Event == "lease" && ev.Time.After(applied.Add(100*time.Millisecond))
		})
		if ok {
			break
		}
	}
	if lease.Event == "" {
		sink.mu.Lock()
		for _, ev := range sink.evs {
			t.Logf("%s %s %s %s", ev.Time.Format("15:04:05.000"), ev.Node, ev.Event, ev.Line)
		}
		sink.mu.Unlock()
		t.Fatal("no lease event within 30 s of skewing every clock")
	}
	var raw struct {
		UntilLocalMS int64 `json:"until_local_ms"`
	}
	if err := json.Unmarshal(lease.Line, &raw); err != nil {
		t.Fatal(err)
	}
	ahead := time.UnixMilli(raw.UntilLocalMS).Sub(lease.Time)
	held := lease.Until.Sub(lease.From)
	t.Logf("lease until %v after its line on the node's clock, %v in true time", ahead, held)
	if ahead < 9*time.Second {
		t.Errorf("the node's lease end is only %v ahead: was the clock skewed?", ahead)
	}
	if !lease.From.Equal(lease.Time) || held <= 0 || held > 3*time.Second {
		t.Errorf("lease in true time: from %v (read %v) for %v, want from the read for a moment", lease.From, lease.Time, held)
	}
}
