// Package contract is splitbrain's node contract as a system: a user's own
// binary that speaks the contract (docs/node-contract.md), packed into a
// node image like electd, and a small HTTP client for the contract's
// endpoints.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/splitbrain/splitbrain/systems"
)

// DefaultPort is the port a contract node listens on unless told otherwise.
const DefaultPort = 7101

// System packs the static binary at path into the image as /<base name> and
// starts it with args, split on spaces, templates as in package systems
// ({id} {listen} {peers} {data} ...). port is the client port ({listen}
// is 0.0.0.0:port); 0 means DefaultPort.
func System(path, args string, port int) (systems.System, error) {
	if path == "" {
		return systems.System{}, errors.New("contract system: no binary")
	}
	if port == 0 {
		port = DefaultPort
	}
	dest := "/" + filepath.Base(path)
	s := systems.System{
		Name:       "contract-" + strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)),
		Binaries:   []systems.Binary{{Dest: dest, File: path}},
		Args:       append([]string{dest}, strings.Fields(args)...),
		ClientPort: port,
		Client:     systems.ClientContract,
		Clock:      systems.ClockContract,
	}
	return s, s.Validate()
}

// Status is a node's answer to GET /status.
type Status struct {
	ID            string `json:"id"`
	Role          string `json:"role"`
	Term          int64  `json:"term"`
	Leader        string `json:"leader"`
	Commit        int64  `json:"commit"`
	ClockOffsetMS int64  `json:"clock_offset_ms"`
}

// Client speaks the node contract to one node.
type Client struct {
	Base string       // "http://10.1.2.11:7101"
	HTTP *http.Client // nil: http.DefaultClient; use contexts for deadlines
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Body) }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, &StatusError{resp.StatusCode, string(bytes.TrimSpace(b))})
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// Status asks GET /status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/status", nil, &s)
	return s, err
}
