// Package node runs one election.Protocol as a real electd node: a single
// goroutine owns the protocol and feeds it clock ticks, peer messages and
// client requests; after every step it persists the protocol's records to
// the write-ahead file (append + fsync) and only then sends its messages,
// answers its clients and prints its events. One HTTP listener carries both
// the peer transport and the client API described in docs/node-contract.md.
//
// The runner is deliberately thin (compare etcd-io/raft's node.run): every
// decision is the protocol's, so the same protocol code runs here and on
// the in-memory test network.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/wal"
)

// Peer is one member of the ensemble.
type Peer struct {
	ID   string
	Addr string // host:port of its listener
}

// Defaults for the Config fields left zero.
const (
	DefaultTickInterval   = 5 * time.Millisecond
	DefaultRequestTimeout = time.Second
	DefaultPeerQueue      = 1024
	DefaultInbox          = 4096
)

// Config describes one node.
type Config struct {
	ID    string
	Peers []Peer // every member, this one included, in the ensemble's fixed order
	// DataDir holds the write-ahead file; created if missing.
	DataDir string
	// NewProtocol builds the protocol; the runner fills in ID, Peers,
	// Records, Now and (unless set) Rand of the Config it is given.
	NewProtocol func(election.Config) (election.Protocol, error)
	// Protocol carries the protocol settings (timeouts, lease reads, bugs).
	Protocol election.Config

	// Events receives one JSON line per event (stdout in electd).
	Events io.Writer
	// Logger gets the runner's diagnostics (stderr in electd).
	Logger *slog.Logger
	// Clock is the skewable local clock; a fresh one when nil.
	Clock *Clock

	// TickInterval is how often, in real time, the protocol is ticked.
	TickInterval time.Duration
	// RequestTimeout bounds how long a client request waits for its result
	// before it is answered 504 (indeterminate).
	RequestTimeout time.Duration
	// PeerQueue is the number of messages queued per peer before new ones
	// are dropped.
	PeerQueue int
}

// Node is a running (or ready to run) electd node.
type Node struct {
	cfg    Config
	id     string
	log    *slog.Logger
	clock  *Clock
	wal    *wal.WAL
	proto  election.Protocol // owned by the loop goroutine once Run starts
	events *eventWriter

	peers   map[string]*peerSender // every other member
	addrs   map[string]string      // every member, this one included
	forward *http.Client           // client requests forwarded to the leader
	peerTr  *http.Transport        // shared by the peer senders

	inbox chan inbound
	props chan *proposal

	status atomic.Pointer[election.Status]
	nextID atomic.Uint64

	// Owned by the loop goroutine.
	pending    map[uint64]*proposal
	lastRole   election.Role
	lastTerm   uint64
	announced  bool
	lastExpire time.Time

	started atomic.Bool
	done    chan struct{} // closed when the loop has stopped
	stats   Stats
}

// Stats counts what the runner dropped or failed; exported for tests and logs.
type Stats struct {
	SentBatches  atomic.Uint64
	DroppedQueue atomic.Uint64 // messages dropped because a peer's queue was full
	DroppedDown  atomic.Uint64 // messages dropped because the peer was failing
	DroppedInbox atomic.Uint64 // received messages dropped because the loop was behind
	StepErrors   atomic.Uint64
}

type inbound struct {
	from    string
	payload []byte
}

type proposal struct {
	req      election.Request
	reply    chan election.Result // buffered: the loop never blocks on a gone handler
	deadline time.Time            // real time after which nobody waits for it
}

