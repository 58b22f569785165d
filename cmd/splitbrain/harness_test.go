package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/rundir"
)

// The harness's own faults: killed mid-run, the engine gone mid-run, the
// store's disk full. Each runs the built binary, as a user would.

// needEngine skips a Docker test when -short or no engine answers.
func needEngine(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the Docker test")
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := clusters.Ping(ctx); err != nil {
		t.Skipf("no Docker engine answers: %v", err)
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// binary builds splitbrain once for the package's tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "splitbrain-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "splitbrain")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	require.NoError(t, buildErr)
	return builtBin
}

// exitCode runs bin with args to the end: its exit code and output.
func exitCode(t *testing.T, env []string, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("%s %v: %v\n%s", bin, args, err, out.String())
	return -1, ""
}

// waitFile polls path until cond holds for its content (true) or the
// deadline passes (false).
func waitFile(path string, within time.Duration, cond func(b []byte) bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && cond(b) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// leftOver counts the containers and networks of run id on the engine.
func leftOver(t *testing.T, id string) int {
	t.Helper()
	cli, err := clusters.Docker()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := make(client.Filters).Add("label", clusters.LabelRun+"="+id)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	require.NoError(t, err)
	return len(cs.Items) + len(ns.Items)
}

// faultUnderWay: the history has a partition begun and not yet healed.
func faultUnderWay(b []byte) bool {
	s := string(b)
	return strings.Count(s, `"f":"start-partition"`) > strings.Count(s, `"f":"stop-partition"`)
}

// TestHarnessKilled: splitbrain run SIGKILLed in the middle of a fault
// leaves its ensemble running and a history without an end; splitbrain
// clean DIR removes the ensemble, and splitbrain check DIR judges what was
// recorded without calling the faithful build invalid.
func TestHarnessKilled(t *testing.T) {
	needEngine(t)
	bin := binary(t)
	store := t.TempDir()
	dir := filepath.Join(store, "killed")
	cmd := exec.Command(bin, "run", "--nodes", "3", "--nemesis", "partition", "--time-limit", "60s", "--nemesis-interval", "2s",
		"--concurrency", "6", "--seed", "3", "--store", store, "--name", "killed")
	cmd.Env = append(os.Environ(), "TESTCONTAINERS_RYUK_DISABLED=true")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if st, err := rundir.ReadSettings(dir); err == nil && st.Ensemble != "" {
			_, _ = clusters.CleanRun(context.Background(), st.Ensemble)
		}
	})
	if !waitFile(filepath.Join(dir, rundir.HistoryFile), 3*time.Minute, faultUnderWay) {
		t.Fatalf("no partition under way within 3 minutes:\n%s", out.String())
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no heal, no teardown, no judge
	_ = cmd.Wait()
	killed = true

	st, err := rundir.ReadSettings(dir)
	require.NoError(t, err)
	require.NotEmpty(t, st.Ensemble)
	assert.Equal(t, 4, leftOver(t, st.Ensemble), "three nodes and the network are left behind")
	assert.NoFileExists(t, filepath.Join(dir, rundir.ResultsFile), "nothing judged it")

	code, text := exitCode(t, nil, bin, "clean", dir)
	require.Equal(t, 0, code, text)
	assert.Contains(t, text, "removed 4 containers and networks")
	assert.Zero(t, leftOver(t, st.Ensemble))

	code, text = exitCode(t, nil, bin, "check", dir)
	t.Logf("check of the killed run:\n%s", text)
	assert.Contains(t, []int{exitValid, exitUnknown}, code, "a faithful build cut short is valid or unknown, never invalid, and check can read it")
	assert.FileExists(t, filepath.Join(dir, rundir.ResultsFile))
	assert.Contains(t, text, "verdict: ")
}

// engineProxy stands between a harness and the real engine: a unix socket
// passing every connection through, until Stop closes it and every
// connection, as an engine that stops does.
type engineProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// realEngine is the engine's unix socket.
func realEngine() string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	return "/var/run/docker.sock"
}

func startProxy(t *testing.T) (*engineProxy, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "engine.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	p := &engineProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", realEngine())
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.Stop)
	return p, "unix://" + path
}

