package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/election"
)

// Limits on client input: a register holds integers, so anything near
// these sizes is garbage.
const (
	MaxClientBody = 64 << 10
	MaxKeyLen     = 256
	// forwardedHeader marks a request one node forwarded to the leader, so
	// the leader answers it itself instead of forwarding it again.
	forwardedHeader = "X-Electd-Forwarded-By"
)

// Handler is the node's HTTP API: the client API of docs/node-contract.md
// plus the peer transport.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", n.handleStatus)
	mux.HandleFunc("GET /kv/{key}", n.handleGet)
	mux.HandleFunc("PUT /kv/{key}", n.handlePut)
	mux.HandleFunc("POST /kv/{key}/cas", n.handleCAS)
	mux.HandleFunc("POST /clock", n.handleClock)
	mux.HandleFunc("POST /peer", n.handlePeer)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The catch-all also receives known paths with the wrong method;
		// tell those apart so a client learns what it did wrong.
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost} {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, pat := mux.Handler(r2); pat != "/" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// StatusResponse is the body of GET /status.
type StatusResponse struct {
	ID            string  `json:"id"`
	Role          string  `json:"role"`
	Term          uint64  `json:"term"`
	Leader        string  `json:"leader"`
	Commit        uint64  `json:"commit"`
	ClockOffsetMS int64   `json:"clock_offset_ms"`
	ClockRate     float64 `json:"clock_rate"`
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := n.Status()
	writeJSON(w, http.StatusOK, StatusResponse{
		ID:            n.id,
		Role:          string(st.Role),
		Term:          st.Term,
		Leader:        st.Leader,
		Commit:        st.Commit,
		ClockOffsetMS: n.clock.Offset().Milliseconds(),
		ClockRate:     n.clock.Rate(),
	})
}

func (n *Node) handleGet(w http.ResponseWriter, r *http.Request) {
	key, ok := keyOf(w, r)
	if !ok {
		return
	}
	n.serveOp(w, r, election.Request{Op: election.OpRead, Key: key}, nil)
}

type putBody struct {
	Value *int64 `json:"value"`
}

func (n *Node) handlePut(w http.ResponseWriter, r *http.Request) {
	key, ok := keyOf(w, r)
	if !ok {
		return
	}
	var b putBody
	if !decodeBody(w, r, &b) {
		return
	}
	if b.Value == nil {
		writeError(w, http.StatusBadRequest, `body must be {"value": <integer>}: "value" is missing or null`)
		return
	}
	n.serveOp(w, r, election.Request{Op: election.OpWrite, Key: key, Value: *b.Value}, b)
}

type casBody struct {
	From *int64 `json:"from"`
	To   *int64 `json:"to"`
}

func (n *Node) handleCAS(w http.ResponseWriter, r *http.Request) {
	key, ok := keyOf(w, r)
	if !ok {
		return
	}
	var b casBody
	if !decodeBody(w, r, &b) {
		return
	}
	if b.From == nil || b.To == nil {
		writeError(w, http.StatusBadRequest, `body must be {"from": <integer>, "to": <integer>}: "from" or "to" is missing or null`)
		return
	}
	n.serveOp(w, r, election.Request{Op: election.OpCAS, Key: key, From: *b.From, To: *b.To}, b)
}

type clockBody struct {
	OffsetMS *int64   `json:"offset_ms"`
	Rate     *float64 `json:"rate"`
}

func (n *Node) handleClock(w http.ResponseWriter, r *http.Request) {
	var b clockBody
	if !decodeBody(w, r, &b) {
		return
	}
	if b.OffsetMS == nil {
		writeError(w, http.StatusBadRequest, `body must be {"offset_ms": <integer>, "rate": <number>}: "offset_ms" is missing or null`)
		return
	}
	rate := 1.0
	if b.Rate != nil {
		rate = *b.Rate
	}
	// Bound the offset so Duration arithmetic cannot overflow (±10 years
	// is far beyond any skew worth testing).
	const maxOffsetMS = 10 * 365 * 24 * 3600 * 1000
	if *b.OffsetMS > maxOffsetMS || *b.OffsetMS < -maxOffsetMS {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("offset_ms %d out of range [-%d, %d]", *b.OffsetMS, int64(maxOffsetMS), int64(maxOffsetMS)))
		return
	}
	if err := n.clock.Set(time.Duration(*b.OffsetMS)*time.Millisecond, rate); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n.log.Info("clock skewed", "offset_ms", *b.OffsetMS, "rate", rate)
	writeJSON(w, http.StatusOK, map[string]any{
		"clock_offset_ms": n.clock.Offset().Milliseconds(),
		"clock_rate":      n.clock.Rate(),
	})
}

