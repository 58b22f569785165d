package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/bugs"
)

// TestMain doubles as the electd binary: with ELECTD_TEST_MAIN set the test
// binary runs main, so exit codes are tested on a real process without a
// separate go build.
func TestMain(m *testing.M) {
	if os.Getenv("ELECTD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const okPeers = "n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103"

func okArgs(extra ...string) []string {
	return append([]string{"--id", "n1", "--listen", "127.0.0.1:7101", "--peers", okPeers, "--data", "/tmp/x", "--algo", "raft"}, extra...)
}

func TestLeaseBugSwitchesToLeaseReads(t *testing.T) {
	o, err := parseArgs(okArgs("--bug", "raft.lease-no-drift"))
	require.NoError(t, err)
	assert.True(t, o.leaseReads, "a bug on the lease path must not run with quorum reads, where it cannot show")
	o, err = parseArgs(okArgs("--bug", "raft.lease-no-drift", "--read-mode", "lease"))
	require.NoError(t, err)
	assert.True(t, o.leaseReads)
	o, err = parseArgs(okArgs("--bug", "raft.local-read"))
	require.NoError(t, err)
	assert.False(t, o.leaseReads)
}

func TestParseArgsAcceptsTheDocumentedCommandLine(t *testing.T) {
	o, err := parseArgs(okArgs("--bug", "raft.vote-twice,raft.local-read", "--election-timeout", "500ms", "--heartbeat", "20ms", "--read-mode", "lease"))
	require.NoError(t, err)
	assert.Equal(t, "n1", o.id)
	assert.Equal(t, "127.0.0.1:7101", o.listen)
	require.Len(t, o.peers, 3)
	assert.Equal(t, "n3", o.peers[2].ID, "the order of --peers is kept")
	assert.Equal(t, "127.0.0.1:7103", o.peers[2].Addr)
	assert.Equal(t, []string{"raft.local-read", "raft.vote-twice"}, o.bugList)
	assert.Equal(t, 500*time.Millisecond, o.electionTimeout)
	assert.Equal(t, 20*time.Millisecond, o.heartbeat)
	assert.True(t, o.leaseReads)

	o, err = parseArgs([]string{"--id=n2", "--peers=" + okPeers, "--data=/d", "--algo=zab"})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7102", o.listen, "--listen defaults to the node's own peer address")
	assert.Equal(t, 300*time.Millisecond, o.electionTimeout)
	assert.Equal(t, 50*time.Millisecond, o.heartbeat)
	assert.False(t, o.leaseReads)
	assert.Empty(t, o.bugList)
}

func TestSeedSeedsTheTimeouts(t *testing.T) {
	o, err := parseArgs(okArgs("--seed", "-42"))
	require.NoError(t, err)
	cfg := o.nodeConfig(io.Discard, slog.New(slog.DiscardHandler))
	require.NotNil(t, cfg.Protocol.Rand)
	want := election.NewRand(-42, "n1")
	for range 5 {
		assert.Equal(t, want.Int63n(1e9), cfg.Protocol.Rand.Int63n(1e9), "--seed draws node n1's sequence of that seed")
	}

	o, err = parseArgs(okArgs())
	require.NoError(t, err)
	assert.Nil(t, o.nodeConfig(io.Discard, slog.New(slog.DiscardHandler)).Protocol.Rand, "without --seed the node seeds from the clock")
}

func TestParseArgsRejectsBadInputNamingTheFlag(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", okArgs("--frobnicate"), "-frobnicate"},
		{"positional", okArgs("extra"), `unexpected argument "extra"`},
		{"no algo", []string{"--id", "n1", "--peers", okPeers, "--data", "d"}, "--algo is required"},
		{"bad algo", okArgs("--algo", "paxos"), `--algo "paxos"`},
		{"no id", []string{"--peers", okPeers, "--data", "d", "--algo", "raft"}, "--id is required"},
		{"no peers", []string{"--id", "n1", "--data", "d", "--algo", "raft"}, "--peers is required"},
		{"peer without =", okArgs("--peers", "n1=127.0.0.1:1,n2"), `--peers: "n2" is not id=host:port`},
		{"peer without port", okArgs("--peers", "n1=127.0.0.1"), "--peers: n1=127.0.0.1: not host:port"},
		{"peer bad port", okArgs("--peers", "n1=127.0.0.1:99999"), "--peers: n1=127.0.0.1:99999: port"},
		{"peer empty host", okArgs("--peers", "n1=:7101"), "--peers: n1=:7101: host is empty"},
		{"duplicate id", okArgs("--peers", "n1=a:1,n1=b:2"), `--peers: id "n1" listed twice`},
		{"duplicate addr", okArgs("--peers", "n1=a:1,n2=a:1"), "--peers: address a:1 listed twice"},
		{"bad id chars", okArgs("--peers", "n 1=a:1"), "--peers: id"},
		{"id not in peers", okArgs("--id", "n9"), `--id "n9" is not in --peers`},
		{"bad listen", okArgs("--listen", "nowhere"), `--listen "nowhere"`},
		{"no data", []string{"--id", "n1", "--peers", okPeers, "--algo", "raft"}, "--data is required"},
		{"unknown bug", okArgs("--bug", "raft.nope"), `--bug: unknown bug "raft.nope"`},
		{"bug of the other algo", okArgs("--bug", "zab.no-stepdown"), `--bug: bug "zab.no-stepdown" belongs to --algo zab`},
		{"bad duration", okArgs("--election-timeout", "soon"), "-election-timeout"},
		{"zero timeout", okArgs("--election-timeout", "0s"), "--election-timeout 0s: must be positive"},
		{"negative heartbeat", okArgs("--heartbeat", "-1ms"), "--heartbeat -1ms: must be positive"},
		{"heartbeat too long", okArgs("--heartbeat", "300ms"), "--heartbeat 300ms: must be shorter than --election-timeout"},
		{"bad read mode", okArgs("--read-mode", "dirty"), `--read-mode "dirty"`},
		{"bad seed", okArgs("--seed", "0x1f"), `--seed "0x1f": want an integer`},
		{"lease reads on zab", okArgs("--algo", "zab", "--read-mode", "lease"), "--read-mode lease: only --algo raft"},
		{"lease bug with quorum reads", okArgs("--bug", "raft.lease-no-drift", "--read-mode", "quorum"), "acts only with --read-mode lease"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseArgs(c.args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestListBugsNamesEveryBugWithFaultAndChecker(t *testing.T) {
	var out bytes.Buffer
	assert.Equal(t, exitOK, run([]string{"--list-bugs"}, &out, &out))
	for _, b := range bugs.All {
		line := ""
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, b.Name+" ") {
				line = l
			}
		}
		require.NotEmpty(t, line, b.Name)
		assert.Contains(t, line, b.Fault)
		assert.Contains(t, line, b.Checker)
	}
}

func TestRunExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"--nope"}, &out, &errb))
	assert.Equal(t, "electd: flag provided but not defined: -nope\n", errb.String())
	assert.Empty(t, out.String(), "stdout is for events only")
	out.Reset()
	assert.Equal(t, exitOK, run([]string{"-h"}, &out, &errb))
	assert.Contains(t, out.String(), "--read-mode")
}