// Stop closes the socket and every connection through it.
func (p *engineProxy) Stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestEngineGoneMidRun: the engine stops answering while a run is under
// way: the run exits 3 and says why.
func TestEngineGoneMidRun(t *testing.T) {
	needEngine(t)
	bin := binary(t)
	proxy, host := startProxy(t)
	store := t.TempDir()
	dir := filepath.Join(store, "gone")
	cmd := exec.Command(bin, "run", "--nodes", "3", "--nemesis", "partition", "--time-limit", "20s", "--nemesis-interval", "2s",
		"--concurrency", "6", "--seed", "3", "--store", store, "--name", "gone")
	cmd.Env = append(os.Environ(), "TESTCONTAINERS_RYUK_DISABLED=true", "DOCKER_HOST="+host)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if st, err := rundir.ReadSettings(dir); err == nil && st.Ensemble != "" {
			_, _ = clusters.CleanRun(context.Background(), st.Ensemble)
		}
	})
	if !waitFile(filepath.Join(dir, rundir.HistoryFile), 3*time.Minute, faultUnderWay) {
		t.Fatalf("no partition under way within 3 minutes:\n%s", out.String())
	}
	proxy.Stop()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(4 * time.Minute):
		t.Fatalf("the run did not end within 4 minutes of the engine going:\n%s", out.String())
	}
	t.Logf("the run's output:\n%s", out.String())
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitCannotRun, ee.ExitCode(), "a run whose engine went away is not a run to take as done")
	assert.Contains(t, out.String(), "the Docker engine failed at the end")
	assert.Contains(t, out.String(), "splitbrain clean "+dir)
	assert.FileExists(t, filepath.Join(dir, rundir.ResultsFile), "what was recorded is still judged and stored")

	// Once the engine answers again, clean DIR removes what is left.
	st, err := rundir.ReadSettings(dir)
	require.NoError(t, err)
	code, text := exitCode(t, nil, bin, "clean", dir)
	require.Equal(t, 0, code, text)
	assert.Zero(t, leftOver(t, st.Ensemble))
}

// TestStoreDiskFull: the store's disk fills up mid-run (a 256 KiB tmpfs):
// the run exits 3 naming the file and the reason, the ensemble is removed,
// run.json and schedule.json stay whole, no temporary file is left, and the
// history it kept is judged (its cut-off last line dropped with a warning).
func TestStoreDiskFull(t *testing.T) {
	needEngine(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs for the store needs root; skipping the full-disk test")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v); skipping the full-disk test", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, 0) })
	bin := binary(t)
	store := filepath.Join(mnt, "store")
	dir := filepath.Join(store, "full")
	code, out := exitCode(t, []string{"TESTCONTAINERS_RYUK_DISABLED=true"}, bin, "run", "--nodes", "3", "--nemesis", "partition",
		"--time-limit", "20s", "--nemesis-interval", "2s", "--concurrency", "6", "--seed", "3", "--store", store, "--name", "full")
	t.Logf("the run's output (the end):\n%s", tail(out, 1200))
	assert.Equal(t, exitCannotRun, code)
	assert.Contains(t, out, "run: recording the history: ")
	assert.Contains(t, out, "no space left on device")

	st, err := rundir.ReadSettings(dir)
	require.NoError(t, err, "run.json is whole")
	_, err = os.ReadFile(filepath.Join(dir, rundir.ScheduleFile))
	require.NoError(t, err)
	assert.Zero(t, leftOver(t, st.Ensemble), "the ensemble was removed")
	require.NoError(t, filepath.WalkDir(store, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".") {
			t.Errorf("a temporary file is left: %s", path)
		}
		return err
	}))

	// Judged elsewhere, as the user would once there is room.
	copyDir := filepath.Join(t.TempDir(), "full")
	require.NoError(t, os.CopyFS(copyDir, os.DirFS(dir)))
	code, text := exitCode(t, nil, bin, "check", copyDir)
	t.Logf("check:\n%s", text)
	assert.Contains(t, []int{exitValid, exitUnknown}, code, "what was kept is judged, and a faithful build is not invalid")
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