func (n *Node) handlePeer(w http.ResponseWriter, r *http.Request) {
	from := r.URL.Query().Get("from")
	if _, ok := n.peers[from]; !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("from=%q is not a peer of %s", from, n.id))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPeerBody))
	if err != nil {
		bodyError(w, err)
		return
	}
	frames, err := splitFrames(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, f := range frames {
		select {
		case n.inbox <- inbound{from: from, payload: f}:
		case <-n.done:
			writeError(w, http.StatusServiceUnavailable, "node stopping")
			return
		default:
			// The loop is behind; losing a message is something every
			// protocol survives, blocking the sender is not.
			n.stats.DroppedInbox.Add(1)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveOp runs one client operation, forwarding it to the leader when this
// node does not lead. body is the decoded request body, re-encoded for the
// forwarded request (nil for reads).
func (n *Node) serveOp(w http.ResponseWriter, r *http.Request, req election.Request, body any) {
	res, err := n.do(r.Context(), req)
	if err != nil {
		var ns errNotSubmitted
		if errors.As(err, &ns) {
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: ns.reason, Leader: n.Status().Leader})
			return
		}
		code := http.StatusInternalServerError
		if errors.Is(err, errTimeout) {
			code = http.StatusGatewayTimeout
		}
		writeJSON(w, code, errorBody{Error: err.Error(), Indeterminate: true})
		return
	}
	switch {
	case res.Err == nil:
		switch req.Op {
		case election.OpRead:
			var v *int64
			if res.Exists {
				v = &res.Value
			}
			writeJSON(w, http.StatusOK, valueBody{Value: v})
		default:
			writeJSON(w, http.StatusOK, okBody{OK: true})
		}
	case errors.Is(res.Err, election.ErrNotLeader):
		leader := res.Leader
		if leader != "" && leader != n.id && r.Header.Get(forwardedHeader) == "" {
			if addr, ok := n.addrs[leader]; ok {
				n.forwardTo(w, r, leader, addr, body)
				return
			}
		}
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "not leader", Leader: leader})
	case errors.Is(res.Err, election.ErrCASMismatch):
		writeJSON(w, http.StatusPreconditionFailed, errorBody{Error: res.Err.Error()})
	default:
		// ErrLostLeadership and anything unforeseen: the write may or may
		// not take effect, and 503 would wrongly promise it did not.
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: res.Err.Error(), Indeterminate: true})
	}
}

// forwardTo sends the request to the leader once and relays its answer.
func (n *Node) forwardTo(w http.ResponseWriter, r *http.Request, leader, addr string, body any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	freq, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+r.URL.EscapedPath(), rd)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "not leader", Leader: leader})
		return
	}
	freq.Header.Set(forwardedHeader, n.id)
	if body != nil {
		freq.Header.Set("Content-Type", "application/json")
	}
	resp, err := n.forward.Do(freq)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			// Never connected, so the leader never saw it: definitely not
			// applied, which is what 503 promises.
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "not leader", Leader: leader})
			return
		}
		writeJSON(w, http.StatusGatewayTimeout, errorBody{
			Error:         fmt.Sprintf("forwarding to leader %s failed: %v; outcome unknown", leader, err),
			Indeterminate: true,
		})
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxClientBody))
	if err != nil {
		writeJSON(w, http.StatusGatewayTimeout, errorBody{
			Error:         fmt.Sprintf("reading the answer of leader %s failed: %v; outcome unknown", leader, err),
			Indeterminate: true,
		})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Electd-Served-By", leader)
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

type errorBody struct {
	Error         string `json:"error"`
	Leader        string `json:"leader,omitempty"`
	Indeterminate bool   `json:"indeterminate,omitempty"`
}

// notLeaderBody keeps "leader" present (possibly "") on 503 answers, as
// the contract shows it.
func (e errorBody) MarshalJSON() ([]byte, error) {
	m := map[string]any{"error": e.Error}
	if e.Leader != "" || e.Error == "not leader" {
		m["leader"] = e.Leader
	}
	if e.Indeterminate {
		m["indeterminate"] = true
	}
	return json.Marshal(m)
}

type valueBody struct {
	Value *int64 `json:"value"`
}

type okBody struct {
	OK bool `json:"ok"`
}

func keyOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.PathValue("key")
	if key == "" || len(key) > MaxKeyLen {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("key must be 1 to %d bytes", MaxKeyLen))
		return "", false
	}
	return key, true
}

// decodeBody reads one JSON object into dst, strictly: unknown fields,
// trailing data, wrong types and oversized bodies are all 400 (413 for
// size), each with a message that says which.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxClientBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		bodyError(w, err)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			bodyError(w, err)
			return false
		}
		writeError(w, http.StatusBadRequest, "malformed JSON body: trailing data after the object")
		return false
	}
	return true
}

func bodyError(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", mbe.Limit))
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "empty body: a JSON object is required")
	default:
		writeError(w, http.StatusBadRequest, "malformed JSON body: "+err.Error())
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"internal: cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
