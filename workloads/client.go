// Package workloads drives a system under test through the node contract
// (docs/node-contract.md): the register workload's client processes, the
// observer that polls every node's /status, and the final phase's reads.
//
// Every outcome follows Jepsen's semantics: ok happened, fail definitely did
// not (the node said 503 or 412), info is indeterminate (a timeout, a broken
// connection, garbage from the node). Nothing a node sends can crash the
// harness: bodies are read with a size cap and every request has a timeout.
package workloads

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
)

// maxBody caps what is read of a node's answer.
const maxBody = 64 << 10

// DefaultTimeout is the client operation timeout.
const DefaultTimeout = time.Second

// Outcome is what one operation came to, ready for the history.
type Outcome struct {
	Type  history.Type  // OK, Fail or Info
	Value history.Value // read: the value read (None for a key never written)
	Error string        // why a fail failed, or what made the outcome info
}

// Client talks the node contract to one node. Each client process has its
// own Client, with its own bounded connection pool; Close drops it.
type Client struct {
	Node    string        // the node's id, e.g. "n2"
	Base    string        // the node's base URL, e.g. "http://127.0.0.1:32768"
	Timeout time.Duration // per operation; DefaultTimeout when zero
	hc      *http.Client
}

// NewClient returns a client for one node with a private transport: at most
// two connections, every phase bounded by the timeout.
func NewClient(node, base string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}).DialContext,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		MaxConnsPerHost:       2,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
	}
	return &Client{Node: node, Base: strings.TrimRight(base, "/"), Timeout: timeout,
		hc: &http.Client{Transport: tr, Timeout: timeout}}
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// kvValue is the body of GET /kv/{key} and PUT /kv/{key}.
type kvValue struct {
	Value *int64 `json:"value"`
}

// Read reads key: ok with the value (None when never written).
func (c *Client) Read(ctx context.Context, key string) Outcome {
	code, body, err := c.do(ctx, http.MethodGet, "/kv/"+url.PathEscape(key), nil)
	if o, done := classify(code, body, err); done {
		return o
	}
	var v kvValue
	if err := StrictJSON(body, &v); err != nil {
		return Outcome{Type: history.Info, Error: "garbage answer: " + err.Error()}
	}
	if v.Value == nil {
		return Outcome{Type: history.OK}
	}
	return Outcome{Type: history.OK, Value: history.IntValue(*v.Value)}
}

// Write sets key to v.
func (c *Client) Write(ctx context.Context, key string, v int64) Outcome {
	code, body, err := c.do(ctx, http.MethodPut, "/kv/"+url.PathEscape(key), map[string]int64{"value": v})
	o, done := classify(code, body, err)
	o.Value = history.IntValue(v)
	if done {
		return o
	}
	return okIfSane(body, history.IntValue(v))
}

// CAS sets key to to if it holds from.
func (c *Client) CAS(ctx context.Context, key string, from, to int64) Outcome {
	code, body, err := c.do(ctx, http.MethodPost, "/kv/"+url.PathEscape(key)+"/cas", map[string]int64{"from": from, "to": to})
	o, done := classify(code, body, err)
	o.Value = history.PairValue(from, to)
	if done {
		return o
	}
	return okIfSane(body, history.PairValue(from, to))
}

// Status is a node's GET /status answer.
type Status struct {
	ID            string      `json:"id"`
	Role          rundir.Role `json:"role"`
	Term          int64       `json:"term"`
	Leader        string      `json:"leader"`
	Commit        int64       `json:"commit"`
	ClockOffsetMS int64       `json:"clock_offset_ms"`
	// Group is the group (shard) the node belongs to; empty for systems
	// with one leader.
	Group string `json:"group,omitempty"`
}

// Status asks the node for its status; any failure or garbage is an error.
func (c *Client) Status(ctx context.Context) (Status, error) {
	code, body, err := c.do(ctx, http.MethodGet, "/status", nil)
	if err != nil {
		return Status{}, err
	}
	if code != http.StatusOK {
		return Status{}, fmt.Errorf("status: HTTP %d", code)
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return Status{}, fmt.Errorf("status: garbage answer: %w", err)
	}
	return st, nil
}

// do performs one request within the client's timeout and reads at most
// maxBody of the answer.
func (c *Client) do(ctx context.Context, method, path string, in any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxBody {
		return resp.StatusCode, nil, fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	return resp.StatusCode, body, nil
}

// classify maps a transport result to an outcome. done is false only for a
// 200 whose body the caller still has to interpret.
func classify(code int, body []byte, err error) (Outcome, bool) {
	if err != nil {
		if neverSent(err) {
			return Outcome{Type: history.Fail, Error: describe(err)}, true
		}
		return Outcome{Type: history.Info, Error: describe(err)}, true
	}
	switch code {
	case http.StatusOK:
		return Outcome{}, false
	case http.StatusServiceUnavailable:
		var e struct {
			Error  string `json:"error"`
			Leader string `json:"leader"`
		}
		_ = json.Unmarshal(body, &e)
		msg := "503 " + cmp.Or(e.Error, "unavailable")
		if e.Leader != "" {
			msg += " (leader " + e.Leader + ")"
		}
		return Outcome{Type: history.Fail, Error: msg}, true
	case http.StatusPreconditionFailed:
		return Outcome{Type: history.Fail, Error: "412 current value differs"}, true
	default:
		return Outcome{Type: history.Info, Error: fmt.Sprintf("unexpected HTTP %d: %.80s", code, bytes.TrimSpace(body))}, true
	}
}

// neverSent reports whether err happened while connecting, so that the
// request never left: a refused or unreachable connection is a definite
// failure, not an indeterminate outcome.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// describe names a transport failure briefly.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		s = s[i+2:]
	}
	return s
}

// okIfSane is the outcome of a 200 to a write or cas: ok, unless the body is
// garbage, which makes it indeterminate.
func okIfSane(body []byte, v history.Value) Outcome {
	if len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) {
		return Outcome{Type: history.Info, Value: v, Error: "garbage answer to a 200"}
	}
	return Outcome{Type: history.OK, Value: v}
}

// strictJSON decodes one JSON object and rejects trailing garbage.