// New opens the node's write-ahead file and builds its protocol from the
// records it holds. It starts nothing: Run does.
func New(cfg Config) (*Node, error) {
	if cfg.ID == "" {
		return nil, errors.New("node: empty id")
	}
	if cfg.NewProtocol == nil {
		return nil, errors.New("node: no protocol constructor")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("node: empty data directory")
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.PeerQueue <= 0 {
		cfg.PeerQueue = DefaultPeerQueue
	}
	if cfg.Events == nil {
		cfg.Events = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = NewClock()
	}
	addrs := map[string]string{}
	ids := make([]string, 0, len(cfg.Peers))
	for _, p := range cfg.Peers {
		if p.ID == "" || p.Addr == "" {
			return nil, fmt.Errorf("node: peer %q has an empty id or address", p.ID+"="+p.Addr)
		}
		if _, dup := addrs[p.ID]; dup {
			return nil, fmt.Errorf("node: peer %q listed twice", p.ID)
		}
		addrs[p.ID] = p.Addr
		ids = append(ids, p.ID)
	}
	if _, ok := addrs[cfg.ID]; !ok {
		return nil, fmt.Errorf("node: id %q is not among the peers", cfg.ID)
	}

	log := cfg.Logger.With("node", cfg.ID)
	w, recs, err := wal.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	pc := cfg.Protocol
	pc.ID = cfg.ID
	pc.Peers = ids
	pc.Records = recs
	pc.Now = cfg.Clock.Now()
	if pc.Rand == nil {
		pc.Rand = election.NewRand(time.Now().UnixNano(), cfg.ID) // distinct per run
	}
	proto, err := cfg.NewProtocol(pc)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("node: build protocol: %w", err)
	}
	log.Info("opened write-ahead file", "path", w.Path(), "records", len(recs), "bytes", w.Size())

	n := &Node{
		cfg:     cfg,
		id:      cfg.ID,
		log:     log,
		clock:   cfg.Clock,
		wal:     w,
		proto:   proto,
		events:  &eventWriter{w: cfg.Events, id: cfg.ID, log: log},
		addrs:   addrs,
		peers:   map[string]*peerSender{},
		inbox:   make(chan inbound, DefaultInbox),
		props:   make(chan *proposal, 1024),
		pending: map[uint64]*proposal{},
		done:    make(chan struct{}),
	}
	st := proto.Status()
	n.status.Store(&st)
	n.forward = &http.Client{
		Transport: newTransport(),
		// The leader answers within its own request timeout; allow for that
		// plus the hop, so a forwarded request is bounded too.
		Timeout: cfg.RequestTimeout + time.Second,
	}
	n.peerTr = newTransport()
	for _, p := range cfg.Peers {
		if p.ID == cfg.ID {
			continue
		}
		n.peers[p.ID] = newPeerSender(n, p, n.peerTr)
	}
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// Clock is the node's skewable clock.
func (n *Node) Clock() *Clock { return n.clock }

// Status is the latest snapshot of the protocol's status.
func (n *Node) Status() election.Status { return *n.status.Load() }

// Stats exposes the runner's counters.
func (n *Node) Stats() *Stats { return &n.stats }

// Run serves ln and runs the protocol until ctx is cancelled or the
// write-ahead file fails. It then stops hard, as a killed process would:
// the listener and every connection close, requests in flight are answered
// as indeterminate, and the write-ahead file is closed. Run may be called
// once; a restart is a new Node on the same DataDir.
func (n *Node) Run(ctx context.Context, ln net.Listener) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("node: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	srv := &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       5 * time.Second,
		// A forwarded request may take RequestTimeout on the leader plus
		// the hop; leave room so the answer is written, not cut.
		WriteTimeout: n.cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:  60 * time.Second,
		ErrorLog:     slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}

	var wg sync.WaitGroup
	for _, p := range n.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(ctx)
		}()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	loopErr := make(chan error, 1)
	go func() { loopErr <- n.loop(ctx) }()

	n.log.Info("node running", "listen", ln.Addr().String(), "peers", len(n.peers))
	var err error
	select {
	case err = <-loopErr:
		cancel()
	case err = <-serveErr:
		cancel()
		<-loopErr
		err = fmt.Errorf("node: serve: %w", err)
	}
	close(n.done)
	srv.Close()
	wg.Wait()
	// Idle keep-alive connections hold goroutines; a stopped node keeps none.
	n.forward.CloseIdleConnections()
	n.peerTr.CloseIdleConnections()
	if cerr := n.wal.Close(); cerr != nil && err == nil {
		err = cerr
	}
	n.log.Info("node stopped", "err", err)
	return err
}

// loop is the single goroutine that owns the protocol.
func (n *Node) loop(ctx context.Context) error {
	n.announce(n.proto.Status())
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	n.proto.Tick(n.clock.Now())
	if err := n.handleReady(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			n.failPending()
			return nil
		case <-ticker.C:
			n.proto.Tick(n.clock.Now())
			n.expirePending()
		case m := <-n.inbox:
			// A fresh tick before every batch, so that whatever the input
			// decides (a lease read, a vote refused "in lease") is judged on
			// the clock as it reads now, not at the last tick: after a pause
			// (SIGSTOP) the last tick may be seconds old.
			n.proto.Tick(n.clock.Now())
			n.step(m)
			n.drainInputs()
		case p := <-n.props:
			n.proto.Tick(n.clock.Now())
			n.propose(p)
			n.drainInputs()
		}
		if err := n.handleReady(); err != nil {
			n.failPending()
			return err
		}
	}
}

// maxBatch bounds how many inputs are folded into one Ready, so that one
// fsync covers many of them (group commit) without starving the ticker.
const maxBatch = 128

func (n *Node) drainInputs() {
	for range maxBatch {
		select {
		case m := <-n.inbox:
			n.step(m)
		case p := <-n.props:
			n.propose(p)
		default:
			return
		}
	}
}

