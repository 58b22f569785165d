package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/workloads"
)

// Read modes (ClientOptions.ReadMode).
const (
	// ReadQuorum: a write to a fence znode of the client's server, then
	// getData in the same session: the fence goes through the leader and a
	// quorum, and the server applies transactions in zxid order, so the
	// read sees every write acknowledged before it began. Linearizable,
	// and the default; it costs a write per read.
	ReadQuorum = "quorum"
	// ReadSync: sync, then getData. sync makes the connected server catch
	// up with the leader first: ZooKeeper's usual remedy for stale reads,
	// and not linearizable (ZooKeeper's Consistency Guarantees say so,
	// ZOOKEEPER-1675): a sync on the leader waits for nothing, and the
	// leader applies a commit only after sending it to its followers, so
	// a synced read on the leader can miss a write a follower has already
	// acknowledged, with no fault in force (seen here, about 2 reads in
	// 1,000 when only the leader's clients read); a deposed leader can
	// answer a sync too.
	ReadSync = "sync"
	// ReadLocal: plain getData, answered by the connected server from its
	// own copy: ZooKeeper's default, sequentially consistent but not
	// linearizable.
	ReadLocal = "local"
)

// ZnodePrefix is put before a register key to make its znode's path.
const ZnodePrefix = "/splitbrain-"

// SessionTimeout is the ZooKeeper session timeout clients ask for; the
// servers grant 2 to 20 ticks. The client library notices a silent
// server after two thirds of it.
const SessionTimeout = 3 * time.Second

// ClientOptions configure a Client.
type ClientOptions struct {
	// Timeout bounds each operation; workloads.DefaultTimeout when zero.
	Timeout time.Duration
	// ReadMode is ReadQuorum (the default when empty), ReadSync or ReadLocal.
	ReadMode string
	// Epochs is shared by the probes of one ensemble (see Epochs); nil
	// gives the client its own.
	Epochs *Epochs
	// Logger gets the ZooKeeper library's messages at debug level; nil
	// drops them.
	Logger *slog.Logger
}

// Client is one client process's connection to one ZooKeeper server: a
// single-server connection string, so that it never fails over to another
// server and a client behind a partition sees its server's view. It has
// the method set of workloads.Client, with the same outcomes: ok happened,
// fail definitely did not, info is indeterminate. Every call returns
// within its timeout. Safe for concurrent use.
type Client struct {
	Node  string // the node's id, "n2"
	Addr  string // the server's client address, "ip:2181"
	Admin string // its AdminServer, "ip:8080"

	timeout  time.Duration
	readMode string
	epochs   *Epochs
	logger   *slog.Logger
	hc       *http.Client

	mu     sync.Mutex
	conn   *zk.Conn
	closed bool
}

// NewClient returns a client of node's server at addr (host:port of the
// client port); the AdminServer is taken to be on the same host at
// AdminPort. It connects on first use.
func NewClient(node, addr string, opts ClientOptions) (*Client, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("zookeeper client of %s: address %q: %w", node, addr, err)
	}
	if _, err := MyID(node); err != nil {
		return nil, fmt.Errorf("zookeeper client: %w", err)
	}
	switch opts.ReadMode {
	case "":
		opts.ReadMode = ReadQuorum
	case ReadQuorum, ReadSync, ReadLocal:
	default:
		return nil, fmt.Errorf("zookeeper client: read mode %q: want %s, %s or %s", opts.ReadMode, ReadQuorum, ReadSync, ReadLocal)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = workloads.DefaultTimeout
	}
	if opts.Epochs == nil {
		opts.Epochs = NewEpochs()
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: opts.Timeout}).DialContext,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		DisableCompression:    true,
	}
	return &Client{
		Node: node, Addr: addr, Admin: net.JoinHostPort(host, strconv.Itoa(AdminPort)),
		timeout: opts.Timeout, readMode: opts.ReadMode, epochs: opts.Epochs, logger: opts.Logger,
		hc: &http.Client{Transport: tr, Timeout: opts.Timeout},
	}, nil
}

// slogger routes the library's Printf logging to slog (or nowhere).
type slogger struct {
	l    *slog.Logger
	node string
}

