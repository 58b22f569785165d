package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/workloads"
)

// KeyPrefix is put before a register key to make its Redis key.
const KeyPrefix = "splitbrain:"

// DefaultRedirects bounds the MOVED and ASK redirections one operation
// follows: a settled cluster needs one, a failover or a slot migration in
// flight two or three.
const DefaultRedirects = 5

// maxConns bounds the nodes one client keeps connections to (its own and
// those redirections named): an ensemble has at most nine.
const maxConns = 16

// casScript compares and sets in one step on the server: the register's
// CAS. 1: set; 0: the value differs or the key was never written (GET
// gives false, equal to no string).
const casScript = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0`

// casSHA is casScript's SHA1, for EVALSHA.
var casSHA = func() string { s := sha1.Sum([]byte(casScript)); return hex.EncodeToString(s[:]) }()

// ClientOptions configure a Client.
type ClientOptions struct {
	// Timeout bounds each operation, redirections included (and each
	// dial); workloads.DefaultTimeout when zero.
	Timeout time.Duration
	// Redirects bounds the redirections an operation follows;
	// DefaultRedirects when zero.
	Redirects int
	// Book maps Redis node ids to node ids; shared by the clients of one
	// cluster (Dial shares one); nil gives the client its own.
	Book *Book
	// Logger gets the client's redirections and errors, and go-redis's
	// own messages, at debug level; nil drops them. (go-redis has one
	// logger per process: the last Logger given gets its messages.)
	Logger *slog.Logger
}

// Client is one client process's connection to one Redis node. Each
// operation goes to that node first and follows the MOVED and ASK
// redirections the cluster answers with, as a cluster client does, up to
// a bound; it never consults a slot map of its own, so it sees what its
// node says. It has the method set of workloads.Conn, with the workloads
// outcomes:
//
//   - ok: the node that serves the key's slot executed it;
//   - fail: it certainly was not executed: a read that did not complete
//     (a read has no effect), a CAS whose comparison failed, or a write
//     refused before execution: an error reply Redis gives before running
//     a command (CLUSTERDOWN, TRYAGAIN, LOADING, READONLY, MASTERDOWN,
//     BUSY, OOM, MISCONF, NOSCRIPT, NOAUTH, NOPERM, NOREPLICAS), every hop
//     answered MOVED or ASK until the bound was spent, or nothing was sent
//     (the dial failed: connection refused, no route; no connection free
//     in the pool);
//   - info: anything else on a write or a CAS, after it may have been
//     sent: a timeout (a paused or cut-off node), a connection reset or
//     closed after the send, garbage from the node, an error reply not in
//     the list above. A read that returns a value that is not a register
//     value is info too (as etcd's and ZooKeeper's clients have it).
//
// Every call returns within its timeout. go-redis's own retries are off:
// a write retried after a timeout could be applied twice, and a CAS
// retried after it was applied would fail. Safe for concurrent use.
type Client struct {
	Node string // the node's id, "n2"
	Addr string // its client address, "ip:6379"

	timeout   time.Duration
	redirects int
	book      *Book
	log       *slog.Logger

	mu     sync.Mutex
	conns  map[string]*goredis.Client // by address
	closed bool
}

// NewClient returns a client of node at addr (ip:port). It does not
// connect: the first operation does.
func NewClient(node, addr string, opts ClientOptions) (*Client, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("redis client of %s: address %q: %w", node, addr, err)
	}
	if _, err := nodeIndex(node); err != nil {
		return nil, fmt.Errorf("redis client: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = workloads.DefaultTimeout
	}
	if opts.Redirects <= 0 {
		opts.Redirects = DefaultRedirects
	}
	if opts.Book == nil {
		opts.Book = NewBook()
	}
	if err := opts.Book.AddEndpoint(workloads.Endpoint{Node: node, Addr: addr}); err != nil {
		return nil, fmt.Errorf("redis client of %s: %w", node, err)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	} else {
		libLogger.l.Store(lg)
	}
	return &Client{
		Node: node, Addr: addr,
		timeout:   opts.Timeout,
		redirects: opts.Redirects,
		book:      opts.Book,
		log:       lg.With("component", "redis-client", "node", node),
		conns:     map[string]*goredis.Client{},
	}, nil
}

// newRDB is a go-redis client of one address, tuned for a fault-injection
// test: RESP2, no retries, one dial attempt, every phase bounded by
// timeout, and none of go-redis's handshakes that Redis 7.0 does not
// know (CLIENT SETINFO, maintenance notifications).
func newRDB(addr string, timeout time.Duration) *goredis.Client {
	return goredis.NewClient(&goredis.Options{
		Addr:                  addr,
		Protocol:              2,
		MaxRetries:            -1,
		DialTimeout:           timeout,
		DialerRetries:         1,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		ContextTimeoutEnabled: true,
		PoolSize:              2,
		PoolTimeout:           timeout,
		ConnMaxIdleTime:       30 * time.Second,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
}

// conn returns the connection pool to addr, made on first use.
func (c *Client) conn(addr string) (*goredis.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, goredis.ErrClosed
	}
	if r, ok := c.conns[addr]; ok {
		return r, nil
	}
	if len(c.conns) >= maxConns {
		return nil, errTooManyNodes
	}
	r := newRDB(addr, c.timeout)
	c.conns[addr] = r
	return r, nil
}

// Close drops every connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, r := range c.conns {
		r.Close()
	}
	clear(c.conns)
}

// key is k's Redis key.
func key(k string) (string, error) {
	if k == "" || strings.ContainsRune(k, 0) || len(k) > 256 {
		return "", fmt.Errorf("bad key %q", k)
	}
	return KeyPrefix + k, nil
}

// Errors of the redirection loop; both mean nothing was executed.
var (
	errRedirects    = errors.New("redirections exhausted")
	errTooManyNodes = fmt.Errorf("redirected to more than %d nodes", maxConns)
	errNoEndpoint   = errors.New("redirected to an unknown endpoint")
)

// attempt runs one operation on the node behind rdb; asking: precede it
// with ASKING on the same connection (the target of an ASK serves a slot
// it is importing only to a client that says so).
type attempt func(ctx context.Context, rdb *goredis.Client, asking bool) (any, error)

// send runs args on rdb as attempt does.
func send(ctx context.Context, rdb *goredis.Client, asking bool, args ...any) (any, error) {
	if !asking {
		return rdb.Do(ctx, args...).Result()
	}
	pipe := rdb.Pipeline()
	ask := pipe.Do(ctx, "ASKING")
	cmd := pipe.Do(ctx, args...)
	pipe.Exec(ctx)
	if err := ask.Err(); err != nil && cmd.Err() == nil {
		return nil, fmt.Errorf("ASKING: %w", err)
	}
	return cmd.Result()
}

// run sends the operation to the client's node and follows redirections:
// the result is the reply of the node that executed it, or the error that
// ended it (errRedirects when every hop redirected).
func (c *Client) run(ctx context.Context, op attempt) (any, error) {
	addr, asking := c.Addr, false
	var path []string
	for hop := 0; ; hop++ {
		rdb, err := c.conn(addr)
		if err != nil {
			return nil, err
		}
		res, err := op(ctx, rdb, asking)
		r, ok := parseRedirect(err)
		if !ok {
			if len(path) > 0 {
				c.log.Debug("redirected", "path", path, "err", err)
			}
			return res, err
		}
		path = append(path, err.Error())
		if hop == c.redirects {
			return nil, fmt.Errorf("%w after %d: %s", errRedirects, hop, strings.Join(path, "; "))
		}
		if r.addr == "" {
			return nil, fmt.Errorf("%w: %s", errNoEndpoint, err)
		}
		if strings.HasPrefix(r.addr, ":") { // the same host, another port
			host, _, _ := net.SplitHostPort(addr)
			r.addr = net.JoinHostPort(host, strings.TrimPrefix(r.addr, ":"))
		}
		addr, asking = r.addr, r.ask
	}
}

// redirect is a MOVED or ASK reply.
type redirect struct {
	ask  bool
	slot int
	addr string // "ip:port", ":port" (the same host), or "" (unknown endpoint)
}

// parseRedirect reads "MOVED <slot> <endpoint>" or "ASK <slot> <endpoint>"
// from an error reply.
func parseRedirect(err error) (redirect, bool) {
	var re goredis.Error
	if err == nil || !errors.As(err, &re) {
		return redirect{}, false
	}
	f := strings.Fields(re.Error())
	if len(f) != 3 || (f[0] != "MOVED" && f[0] != "ASK") {
		return redirect{}, false
	}
	slot, err2 := parseSlot(f[1])
	if err2 != nil {
		return redirect{}, false
	}
	r := redirect{ask: f[0] == "ASK", slot: slot}
	if f[2] == "?" { // Redis: the endpoint is unknown
		return r, true
	}
	host, port, err2 := net.SplitHostPort(f[2])
	if err2 != nil {
		return redirect{}, false
	}
	if _, err2 := parsePort(port); err2 != nil {
		return redirect{}, false
	}
	if host == "" {
		r.addr = ":" + port
	} else {
		r.addr = net.JoinHostPort(host, port)
	}
	return r, true
}

// refusedReplies are the error replies Redis gives before executing a
// command (the cluster's checks in processCommand and getNodeByQuery, the
// script cache, memory and persistence guards), so the command had no
// effect.
var refusedReplies = []string{
	"CLUSTERDOWN", "TRYAGAIN", "LOADING", "READONLY", "MASTERDOWN", "BUSY",
	"OOM", "MISCONF", "NOSCRIPT", "NOAUTH", "NOPERM", "NOREPLICAS", "CROSSSLOT",
}

// definite reports whether err certainly means the operation was not
// executed.
func definite(err error) bool {
	if errors.Is(err, errRedirects) || errors.Is(err, errTooManyNodes) || errors.Is(err, errNoEndpoint) ||
		errors.Is(err, goredis.ErrPoolTimeout) || errors.Is(err, goredis.ErrClosed) {
		return true
	}
	var re goredis.Error
	if errors.As(err, &re) {
		code, _, _ := strings.Cut(re.Error(), " ")
		for _, p := range refusedReplies {
			if code == p {
				return true
			}
		}
		return false
	}
	// A dial that failed sent nothing. (go-redis dials before it writes;
	// an established connection that breaks gives a read or write error.)
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// describe names an error briefly for the history.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// outcome is a write's or a CAS's outcome for err.
func outcome(v history.Value, err error) workloads.Outcome {
	switch {
	case err == nil:
		return workloads.Outcome{Type: history.OK, Value: v}
	case definite(err):
		return workloads.Outcome{Type: history.Fail, Value: v, Error: describe(err)}
	default:
		return workloads.Outcome{Type: history.Info, Value: v, Error: describe(err)}
	}
}

// Read gets key: ok with the value (None when never written). Redis
// serves it on the master of the key's slot (a replica redirects): the
// master's copy, which a failover may since have replaced.
func (c *Client) Read(ctx context.Context, k string) workloads.Outcome {
	p, err := key(k)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.run(ctx, func(ctx context.Context, rdb *goredis.Client, asking bool) (any, error) {
		return send(ctx, rdb, asking, "GET", p)
	})
	if errors.Is(err, goredis.Nil) {
		return workloads.Outcome{Type: history.OK}
	}
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Error: describe(err)}
	}
	s, ok := res.(string)
	if !ok {
		return workloads.Outcome{Type: history.Info, Error: fmt.Sprintf("GET answered %T, not a string", res)}
	}
	return workloads.ReadOutcome([]byte(s))
}

// Write sets key to v (SET).
func (c *Client) Write(ctx context.Context, k string, v int64) workloads.Outcome {
	val := history.IntValue(v)
	p, err := key(k)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.run(ctx, func(ctx context.Context, rdb *goredis.Client, asking bool) (any, error) {
		return send(ctx, rdb, asking, "SET", p, workloads.EncodeValue(v))
	})
	if err == nil && res != "OK" {
		return workloads.Outcome{Type: history.Info, Value: val, Error: fmt.Sprintf("SET answered %.40v", res)}
	}
	return outcome(val, err)
}

// CAS sets key to to if it holds from, in a Lua script the master runs
// atomically (EVALSHA, or EVAL when the node does not have the script
// cached: after a restart or on a newly promoted master). A script that
// found another value, or no value, changed nothing: a definite fail.
func (c *Client) CAS(ctx context.Context, k string, from, to int64) workloads.Outcome {
	val := history.PairValue(from, to)
	p, err := key(k)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	f, t := string(workloads.EncodeValue(from)), string(workloads.EncodeValue(to))
	res, err := c.run(ctx, func(ctx context.Context, rdb *goredis.Client, asking bool) (any, error) {
		res, err := send(ctx, rdb, asking, "EVALSHA", casSHA, 1, p, f, t)
		if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			// Refused before running: send the script itself.
			return send(ctx, rdb, asking, "EVAL", casScript, 1, p, f, t)
		}
		return res, err
	})
	if err != nil {
		return outcome(val, err)
	}
	switch res {
	case int64(1):
		return workloads.Outcome{Type: history.OK, Value: val}
	case int64(0):
		return workloads.Outcome{Type: history.Fail, Value: val, Error: "value differs or never written"}
	}
	return workloads.Outcome{Type: history.Info, Value: val, Error: fmt.Sprintf("cas script answered %.40v", res)}
}

// nodeIndex is the index of node id: n3 is 3.
func nodeIndex(node string) (int, error) {
	s, ok := strings.CutPrefix(node, "n")
	n, err := strconv.Atoi(s)
	if !ok || err != nil || n < 1 || s != strconv.Itoa(n) {
		return 0, fmt.Errorf("node id %q is not nN", node)
	}
	return n, nil
}

// libLogger is go-redis's logger (one per process): it hands messages to
// the last Logger a client was given, at debug level, or drops them.
var libLogger = &forward{}

func init() { goredis.SetLogger(libLogger) }

type forward struct{ l atomic.Pointer[slog.Logger] }

func (f *forward) Printf(ctx context.Context, format string, v ...any) {
	if l := f.l.Load(); l != nil {
		l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
	}
}
