//go:build linux

package nodeagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

// Config describes one agent.
type Config struct {
	Node string   // node id, e.g. "n1"
	Argv []string // the server's command
	Env  []string // the server's environment; nil: the agent's
	// ClockURL is where the server accepts the node contract's POST /clock
	// (e.g. "http://127.0.0.1:7101/clock"); empty: no clock faults.
	ClockURL string
	// ClockFile, when ClockURL is empty, is where skews are written for a
	// clock shim in the server: one line "<at_unix_ns> <offset_ns> <rate>".
	ClockFile string
	// Stdout receives the server's stdout lines (the container log); nil
	// discards them.
	Stdout io.Writer
	// Net applies drops; nil: drops are refused as unsupported.
	Net Netfilter
	// Netem applies delay and loss; nil: refused as unsupported.
	Netem func(agentapi.Netem) error
	// ProbeNetem says whether Netem can work (nil error) or why not; nil
	// means it can when Netem is set.
	ProbeNetem func() error
}

// Agent supervises one server and serves the control API.
type Agent struct {
	cfg  Config
	sup  *Supervisor
	log  *EventLog
	http *http.Client

	mu          sync.Mutex
	drops       agentapi.Drops
	clock       *agentapi.Clock // last skew asked for
	clockLive   bool            // the running server has it
	clockCancel context.CancelFunc

	capsOnce sync.Once
	caps     agentapi.Capabilities
}

// Capabilities probes (once) which faults this node can have.
func (a *Agent) Capabilities() agentapi.Capabilities {
	a.capsOnce.Do(func() {
		k := agentapi.Capabilities{Clock: a.cfg.ClockURL != "" || a.cfg.ClockFile != ""}
		if a.cfg.Net == nil {
			k.DropsReason = "no netfilter in this agent"
		} else if err := a.cfg.Net.Probe(); err != nil {
			k.DropsReason = err.Error()
		} else {
			k.Drops, k.Loss = true, true
		}
		switch {
		case a.cfg.Netem == nil:
			k.NetemReason = "no netem in this agent"
		case a.cfg.ProbeNetem != nil:
			if err := a.cfg.ProbeNetem(); err != nil {
				k.NetemReason = err.Error()
			} else {
				k.Netem = true
			}
		default:
			k.Netem = true
		}
		a.caps = k
	})
	return a.caps
}

// New returns an agent; its server is not started yet.
func New(cfg Config) *Agent {
	a := &Agent{
		cfg:   cfg,
		log:   NewEventLog(cfg.Node),
		http:  &http.Client{Timeout: 5 * time.Second},
		drops: agentapi.Drops{In: []string{}, Out: []string{}},
	}
	a.sup = &Supervisor{
		Argv:    cfg.Argv,
		Env:     cfg.Env,
		Stdout:  cfg.Stdout,
		OnLine:  a.onLine,
		OnState: a.onState,
	}
	return a
}

// Events is the agent's event log.
func (a *Agent) Events() *EventLog { return a.log }

// Start starts the server.
func (a *Agent) Start() (agentapi.Health, error) {
	if _, err := a.sup.Start(); err != nil {
		return a.Health(), err
	}
	return a.Health(), nil
}

// Stop kills the server (for the agent's own shutdown).
func (a *Agent) Stop(ctx context.Context) error {
	_, err := a.sup.Kill(ctx)
	return err
}

// Health is the agent's full view.
func (a *Agent) Health() agentapi.Health {
	h := a.sup.Health()
	h.Node = a.cfg.Node
	h.Events = a.log.Len()
	a.mu.Lock()
	h.Drops = a.drops
	if a.clock != nil && a.clockLive {
		c := *a.clock
		h.Clock = &c
	}
	a.mu.Unlock()
	return h
}

func (a *Agent) skew() Skew {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.clock == nil || !a.clockLive {
		return Skew{}
	}
	return SkewOf(*a.clock)
}

func (a *Agent) onLine(line []byte, at time.Time) {
	if ev, ok := ParseLine(line, at, a.skew()); ok {
		a.log.Add(ev)
	}
}

// agentEvent keeps something the agent did as an event.
func (a *Agent) agentEvent(kind string, detail any) {
	b, _ := json.Marshal(detail)
	a.log.Add(agentapi.Event{Time: time.Now(), Source: agentapi.SourceAgent, Event: kind, Line: b})
}