// The real process: bad input exits 2 with one line on stderr and no
// panic; a node that cannot start exits 1.
func TestBinaryExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs subprocesses")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	runBin := func(args ...string) (int, string, string) {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), "ELECTD_TEST_MAIN=1")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), so.String(), se.String()
		}
		require.NoError(t, err)
		return 0, so.String(), se.String()
	}
	code, so, se := runBin("--id", "n1", "--peers", "n1=127.0.0.1:7101", "--data", t.TempDir(), "--algo", "raft", "--bug", "zab.no-stepdown")
	assert.Equal(t, 2, code)
	assert.Empty(t, so)
	assert.Equal(t, 1, strings.Count(se, "\n"), "one line: %q", se)
	assert.Contains(t, se, "--bug")
	assert.NotContains(t, se, "panic")

	code, so, _ = runBin("--list-bugs")
	assert.Equal(t, 0, code)
	assert.Contains(t, so, "raft.vote-twice")

	// A data directory that cannot be created: the node fails, exit 1.
	blocker := t.TempDir() + "/file"
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	code, _, se = runBin("--id", "n1", "--peers", "n1=127.0.0.1:7101", "--data", blocker+"/sub", "--algo", "raft")
	assert.Equal(t, 1, code, se)
}

// A one-node ensemble as a real process: it elects itself, prints its
// events as JSON lines on stdout, serves /status, and exits 0 on SIGTERM.
func TestBinarySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a subprocess")
	}
	for _, algo := range []string{"raft", "zab"} {
		t.Run(algo, func(t *testing.T) {
			exe, err := os.Executable()
			require.NoError(t, err)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			ln.Close()
			cmd := exec.Command(exe, "--id", "n1", "--peers", "n1="+addr, "--data", t.TempDir(), "--algo", algo)
			cmd.Env = append(os.Environ(), "ELECTD_TEST_MAIN=1")
			var so, se safeBuffer
			cmd.Stdout, cmd.Stderr = &so, &se
			require.NoError(t, cmd.Start())
			defer cmd.Process.Kill()

			require.Eventually(t, func() bool {
				resp, err := http.Get("http://" + addr + "/status")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				var st map[string]any
				return json.NewDecoder(resp.Body).Decode(&st) == nil && st["role"] == "leader"
			}, 10*time.Second, 20*time.Millisecond, "stderr: %s", se.String())

			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, cmd.Wait(), "exit 0 on SIGTERM; stderr: %s", se.String())
			lines := strings.Split(strings.TrimSpace(so.String()), "\n")
			require.NotEmpty(t, lines)
			for _, l := range lines {
				var ev map[string]any
				require.NoError(t, json.Unmarshal([]byte(l), &ev), "stdout line %q is an event", l)
				assert.NotEmpty(t, ev["event"])
			}
			assert.Contains(t, so.String(), `"role":"leader"`)
			assert.Contains(t, se.String(), "electd starting", "logs go to stderr")
		})
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
