//go:build linux

package nodeagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

// ErrState is returned for a request the server's state doesn't allow
// (pausing a server that doesn't run, ...).
var ErrState = errors.New("server state doesn't allow it")

// maxLine caps a stdout line; the rest of a longer line is dropped.
const maxLine = 1 << 20

// Supervisor runs the server as a child in its own process group.
type Supervisor struct {
	Argv []string
	Env  []string // nil: the agent's environment
	Dir  string
	// Stdout gets every stdout line of the server, unchanged (the
	// container's log); nil discards.
	Stdout io.Writer
	// Stderr is the server's stderr; nil means the agent's.
	Stderr *os.File
	// OnLine is called for every stdout line with the time it was read.
	// It is called from one goroutine per server process, in order.
	OnLine func(line []byte, at time.Time)
	// OnState is called after a start, an exit, a pause and a resume, with
	// the health after the change and the agent event kind.
	OnState func(kind string, h agentapi.Health)

	mu       sync.Mutex
	state    string
	pid      int
	starts   int
	exitCode *int
	signal   string
	exited   chan struct{} // closed when the current process has exited
}

// Health reports the server's state (the Node, Drops, Clock and Events
// fields are left to the caller).
func (s *Supervisor) Health() agentapi.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthLocked()
}

func (s *Supervisor) healthLocked() agentapi.Health {
	st := s.state
	if st == "" {
		st = agentapi.StateIdle
	}
	h := agentapi.Health{Server: st, Starts: s.starts, ExitCode: s.exitCode, Signal: s.signal}
	if st == agentapi.StateRunning || st == agentapi.StatePaused {
		h.PID = s.pid
	}
	return h
}

// Start starts the server unless it runs (or is paused).
func (s *Supervisor) Start() (agentapi.Health, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == agentapi.StateRunning || s.state == agentapi.StatePaused {
		return s.healthLocked(), nil
	}
	if len(s.Argv) == 0 {
		return s.healthLocked(), fmt.Errorf("start: no server command: %w", ErrState)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return s.healthLocked(), fmt.Errorf("start: %w", err)
	}
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Env = s.Env
	cmd.Dir = s.Dir
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	if s.Stderr != nil { // (not a typed nil in the interface: the child would get no fd 2)
		cmd.Stderr = s.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return s.healthLocked(), fmt.Errorf("start %s: %w", s.Argv[0], err)
	}
	s.state = agentapi.StateRunning
	s.pid = cmd.Process.Pid
	s.starts++
	exited := make(chan struct{})
	s.exited = exited
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s.readLines(r)
	}()
	go s.wait(cmd, exited, readDone)
	h := s.healthLocked()
	if s.OnState != nil {
		s.OnState(agentapi.EventStart, h)
	}
	return h, nil
}

func (s *Supervisor) readLines(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(chunk) > 0 && len(buf) < maxLine {
			buf = append(buf, chunk[:min(len(chunk), maxLine-len(buf))]...)
		}
		if err != nil {
			if len(buf) > 0 {
				s.line(buf, time.Now())
			}
			return
		}
		if isPrefix {
			continue
		}
		s.line(buf, time.Now())
		buf = buf[:0]
	}
}

func (s *Supervisor) line(b []byte, at time.Time) {
	if s.Stdout != nil {
		s.Stdout.Write(append(b, '\n'))
	}
	if s.OnLine != nil {
		s.OnLine(b, at)
	}
}

func (s *Supervisor) wait(cmd *exec.Cmd, exited, readDone chan struct{}) {
	err := cmd.Wait()
	// Let the reader take what the server wrote before it died, but don't
	// wait for grandchildren that keep the pipe open.
	select {
	case <-readDone:
	case <-time.After(200 * time.Millisecond):
	}
	s.mu.Lock()
	code, sig := -1, ""
	var ee *exec.ExitError
	if errors.As(err, &ee) || err == nil {
		ps := cmd.ProcessState
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal().String()
		} else {
			code = ps.ExitCode()
		}
	}
	s.exitCode, s.signal = &code, sig
	s.state = agentapi.StateExited
	h := s.healthLocked()
	close(exited)
	s.mu.Unlock()
	if s.OnState != nil {
		s.OnState(agentapi.EventExit, h)
	}
}

// Kill SIGKILLs the server's process group and waits for the server to exit.
// Killing a server that doesn't run is not an error.
func (s *Supervisor) Kill(ctx context.Context) (agentapi.Health, error) {
	s.mu.Lock()
	if s.state != agentapi.StateRunning && s.state != agentapi.StatePaused {
		defer s.mu.Unlock()
		return s.healthLocked(), nil
	}
	pid, exited := s.pid, s.exited
	err := syscall.Kill(-pid, syscall.SIGKILL)
	s.mu.Unlock()
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return s.Health(), fmt.Errorf("kill %d: %w", pid, err)
	}
	select {
	case <-exited:
		return s.Health(), nil
	case <-ctx.Done():
		return s.Health(), fmt.Errorf("kill %d: waiting for the exit: %w", pid, ctx.Err())
	}
}

// Pause SIGSTOPs the server's process group.
func (s *Supervisor) Pause() (agentapi.Health, error) {
	return s.signalGroup(syscall.SIGSTOP, agentapi.StatePaused, agentapi.EventPause)
}

// Resume SIGCONTs the server's process group.
func (s *Supervisor) Resume() (agentapi.Health, error) {
	return s.signalGroup(syscall.SIGCONT, agentapi.StateRunning, agentapi.EventResume)
}

func (s *Supervisor) signalGroup(sig syscall.Signal, to, kind string) (agentapi.Health, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == to {
		return s.healthLocked(), nil
	}
	if s.state != agentapi.StateRunning && s.state != agentapi.StatePaused {
		return s.healthLocked(), fmt.Errorf("%s: server is %s: %w", kind, s.healthLocked().Server, ErrState)
	}
	if err := syscall.Kill(-s.pid, sig); err != nil {
		return s.healthLocked(), fmt.Errorf("%s %d: %w", kind, s.pid, err)
	}
	if sig == syscall.SIGSTOP {
		// The stop is asynchronous; return once the server is frozen.
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if st := procState(s.pid); st == "T" || st == "t" || st == "" {
				break
			}
		}
	}
	s.state = to
	h := s.healthLocked()
	if s.OnState != nil {
		s.OnState(kind, h)
	}
	return h, nil
}

// Running reports whether the server process exists (running or paused).
func (s *Supervisor) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == agentapi.StateRunning || s.state == agentapi.StatePaused
}

// procState is the state letter of pid in /proc ("" when unknown).
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	st := string(b)
	if i := strings.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) {
		return st[i+2 : i+3]
	}
	return ""
}