func (s slogger) Printf(format string, args ...any) {
	if s.l != nil {
		s.l.Debug(fmt.Sprintf(format, args...), "component", "zk-client", "node", s.node)
	}
}

// connection returns the client's ZooKeeper connection, making it on
// first use. The library reconnects by itself, to this one server only.
func (c *Client) connection() (*zk.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("client closed")
	}
	if c.conn != nil {
		return c.conn, nil
	}
	conn, _, err := zk.Connect([]string{c.Addr}, SessionTimeout,
		zk.WithLogger(slogger{c.logger, c.Node}),
		zk.WithLogInfo(false),
		// The default dialer's own timeout is the library's 1 s connect
		// timeout; ours is the operation's.
		zk.WithDialer(func(network, address string, timeout time.Duration) (net.Conn, error) {
			return net.DialTimeout(network, address, min(timeout, c.timeout))
		}),
	)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	return conn, nil
}

// Close closes the connection (and with it the session).
func (c *Client) Close() {
	c.mu.Lock()
	conn := c.conn
	c.conn, c.closed = nil, true
	c.mu.Unlock()
	if conn != nil {
		// Closing waits for the server's answer to the close request, up
		// to the library's own bound; do not make the caller wait.
		go conn.Close()
	}
}

// errNoSession means no request was sent: the client had no session with
// its server within the operation's time.
var errNoSession = errors.New("no session with the server")

// errAbandoned ends an operation's goroutine that found its caller gone
// before it sent a request with an effect.
var errAbandoned = errors.New("abandoned before sending")

// gate decides, once and for all, between an operation sending a request
// that may have an effect and its caller giving up on it: a caller told
// "fail" must be able to rely on nothing having been sent, and nothing
// being sent later.
type gate struct {
	mu        sync.Mutex
	sent      bool
	abandoned bool
}

// send reports whether the operation may send an effectful request now.
func (g *gate) send() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return false
	}
	g.sent = true
	return true
}

// abandon stops later sends and reports whether one happened.
func (g *gate) abandon() (sent bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.abandoned = true
	return g.sent
}

func (g *gate) wasSent() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sent
}

// call runs f, which makes requests on the connection, within the
// operation's timeout, and reports whether f passed g.send (so sent a
// request that may take effect). The library's calls cannot be cancelled:
// one that outlives the timeout returns later to nobody, but f sends
// nothing effectful after that (the gate). Requests are only queued once
// the connection has a session: until then nothing was sent
// (errNoSession).
func (c *Client) call(ctx context.Context, f func(conn *zk.Conn, g *gate) error) (sent bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.connection()
	if err != nil {
		return false, fmt.Errorf("%w: %w", errNoSession, err)
	}
	for conn.State() != zk.StateHasSession {
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("%w (%s)", errNoSession, conn.State())
		case <-time.After(5 * time.Millisecond):
		}
	}
	g := &gate{}
	done := make(chan error, 1)
	go func() { done <- f(conn, g) }()
	select {
	case err := <-done:
		return g.wasSent(), err
	case <-ctx.Done():
		return g.abandon(), ctx.Err()
	}
}

// FencePrefix starts the path of the fence znode of ReadQuorum, one per
// server; it cannot be a register key's znode (ZnodePrefix).
const FencePrefix = "/splitbrain.fence-"

// fence writes the fence znode of node's server (creating it the first
// time), so that what the session reads next comes after it in zxid
// order. It touches no register key, so a fence that failed or timed out
// leaves the read without effect: a fail.
func fence(conn *zk.Conn, node string) error {
	p := FencePrefix + node
	_, err := conn.Set(p, nil, -1)
	if !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	_, err = conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll))
	if errors.Is(err, zk.ErrNodeExists) {
		_, err = conn.Set(p, nil, -1) // another session made it: write it ourselves
	}
	return err
}

// znode is key's znode path.
func znode(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, "/\x00") || len(key) > 256 {
		return "", fmt.Errorf("bad key %q", key)
	}
	return ZnodePrefix + key, nil
}

