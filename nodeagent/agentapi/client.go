package agentapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Client talks to one agent.
type Client struct {
	// Base is the agent's URL, e.g. "http://10.1.2.11:7070".
	Base string
	// HTTP is the client used; nil means a client without timeout (every
	// call takes a context).
	HTTP *http.Client
}

// StatusError is a non-2xx answer of the agent.
type StatusError struct {
	Op          string
	Code        int
	Msg         string
	Unsupported bool
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("agent %s: %d %s", e.Op, e.Code, e.Msg)
}

// Is makes errors.Is(err, errors.ErrUnsupported) true for faults the node
// can't have.
func (e *StatusError) Is(target error) bool {
	return target == errors.ErrUnsupported && e.Unsupported
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("agent %s %s: encode: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("agent %s %s: read: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		_ = json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = string(bytes.TrimSpace(b))
		}
		return &StatusError{Op: method + " " + path, Code: resp.StatusCode, Msg: e.Error, Unsupported: e.Unsupported}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("agent %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// Health returns the agent's view of its server.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.do(ctx, http.MethodGet, "/health", nil, &h)
	return h, err
}

// Capabilities asks which faults the node can have.
func (c *Client) Capabilities(ctx context.Context) (Capabilities, error) {
	var k Capabilities
	err := c.do(ctx, http.MethodGet, "/capabilities", nil, &k)
	return k, err
}

func (c *Client) server(ctx context.Context, verb string) (Health, error) {
	var h Health
	err := c.do(ctx, http.MethodPost, "/server/"+verb, nil, &h)
	return h, err
}

// Start starts the server; a running server is left alone.
func (c *Client) Start(ctx context.Context) (Health, error) { return c.server(ctx, "start") }

// Kill SIGKILLs the server and returns once it has exited.
func (c *Client) Kill(ctx context.Context) (Health, error) { return c.server(ctx, "kill") }

// Pause SIGSTOPs the server.
func (c *Client) Pause(ctx context.Context) (Health, error) { return c.server(ctx, "pause") }

// Resume SIGCONTs the server.
func (c *Client) Resume(ctx context.Context) (Health, error) { return c.server(ctx, "resume") }

// SetDrops replaces the node's packet-drop rules.
func (c *Client) SetDrops(ctx context.Context, d Drops) error {
	return c.do(ctx, http.MethodPut, "/net/drops", d, nil)
}

// Netem sets delay and loss on the node's interface. The error matches
// errors.ErrUnsupported when the kernel has no netem.
func (c *Client) Netem(ctx context.Context, n Netem) error {
	return c.do(ctx, http.MethodPost, "/net/netem", n, nil)
}

// Clock skews the server's clock. The error matches errors.ErrUnsupported
// when the system has no clock control.
func (c *Client) Clock(ctx context.Context, k Clock) (Clock, error) {
	var out Clock
	err := c.do(ctx, http.MethodPost, "/clock", k, &out)
	return out, err
}

// Events calls fn for every event with Seq >= from, in order. With follow it
// keeps waiting for new events until ctx ends or fn returns an error;
// without, it returns after the events kept so far.
func (c *Client) Events(ctx context.Context, from int64, follow bool, fn func(Event) error) error {
	q := url.Values{"from": {strconv.FormatInt(from, 10)}}
	if follow {
		q.Set("follow", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/events?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("agent events: %w", err)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("agent events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &StatusError{Op: "GET /events", Code: resp.StatusCode, Msg: string(bytes.TrimSpace(b))}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue // keep-alive
		}
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("agent events: decode: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("agent events: %w", err)
	}
	return nil
}