// onState runs under the supervisor's lock: no calls back into it.
func (a *Agent) onState(kind string, h agentapi.Health) {
	h.Node = a.cfg.Node
	a.agentEvent(kind, h)
	switch kind {
	case agentapi.EventStart:
		if a.cfg.ClockURL == "" {
			return // a clock file outlives the server
		}
		// A new process starts with the true clock; the machine's skew is
		// applied again as soon as the server answers.
		a.mu.Lock()
		a.clockLive = false
		if a.clockCancel != nil {
			a.clockCancel()
			a.clockCancel = nil
		}
		if a.clock != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			a.clockCancel = cancel
			k := *a.clock
			go a.reapplyClock(ctx, k)
		}
		a.mu.Unlock()
	case agentapi.EventExit:
		if a.cfg.ClockURL == "" {
			return
		}
		a.mu.Lock()
		a.clockLive = false
		a.mu.Unlock()
	}
}

func (a *Agent) reapplyClock(ctx context.Context, k agentapi.Clock) {
	for ctx.Err() == nil {
		if _, err := a.applyClock(ctx, k); err == nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// applyClock sends the skew to the server and records it.
func (a *Agent) applyClock(ctx context.Context, k agentapi.Clock) (agentapi.Clock, error) {
	if a.cfg.ClockURL == "" && a.cfg.ClockFile != "" {
		return a.writeClockFile(k)
	}
	if a.cfg.ClockURL == "" {
		return k, &apiError{http.StatusNotImplemented, "this system has no clock control", true}
	}
	if !a.sup.Running() {
		return k, &apiError{http.StatusConflict, "the server doesn't run", false}
	}
	body, _ := json.Marshal(map[string]any{"offset_ms": k.OffsetMS, "rate": k.Rate})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.ClockURL, bytes.NewReader(body))
	if err != nil {
		return k, err
	}
	req.Header.Set("Content-Type", "application/json")
	// The server may print lines on its new clock before it answers (a
	// lease taken right away), so the skew counts from just before the
	// request; on failure the old one comes back.
	k.At = time.Now()
	a.mu.Lock()
	oldClock, oldLive := a.clock, a.clockLive
	a.clock, a.clockLive = &k, true
	a.mu.Unlock()
	fail := func(err error) (agentapi.Clock, error) {
		a.mu.Lock()
		a.clock, a.clockLive = oldClock, oldLive
		a.mu.Unlock()
		return k, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fail(&apiError{http.StatusBadGateway, "server clock: " + err.Error(), false})
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fail(&apiError{http.StatusBadGateway, fmt.Sprintf("server clock: %d %s", resp.StatusCode, bytes.TrimSpace(b)), false})
	}
	a.agentEvent(agentapi.EventClock, k)
	return k, nil
}

// writeClockFile replaces the clock file atomically and records the skew.
func (a *Agent) writeClockFile(k agentapi.Clock) (agentapi.Clock, error) {
	k.At = time.Now()
	line := fmt.Sprintf("%d %d %s\n", k.At.UnixNano(), k.OffsetMS*int64(time.Millisecond), strconv.FormatFloat(k.Rate, 'g', -1, 64))
	tmp := a.cfg.ClockFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		return k, fmt.Errorf("clock file: %w", err)
	}
	if err := os.Rename(tmp, a.cfg.ClockFile); err != nil {
		return k, fmt.Errorf("clock file: %w", err)
	}
	a.mu.Lock()
	a.clock, a.clockLive = &k, true
	a.mu.Unlock()
	a.agentEvent(agentapi.EventClock, k)
	return k, nil
}

type apiError struct {
	code        int
	msg         string
	unsupported bool
}

func (e *apiError) Error() string { return e.msg }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func isUnsupported(err error) bool {
	var ae *apiError
	return errors.Is(err, errors.ErrUnsupported) || (errors.As(err, &ae) && ae.unsupported)
}

func writeErr(w http.ResponseWriter, err error) {
	code, unsupported := http.StatusInternalServerError, false
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		code, unsupported = ae.code, ae.unsupported
	case errors.Is(err, ErrState):
		code = http.StatusConflict
	case errors.Is(err, errors.ErrUnsupported):
		code, unsupported = http.StatusNotImplemented, true
	}
	writeJSON(w, code, agentapi.Error{Error: err.Error(), Unsupported: unsupported})
}