// definite reports whether err is ZooKeeper's definite answer that the
// request did not take effect (as opposed to a lost connection, a
// timeout or a closing client, after which it may have).
func definite(err error) bool {
	switch {
	case errors.Is(err, errNoSession),
		// The library flushes requests it never wrote to a connection
		// with ErrNoServer.
		errors.Is(err, zk.ErrNoServer),
		errors.Is(err, zk.ErrNoNode), errors.Is(err, zk.ErrNodeExists),
		errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrBadArguments),
		errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrInvalidACL),
		errors.Is(err, zk.ErrInvalidPath):
		return true
	}
	return false
}

// describe names an error briefly for the history.
func describe(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return strings.TrimPrefix(err.Error(), "zk: ")
}

// Read reads key: ok with the value (None when never written). In
// ReadQuorum mode it writes the fence first, in ReadSync mode it syncs. A read that did not complete is a fail:
// it had no effect.
func (c *Client) Read(ctx context.Context, key string) workloads.Outcome {
	p, err := znode(key)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Error: err.Error()}
	}
	var data []byte
	var absent bool
	_, err = c.call(ctx, func(conn *zk.Conn, _ *gate) error {
		switch c.readMode {
		case ReadSync:
			if _, err := conn.Sync(p); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return fmt.Errorf("sync: %w", err)
			}
		case ReadQuorum:
			if err := fence(conn, c.Node); err != nil {
				return fmt.Errorf("fence: %w", err)
			}
		}
		d, _, err := conn.Get(p)
		if errors.Is(err, zk.ErrNoNode) {
			absent = true
			return nil
		}
		data = d
		return err
	})
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Error: describe(err)}
	}
	if absent {
		return workloads.Outcome{Type: history.OK}
	}
	return workloads.ReadOutcome(data)
}

// Write sets key to v: setData, or create when the znode does not exist
// yet (and setData again if another client created it meanwhile).
func (c *Client) Write(ctx context.Context, key string, v int64) workloads.Outcome {
	val := history.IntValue(v)
	p, err := znode(key)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: err.Error()}
	}
	data := workloads.EncodeValue(v)
	sent, err := c.call(ctx, func(conn *zk.Conn, g *gate) error {
		if !g.send() {
			return errAbandoned
		}
		_, err := conn.Set(p, data, -1)
		if !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		_, err = conn.Create(p, data, 0, zk.WorldACL(zk.PermAll))
		if !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
		_, err = conn.Set(p, data, -1)
		return err
	})
	return writeOutcome(val, err, sent)
}

// CAS sets key to to if it holds from: getData, compare, then setData
// with the version read, so that a write in between makes it fail
// (ZooKeeper's bad version, a definite answer). A never written key
// fails, as in the node contract.
func (c *Client) CAS(ctx context.Context, key string, from, to int64) workloads.Outcome {
	val := history.PairValue(from, to)
	p, err := znode(key)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: err.Error()}
	}
	var differs error
	sent, err := c.call(ctx, func(conn *zk.Conn, g *gate) error {
		d, stat, err := conn.Get(p)
		if err != nil {
			return err
		}
		cur, perr := workloads.DecodeValue(d)
		if perr != nil {
			differs = perr
			return nil
		}
		if cur != from {
			differs = fmt.Errorf("current value %d differs", cur)
			return nil
		}
		// Only the setData can have an effect.
		if !g.send() {
			return errAbandoned
		}
		_, err = conn.Set(p, workloads.EncodeValue(to), stat.Version)
		return err
	})
	if err == nil && differs != nil {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: differs.Error()}
	}
	if errors.Is(err, zk.ErrNoNode) {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: "never written"}
	}
	return writeOutcome(val, err, sent)
}

// writeOutcome classifies the end of a write or cas.
func writeOutcome(v history.Value, err error, sent bool) workloads.Outcome {
	switch {
	case err == nil:
		return workloads.Outcome{Type: history.OK, Value: v}
	case !sent || definite(err):
		return workloads.Outcome{Type: history.Fail, Value: v, Error: describe(err)}
	default:
		return workloads.Outcome{Type: history.Info, Value: v, Error: describe(err)}
	}
}

// Status asks the server's AdminServer for its role, epoch and leader
// (see probe).
func (c *Client) Status(ctx context.Context) (workloads.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	st, err := probe(ctx, c.hc, c.Node, c.Admin, c.epochs)
	if err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %w", c.Node, err)
	}
	return st, nil
}
