package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/splitbrain/splitbrain/history"
)

// Endpoint is one node as clients reach it.
type Endpoint struct {
	Node string // "n1"
	Addr string // its client API, host:port: "172.28.0.11:7101"
}

// Stats counts completed client operations by outcome.
type Stats struct {
	OK, Fail, Info atomic.Int64
}

func (s *Stats) add(t history.Type) {
	if s == nil {
		return
	}
	switch t {
	case history.OK:
		s.OK.Add(1)
	case history.Fail:
		s.Fail.Add(1)
	default:
		s.Info.Add(1)
	}
}

// RegisterConfig configures the register workload.
type RegisterConfig struct {
	Nodes       []Endpoint
	Concurrency int           // client processes at a time
	Keys        int           // keys "k0".."k{Keys-1}"
	Rate        float64       // operations per second over all clients; 0 for as fast as they go
	Timeout     time.Duration // per operation; DefaultTimeout when zero
	Seed        int64         // seeds the clients' choices
	History     history.Recorder
	Stats       *Stats // may be nil
	// Dial connects a process to its node; DialContract when nil.
	Dial Dial
}

// failBackoff is the pause of a client after an operation that did not
// succeed.
const failBackoff = 20 * time.Millisecond

// Register is the register workload: Concurrency client processes, bound
// round robin to the nodes so that a node cut off in a minority has clients
// too, each issuing reads, writes of values unique in the run, and
// compare-and-sets on a few keys. A process whose operation came back info
// is retired and its client goes on as a new process.
type Register struct {
	cfg         RegisterConfig
	nextProcess atomic.Int64
	nextValue   atomic.Int64
	mu          sync.Mutex
	known       map[string]int64 // key -> last value seen ok, for cas
}

// NewRegister checks cfg and returns the workload.
func NewRegister(cfg RegisterConfig) (*Register, error) {
	switch {
	case len(cfg.Nodes) == 0:
		return nil, fmt.Errorf("register: no nodes")
	case cfg.Concurrency < 1:
		return nil, fmt.Errorf("register: concurrency must be at least 1, got %d", cfg.Concurrency)
	case cfg.Keys < 1:
		return nil, fmt.Errorf("register: keys must be at least 1, got %d", cfg.Keys)
	case cfg.Rate < 0:
		return nil, fmt.Errorf("register: rate must not be negative, got %g", cfg.Rate)
	case cfg.History == nil:
		return nil, fmt.Errorf("register: no history")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Dial == nil {
		cfg.Dial = DialContract
	}
	r := &Register{cfg: cfg, known: map[string]int64{}}
	r.nextProcess.Store(int64(cfg.Concurrency))
	return r, nil
}

// Key returns the name of key i.
func Key(i int) string { return fmt.Sprintf("k%d", i) }

// Keys returns every key of the workload.
func (r *Register) Keys() []string {
	out := make([]string, r.cfg.Keys)
	for i := range out {
		out[i] = Key(i)
	}
	return out
}

// NewProcess returns a process number never used before in the run.
func (r *Register) NewProcess() history.Process {
	return history.Process(r.nextProcess.Add(1) - 1)
}

// NewValue returns a value never written before in the run.
func (r *Register) NewValue() int64 { return r.nextValue.Add(1) }

// Run runs the clients until ctx is done, letting operations in flight
// finish (within their timeout) so that each gets its completion recorded.
// It returns an error only when the history could not be written.
func (r *Register) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if r.cfg.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / r.cfg.Rate))
		defer t.Stop()
		tick = t.C
	}
	// The first history error stops every client (errgroup cancels gctx);
	// the others finish their operation in flight and record it.
	g, gctx := errgroup.WithContext(ctx)
	for i := range r.cfg.Concurrency {
		ep := r.cfg.Nodes[i%len(r.cfg.Nodes)]
		rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(i)))
		g.Go(func() error { return r.worker(gctx, history.Process(i), ep, rng, tick) })
	}
	return g.Wait()
}

// op is one operation a client is about to issue.
type op struct {
	f        string
	key      string
	value    int64 // write
	from, to int64 // cas
}

func (r *Register) next(rng *rand.Rand) op {
	o := op{key: Key(rng.IntN(r.cfg.Keys))}
	switch rng.IntN(3) {
	case 0:
		o.f = history.FRead
	case 1:
		o.f, o.value = history.FWrite, r.NewValue()
	default:
		o.f, o.to = history.FCAS, r.NewValue()
		r.mu.Lock()
		o.from = r.known[o.key]
		r.mu.Unlock()
	}
	return o
}

func (r *Register) worker(ctx context.Context, proc history.Process, ep Endpoint, rng *rand.Rand, tick <-chan time.Time) error {
	c, err := r.cfg.Dial(ep, r.cfg.Timeout)
	if err != nil {
		return fmt.Errorf("register: client of %s: %w", ep.Node, err)
	}
	defer func() { c.Close() }()
	for {
		if tick != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-tick:
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		o := r.next(rng)
		out, err := r.Do(context.WithoutCancel(ctx), proc, ep.Node, c, o.f, o.key, o.value, o.from, o.to)
		if err != nil {
			return err
		}
		if out.Type == history.Info {
			proc = r.NewProcess()
			c.Close()
			if c, err = r.cfg.Dial(ep, r.cfg.Timeout); err != nil {
				return fmt.Errorf("register: client of %s: %w", ep.Node, err)
			}
		}
		if out.Type != history.OK {
			// A node that is down or cut off answers at once; don't spin.
			select {
			case <-ctx.Done():
			case <-time.After(failBackoff):
			}
		}
	}
}

// Do issues one operation as proc through c, connected to node, and
// records its invocation and completion. value is the write's value,
// from/to the cas's. The error is the history's, never the node's.
func (r *Register) Do(ctx context.Context, proc history.Process, node string, c Conn, f, key string, value, from, to int64) (Outcome, error) {
	inv := history.Op{Process: proc, Type: history.Invoke, F: f, Key: key, Node: node}
	switch f {
	case history.FWrite:
		inv.Value = history.IntValue(value)
	case history.FCAS:
		inv.Value = history.PairValue(from, to)
	}
	if _, err := r.cfg.History.Append(inv); err != nil {
		return Outcome{}, err
	}
	var out Outcome
	switch f {
	case history.FRead:
		out = c.Read(ctx, key)
	case history.FWrite:
		out = c.Write(ctx, key, value)
	default:
		out = c.CAS(ctx, key, from, to)
	}
	if out.Type == history.OK {
		r.mu.Lock()
		switch {
		case f == history.FRead && out.Value.Kind == history.Int:
			r.known[key] = out.Value.Int
		case f == history.FWrite:
			r.known[key] = value
		case f == history.FCAS:
			r.known[key] = to
		}
		r.mu.Unlock()
	}
	r.cfg.Stats.add(out.Type)
	_, err := r.cfg.History.Append(history.Op{Process: proc, Type: out.Type, F: f, Key: key, Value: out.Value, Node: node, Error: out.Error})
	return out, err
}

// FinalReads reads every key through the node at ep, each as a fresh
// process, and returns the outcomes by key.
func (r *Register) FinalReads(ctx context.Context, ep Endpoint) (map[string]Outcome, error) {
	c, err := r.cfg.Dial(ep, r.cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("final reads: client of %s: %w", ep.Node, err)
	}
	defer c.Close()
	out := map[string]Outcome{}
	for _, k := range r.Keys() {
		o, err := r.Do(ctx, r.NewProcess(), ep.Node, c, history.FRead, k, 0, 0, 0)
		if err != nil {
			return out, err
		}
		out[k] = o
	}
	return out, nil
}