// Handler serves the control API (see package agentapi).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Health())
	})
	mux.HandleFunc("GET /capabilities", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Capabilities())
	})
	server := func(f func(ctx context.Context) (agentapi.Health, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if _, err := f(r.Context()); err != nil {
				writeErr(w, err)
				return
			}
			writeJSON(w, http.StatusOK, a.Health())
		}
	}
	mux.HandleFunc("POST /server/start", server(func(context.Context) (agentapi.Health, error) { return a.sup.Start() }))
	mux.HandleFunc("POST /server/kill", server(a.sup.Kill))
	mux.HandleFunc("POST /server/pause", server(func(context.Context) (agentapi.Health, error) { return a.sup.Pause() }))
	mux.HandleFunc("POST /server/resume", server(func(context.Context) (agentapi.Health, error) { return a.sup.Resume() }))
	mux.HandleFunc("PUT /net/drops", a.handleDrops)
	mux.HandleFunc("POST /net/netem", a.handleNetem)
	mux.HandleFunc("POST /clock", a.handleClock)
	mux.HandleFunc("GET /events", a.handleEvents)
	return mux
}

func decode(r *http.Request, v any) error {
	d := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, "bad request body: " + err.Error(), false}
	}
	return nil
}

func parseAddrs(ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is4() {
			return nil, &apiError{http.StatusBadRequest, fmt.Sprintf("not an IPv4 address: %q", s), false}
		}
		out = append(out, ip)
	}
	return out, nil
}

func (a *Agent) handleDrops(w http.ResponseWriter, r *http.Request) {
	var d agentapi.Drops
	if err := decode(r, &d); err != nil {
		writeErr(w, err)
		return
	}
	in, err := parseAddrs(d.In)
	if err != nil {
		writeErr(w, err)
		return
	}
	out, err := parseAddrs(d.Out)
	if err != nil {
		writeErr(w, err)
		return
	}
	if a.cfg.Net == nil {
		writeErr(w, &apiError{http.StatusNotImplemented, "no netfilter in this agent", true})
		return
	}
	if d.In == nil {
		d.In = []string{}
	}
	if d.Out == nil {
		d.Out = []string{}
	}
	a.mu.Lock() // serialise replacements so the recorded rules match the kernel's
	defer a.mu.Unlock()
	if err := a.cfg.Net.SetDrops(in, out); err != nil {
		writeErr(w, err)
		return
	}
	a.drops = d
	b, _ := json.Marshal(d)
	a.log.Add(agentapi.Event{Time: time.Now(), Source: agentapi.SourceAgent, Event: agentapi.EventDrops, Line: b})
	writeJSON(w, http.StatusOK, d)
}

func (a *Agent) handleNetem(w http.ResponseWriter, r *http.Request) {
	var n agentapi.Netem
	if err := decode(r, &n); err != nil {
		writeErr(w, err)
		return
	}
	if n.DelayMS < 0 || n.JitterMS < 0 || n.Loss < 0 || n.Loss > 1 {
		writeErr(w, &apiError{http.StatusBadRequest, "delay and jitter must be >= 0, loss in [0,1]", false})
		return
	}
	var err error = &apiError{http.StatusNotImplemented, "no netem in this agent", true}
	if a.cfg.Netem != nil {
		err = a.cfg.Netem(n)
	}
	lossOnly := n.DelayMS == 0 && n.JitterMS == 0
	if lossOnly && a.cfg.Net != nil && isUnsupported(err) {
		// No netem: loss alone can be had from netfilter.
		err = a.cfg.Net.SetLoss(n.Loss)
	} else if err == nil && a.cfg.Net != nil {
		err = a.cfg.Net.SetLoss(0) // netem took over; drop any fallback loss
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	a.agentEvent(agentapi.EventNetem, n)
	writeJSON(w, http.StatusOK, n)
}

func (a *Agent) handleClock(w http.ResponseWriter, r *http.Request) {
	var k agentapi.Clock
	if err := decode(r, &k); err != nil {
		writeErr(w, err)
		return
	}
	if !(k.Rate >= 0 && k.Rate <= 100) {
		writeErr(w, &apiError{http.StatusBadRequest, "rate must be in [0, 100]", false})
		return
	}
	// A newer skew replaces one still being applied again after a restart.
	a.mu.Lock()
	if a.clockCancel != nil {
		a.clockCancel()
		a.clockCancel = nil
	}
	a.mu.Unlock()
	k, err := a.applyClock(r.Context(), k)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (a *Agent) handleEvents(w http.ResponseWriter, r *http.Request) {
	from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	follow := r.URL.Query().Get("follow") == "1"
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	keepAlive := time.NewTicker(5 * time.Second)
	defer keepAlive.Stop()
	for {
		evs, added := a.log.Since(from)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return
			}
			from = ev.Seq + 1
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !follow {
			return
		}
		select {
		case <-added:
		case <-keepAlive.C:
			if _, err := w.Write([]byte("\n")); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}
