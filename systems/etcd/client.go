package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/workloads"
)

// Read modes (ClientOptions.ReadMode).
const (
	// ReadLinearizable: etcd's default Get, confirmed with the leader
	// (ReadIndex) before the member answers.
	ReadLinearizable = "linearizable"
	// ReadSerializable: Get with WithSerializable, answered by the member
	// from its own copy: etcd's documented non-linearizable mode.
	ReadSerializable = "serializable"
)

// KeyPrefix is put before a register key to make its etcd key.
const KeyPrefix = "/splitbrain/"

// ClientOptions configure a Client.
type ClientOptions struct {
	// Timeout bounds each operation (and the dial); workloads.DefaultTimeout
	// when zero.
	Timeout time.Duration
	// ReadMode is ReadLinearizable (the default when empty) or
	// ReadSerializable.
	ReadMode string
	// Members is shared by the clients of one ensemble (see Members); nil
	// gives the client its own.
	Members *Members
	// NoRequireLeader sends writes and linearizable reads without etcd's
	// require-leader flag. With it (the default) a member that knows no
	// leader refuses them at once ("etcdserver: no leader", a definite
	// fail) instead of holding them until the timeout (indeterminate).
	// Serializable reads never carry it: they are the member's own answer.
	NoRequireLeader bool
	// Logger gets the etcd client library's messages at debug level; nil
	// drops them.
	Logger *slog.Logger
}

// Client is one client process's connection to one etcd member: a single
// endpoint, no endpoint sync and no retries, so it never fails over to
// another member and a client behind a partition sees its member's view.
// It has the method set of workloads.Client, with the same outcomes: ok
// happened, fail definitely did not, info is indeterminate. Every call
// returns within its timeout. Safe for concurrent use.
type Client struct {
	Node string // the member's node id, "n2"
	Addr string // its client address, "ip:2379"

	timeout       time.Duration
	serializable  bool
	requireLeader bool
	members       *Members
	hc            *http.Client
	cli           *clientv3.Client
	kv            pb.KVClient
	cluster       pb.ClusterClient
	closeOnce     sync.Once
}

// NewClient returns a client of node's member at addr (host:port of its
// client port). It does not wait for a connection: the first operations
// on an unreachable member fail.
func NewClient(node, addr string, opts ClientOptions) (*Client, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("etcd client of %s: address %q: %w", node, addr, err)
	}
	if _, err := NodeIndex(node); err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	switch opts.ReadMode {
	case "":
		opts.ReadMode = ReadLinearizable
	case ReadLinearizable, ReadSerializable:
	default:
		return nil, fmt.Errorf("etcd client: read mode %q: want %s or %s", opts.ReadMode, ReadLinearizable, ReadSerializable)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = workloads.DefaultTimeout
	}
	if opts.Members == nil {
		opts.Members = NewMembers()
	}
	lg := zap.NewNop()
	if opts.Logger != nil {
		lg = zap.New(&slogCore{l: opts.Logger.With("component", "etcd-client", "node", node)})
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"http://" + addr},
		DialTimeout: opts.Timeout,
		// No AutoSyncInterval: the endpoint list stays this one member.
		// One attempt per call: the library's retries (up to 100 for
		// reads, on Unavailable) would spend the operation's time on a
		// member that cannot answer, and hide when it stopped answering.
		MaxUnaryRetries: 1,
		Logger:          lg,
		DialOptions: []grpc.DialOption{
			// Reconnect within a second of a restarted member coming
			// back, not after gRPC's default backoff of up to two minutes.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: opts.Timeout,
			}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client of %s at %s: %w", node, addr, err)
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: opts.Timeout}).DialContext,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		DisableCompression:    true,
	}
	return &Client{
		Node: node, Addr: addr,
		timeout:       opts.Timeout,
		serializable:  opts.ReadMode == ReadSerializable,
		requireLeader: !opts.NoRequireLeader,
		members:       opts.Members,
		hc:            &http.Client{Transport: tr, Timeout: opts.Timeout},
		cli:           cli,
		// The raw gRPC stubs on the client's one connection: the same
		// interceptors (one attempt), without clientv3's wrappers that
		// retry by themselves.
		kv:      pb.NewKVClient(cli.ActiveConnection()),
		cluster: pb.NewClusterClient(cli.ActiveConnection()),
	}, nil
}