func (n *Node) step(m inbound) {
	if err := n.proto.Step(m.from, m.payload); err != nil {
		n.stats.StepErrors.Add(1)
		n.log.Warn("protocol rejected a message", "from", m.from, "bytes", len(m.payload), "err", err)
	}
}

func (n *Node) propose(p *proposal) {
	n.pending[p.req.ID] = p
	n.proto.Propose(p.req)
}

// handleReady does what the protocol asks, in the order the contract
// requires: persist first, then announce, send and answer.
func (n *Node) handleReady() error {
	rd := n.proto.Ready()
	if err := n.wal.Append(rd.Records); err != nil {
		// Nothing may be sent that depends on state we failed to keep;
		// stopping is the only safe answer.
		n.log.Error("write-ahead file failed, stopping", "err", err)
		return err
	}
	// Events go out before messages and answers: the harness stamps an
	// event when the line arrives, and a lease or a leadership must be on
	// record no later than the first answer that relies on it.
	for _, e := range rd.Events {
		switch e.Kind {
		case "role":
			if !n.announced || e.Role != n.lastRole || e.Term != n.lastTerm {
				n.events.role(e.Role, e.Term, n.clock.Now())
				n.lastRole, n.lastTerm, n.announced = e.Role, e.Term, true
			}
		case "lease":
			n.events.lease(e.Term, e.LeaseUntil, n.clock.Now())
		default:
			n.events.other(e, n.clock.Now())
		}
	}
	st := n.proto.Status()
	// The contract promises an event for every change of role or term; a
	// protocol that forgot to announce one still gets it printed here.
	n.announce(st)
	for _, m := range rd.Messages {
		n.send(m)
	}
	for _, r := range rd.Results {
		if p, ok := n.pending[r.ID]; ok {
			delete(n.pending, r.ID)
			p.reply <- r // buffered 1, and each ID is answered once
		}
	}
	n.status.Store(&st)
	return nil
}

func (n *Node) announce(st election.Status) {
	if n.announced && st.Role == n.lastRole && st.Term == n.lastTerm {
		return
	}
	n.events.role(st.Role, st.Term, n.clock.Now())
	n.lastRole, n.lastTerm, n.announced = st.Role, st.Term, true
}

func (n *Node) send(m election.Envelope) {
	p, ok := n.peers[m.To]
	if !ok {
		n.log.Warn("protocol addressed a message to no peer", "to", m.To)
		return
	}
	p.enqueue(m.Payload)
}

// expirePending forgets requests whose handler gave up long ago, so a
// protocol that never answers one cannot grow the map without bound.
func (n *Node) expirePending() {
	now := time.Now()
	if now.Sub(n.lastExpire) < 100*time.Millisecond {
		return
	}
	n.lastExpire = now
	for id, p := range n.pending {
		if now.After(p.deadline) {
			delete(n.pending, id)
		}
	}
}

// failPending answers every waiting request as indeterminate: the node is
// stopping and their fate is unknown.
func (n *Node) failPending() {
	for id, p := range n.pending {
		delete(n.pending, id)
		p.reply <- election.Result{ID: id, Err: errStopped}
	}
}

var (
	errStopped = errors.New("node stopped, outcome unknown")
	errTimeout = errors.New("timed out waiting for the protocol, outcome unknown")
)

// errNotSubmitted marks failures before the protocol saw the request: the
// request was definitely not applied.
type errNotSubmitted struct{ reason string }

func (e errNotSubmitted) Error() string { return e.reason }

// do submits req to the protocol and waits for its result, at most
// RequestTimeout.
func (n *Node) do(ctx context.Context, req election.Request) (election.Result, error) {
	req.ID = n.nextID.Add(1)
	timeout := n.cfg.RequestTimeout
	p := &proposal{
		req:      req,
		reply:    make(chan election.Result, 1),
		deadline: time.Now().Add(timeout + time.Second),
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case n.props <- p:
	case <-n.done:
		return election.Result{}, errNotSubmitted{"node stopping"}
	case <-ctx.Done():
		return election.Result{}, errNotSubmitted{"client went away"}
	case <-timer.C:
		return election.Result{}, errNotSubmitted{"node overloaded: request queue full"}
	}
	select {
	case r := <-p.reply:
		return r, nil
	case <-n.done:
		// The loop answers pending requests when it stops; prefer that
		// answer if it is there.
		select {
		case r := <-p.reply:
			return r, nil
		default:
			return election.Result{}, errStopped
		}
	case <-ctx.Done():
		return election.Result{}, errTimeout
	case <-timer.C:
		return election.Result{}, errTimeout
	}
}