// Close drops the connection.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.cli.Close()
		c.hc.CloseIdleConnections()
	})
}

// key is key's etcd key.
func key(k string) (string, error) {
	if k == "" || strings.ContainsRune(k, 0) || len(k) > 256 {
		return "", fmt.Errorf("bad key %q", k)
	}
	return KeyPrefix + k, nil
}

// opCtx bounds an operation by the client's timeout and, when asked,
// marks it as requiring a leader.
func (c *Client) opCtx(ctx context.Context, requireLeader bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	if requireLeader && c.requireLeader {
		ctx = clientv3.WithRequireLeader(ctx)
	}
	return ctx, cancel
}

// Read gets key: ok with the value (None when never written),
// linearizable unless the client reads serializable. A read that did not
// complete is a fail: it had no effect.
func (c *Client) Read(ctx context.Context, k string) workloads.Outcome {
	p, err := key(k)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Error: err.Error()}
	}
	ctx, cancel := c.opCtx(ctx, !c.serializable)
	defer cancel()
	resp, err := c.kv.Range(ctx, &pb.RangeRequest{Key: []byte(p), Serializable: c.serializable})
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Error: describe(err)}
	}
	if len(resp.Kvs) == 0 {
		return workloads.Outcome{Type: history.OK}
	}
	return workloads.ReadOutcome(resp.Kvs[0].Value)
}

// Write puts v at key.
func (c *Client) Write(ctx context.Context, k string, v int64) workloads.Outcome {
	val := history.IntValue(v)
	p, err := key(k)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: err.Error()}
	}
	ctx, cancel := c.opCtx(ctx, true)
	defer cancel()
	_, err = c.kv.Put(ctx, &pb.PutRequest{Key: []byte(p), Value: workloads.EncodeValue(v)})
	return writeOutcome(val, err)
}

// CAS sets key to to if it holds from, in one transaction: if the value
// equals from, put to. A transaction whose comparison failed (another
// value, or a key never written: etcd's value comparison on a missing key
// is false) was applied as a no-op: a definite fail.
func (c *Client) CAS(ctx context.Context, k string, from, to int64) workloads.Outcome {
	val := history.PairValue(from, to)
	p, err := key(k)
	if err != nil {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: err.Error()}
	}
	ctx, cancel := c.opCtx(ctx, true)
	defer cancel()
	cmp := clientv3.Compare(clientv3.Value(p), "=", string(workloads.EncodeValue(from)))
	put := &pb.PutRequest{Key: []byte(p), Value: workloads.EncodeValue(to)}
	resp, err := c.kv.Txn(ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{(*pb.Compare)(&cmp)},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: put}}},
	})
	if err == nil && !resp.Succeeded {
		return workloads.Outcome{Type: history.Fail, Value: val, Error: "value differs or never written"}
	}
	return writeOutcome(val, err)
}

// writeOutcome classifies the end of a put or a transaction.
func writeOutcome(v history.Value, err error) workloads.Outcome {
	switch {
	case err == nil:
		return workloads.Outcome{Type: history.OK, Value: v}
	case definite(err):
		return workloads.Outcome{Type: history.Fail, Value: v, Error: describe(err)}
	default:
		return workloads.Outcome{Type: history.Info, Value: v, Error: describe(err)}
	}
}

// definiteErrors are etcd's answers given before a request is proposed to
// raft (or by the apply as a no-op), so it certainly took no effect:
// refused by the require-leader check, the apply backlog, the request
// size, the space quota, raft dropping the proposal (not appended), or a
// malformed request. Everything else that fails after the request may
// have reached raft (timeouts, "leader changed", "server stopped", a lost
// connection) is indeterminate.
var definiteErrors = []error{
	rpctypes.ErrGRPCNoLeader,
	rpctypes.ErrGRPCRequestTooManyRequests,
	rpctypes.ErrGRPCRequestTooLarge,
	rpctypes.ErrGRPCNoSpace,
	rpctypes.ErrGRPCEmptyKey,
	rpctypes.ErrGRPCKeyNotFound,
	rpctypes.ErrGRPCTooManyOps,
	rpctypes.ErrGRPCDuplicateKey,
	rpctypes.ErrGRPCNotSupportedForLearner,
	rpctypes.ErrGRPCPermissionDenied,
}

// errProposalDropped is raft's ErrProposalDropped as etcd sends it (as an
// unknown gRPC error: it has no rpctypes error).
const errProposalDropped = "raft proposal dropped"

// definite reports whether err certainly means the request took no
// effect.
func definite(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range definiteErrors {
		if ds, _ := status.FromError(d); ds.Code() == st.Code() && ds.Message() == st.Message() {
			return true
		}
	}
	switch st.Code() {
	case codes.Unknown:
		return st.Message() == errProposalDropped
	case codes.Unavailable:
		// gRPC fails a call at once, before sending anything, while the
		// connection is down: its message carries the dial's error. (An
		// established connection that breaks says "error reading from
		// server" or "transport is closing": the request may have gone.)
		return strings.Contains(st.Message(), "Error while dialing")
	}
	return false
}

// describe names an error briefly for the history.
func describe(err error) string {
	if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		return "canceled"
	}
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// Status asks the member for its raft status (see toStatus); a leader
// not yet in the Members book is looked up in the member's own member
// list (serializable: a member cut off from its quorum still answers).
func (c *Client) Status(ctx context.Context) (workloads.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	b, err := getVars(ctx, c.hc, c.Addr)
	if err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %w", c.Node, err)
	}
	rs, err := ParseVars(b)
	if err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %w", c.Node, err)
	}
	st, err := toStatus(c.Node, rs, c.members, func() error { return c.lookupMembers(ctx) })
	if err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %w", c.Node, err)
	}
	return st, nil
}

// lookupMembers puts the member list's named members into the book.
func (c *Client) lookupMembers(ctx context.Context) error {
	resp, err := c.cluster.MemberList(ctx, &pb.MemberListRequest{Linearizable: false})
	if err != nil {
		return fmt.Errorf("member list: %s", describe(err))
	}
	for _, m := range resp.Members {
		if m.Name == "" {
			continue // not started yet: it has no name
		}
		if _, err := NodeIndex(m.Name); err != nil {
			return fmt.Errorf("member list: member %x: %w", m.ID, err)
		}
		if err := c.members.learn(m.ID, m.Name); err != nil {
			return fmt.Errorf("member list: %w", err)
		}
	}
	return nil
}

// slogCore is a zap core that hands every entry to slog at debug level.
type slogCore struct {
	l      *slog.Logger
	fields []zapcore.Field
}

func (s *slogCore) Enabled(zapcore.Level) bool {
	return s.l.Enabled(context.Background(), slog.LevelDebug)
}

func (s *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{l: s.l, fields: append(append([]zapcore.Field(nil), s.fields...), fs...)}
}

func (s *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if s.Enabled(e.Level) {
		return ce.AddCore(e, s)
	}
	return ce
}

func (s *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(append([]zapcore.Field(nil), s.fields...), fs...) {
		f.AddTo(enc)
	}
	attrs := make([]any, 0, 2*len(enc.Fields)+2)
	attrs = append(attrs, "level", e.Level.String())
	for k, v := range enc.Fields {
		attrs = append(attrs, k, v)
	}
	s.l.Debug(e.Message, attrs...)
	return nil
}

func (s *slogCore) Sync() error { return nil }
