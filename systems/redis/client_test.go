package redis

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/systems/systemtest"
)

func newTestClient(t *testing.T, addr string, timeout time.Duration) *Client {
	t.Helper()
	c, err := NewClient("n1", addr, ClientOptions{Timeout: timeout})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// store is a fake master of every slot: a map with GET, SET and the CAS
// script.
func store() func(c *fakeConn, args []string) string {
	kv := map[string]string{}
	return func(c *fakeConn, args []string) string {
		switch strings.ToUpper(args[0]) {
		case "GET":
			if v, ok := kv[args[1]]; ok {
				return bulk(v)
			}
			return "$-1\r\n"
		case "SET":
			kv[args[1]] = args[2]
			return "+OK\r\n"
		case "EVALSHA":
			return "-NOSCRIPT No matching script. Please use EVAL.\r\n"
		case "EVAL":
			if args[1] != casScript || args[2] != "1" {
				return "-ERR unexpected script\r\n"
			}
			if v, ok := kv[args[3]]; ok && v == args[4] {
				kv[args[3]] = args[5]
				return ":1\r\n"
			}
			return ":0\r\n"
		case "ASKING":
			return "+OK\r\n"
		}
		return "-ERR unknown command\r\n"
	}
}

func TestRegisterOnOneNode(t *testing.T) {
	f := newFake(t, store())
	c := newTestClient(t, f.addr(), time.Second)
	ctx := context.Background()
	systemtest.RequireOutcome(t, history.OK, history.Value{}, c.Read(ctx, "x"), "read of a key never written")
	systemtest.RequireOutcome(t, history.Fail, history.PairValue(1, 2), c.CAS(ctx, "x", 1, 2), "cas of a key never written")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(1), c.Write(ctx, "x", 1), "write")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(1), c.Read(ctx, "x"), "read")
	systemtest.RequireOutcome(t, history.OK, history.PairValue(1, 2), c.CAS(ctx, "x", 1, 2), "cas 1->2")
	systemtest.RequireOutcome(t, history.Fail, history.PairValue(1, 3), c.CAS(ctx, "x", 1, 3), "cas 1->3")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), c.Read(ctx, "x"), "read after the cas")
	var sets int
	for _, cmd := range f.commands() {
		if cmd[0] == "SET" {
			sets++
			assert.Equal(t, []string{"SET", KeyPrefix + "x", "1"}, cmd)
		}
	}
	assert.Equal(t, 1, sets)
	systemtest.RequireOutcome(t, history.Fail, history.IntValue(1), c.Write(ctx, "", 1), "empty key")
}

func TestRedirections(t *testing.T) {
	ctx := context.Background()
	owner := newFake(t, store())
	t.Run("moved", func(t *testing.T) {
		first := newFake(t, func(c *fakeConn, args []string) string {
			return "-MOVED 1234 " + owner.addr() + "\r\n"
		})
		c := newTestClient(t, first.addr(), time.Second)
		systemtest.RequireOutcome(t, history.OK, history.IntValue(7), c.Write(ctx, "m", 7), "write redirected")
		systemtest.RequireOutcome(t, history.OK, history.IntValue(7), c.Read(ctx, "m"), "read redirected")
		systemtest.RequireOutcome(t, history.OK, history.PairValue(7, 8), c.CAS(ctx, "m", 7, 8), "cas redirected")
		assert.Len(t, first.commands(), 3, "each operation went to the client's node first")
	})
	t.Run("ask needs asking", func(t *testing.T) {
		importing := newFake(t, func(c *fakeConn, args []string) string {
			if args[0] == "ASKING" {
				return "+OK\r\n"
			}
			if !c.asking {
				return "-MOVED 1 127.0.0.1:1\r\n" // not ours without ASKING
			}
			return "+OK\r\n"
		})
		first := newFake(t, func(c *fakeConn, args []string) string {
			return "-ASK 99 " + importing.addr() + "\r\n"
		})
		c := newTestClient(t, first.addr(), time.Second)
		systemtest.RequireOutcome(t, history.OK, history.IntValue(3), c.Write(ctx, "a", 3), "write asked")
		cmds := importing.commands()
		require.Len(t, cmds, 2)
		assert.Equal(t, "ASKING", cmds[0][0])
		assert.Equal(t, "SET", cmds[1][0])
	})
	t.Run("same host", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(owner.addr())
		first := newFake(t, func(c *fakeConn, args []string) string {
			return "-MOVED 5 :" + port + "\r\n"
		})
		c := newTestClient(t, first.addr(), time.Second)
		systemtest.RequireOutcome(t, history.OK, history.IntValue(4), c.Write(ctx, "h", 4), "write to the same host")
	})
	t.Run("loop", func(t *testing.T) {
		var self string
		loop := newFake(t, func(c *fakeConn, args []string) string { return "-MOVED 5 " + self + "\r\n" })
		self = loop.addr()
		c := newTestClient(t, loop.addr(), time.Second)
		o := c.Write(ctx, "l", 1)
		assert.Equal(t, history.Fail, o.Type, "%+v", o)
		assert.Contains(t, o.Error, "redirections exhausted")
		assert.Len(t, loop.commands(), DefaultRedirects+1)
		assert.Equal(t, history.Fail, c.Read(ctx, "l").Type)
	})
	t.Run("unknown endpoint", func(t *testing.T) {
		f := newFake(t, func(c *fakeConn, args []string) string { return "-MOVED 5 ?\r\n" })
		o := newTestClient(t, f.addr(), time.Second).Write(ctx, "u", 1)
		assert.Equal(t, history.Fail, o.Type, "%+v", o)
	})
	t.Run("moved then hang", func(t *testing.T) {
		stuck := newFake(t, func(c *fakeConn, args []string) string { return hang })
		first := newFake(t, func(c *fakeConn, args []string) string { return "-MOVED 5 " + stuck.addr() + "\r\n" })
		o := newTestClient(t, first.addr(), 200*time.Millisecond).Write(ctx, "s", 1)
		assert.Equal(t, history.Info, o.Type, "a write sent to the slot's owner, unanswered: %+v", o)
	})
}

// TestOutcomes: what each kind of failure comes to.
func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := closed.Addr().String()
	closed.Close()
	cases := []struct {
		name        string
		reply       string // every command's reply
		addr        string // instead of a fake
		write, read history.Type
	}{
		{"cluster down", "-CLUSTERDOWN The cluster is down\r\n", "", history.Fail, history.Fail},
		{"try again", "-TRYAGAIN Multiple keys request during rehashing of slot\r\n", "", history.Fail, history.Fail},
		{"loading", "-LOADING Redis is loading the dataset in memory\r\n", "", history.Fail, history.Fail},
		{"readonly", "-READONLY You can't write against a read only replica.\r\n", "", history.Fail, history.Fail},
		{"unknown error reply", "-ERR something odd\r\n", "", history.Info, history.Fail},
		{"garbage", "!!! not resp\r\n", "", history.Info, history.Fail},
		{"hang", hang, "", history.Info, history.Fail},
		{"hangup after the send", hangup, "", history.Info, history.Fail},
		{"connection refused", "", refused, history.Fail, history.Fail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr
			if addr == "" {
				addr = newFake(t, func(*fakeConn, []string) string { return tc.reply }).addr()
			}
			c := newTestClient(t, addr, 300*time.Millisecond)
			start := time.Now()
			w := c.Write(ctx, "k", 1)
			assert.Equal(t, tc.write, w.Type, "write: %+v", w)
			assert.NotEmpty(t, w.Error)
			cas := c.CAS(ctx, "k", 1, 2)
			assert.Equal(t, tc.write, cas.Type, "cas: %+v", cas)
			r := c.Read(ctx, "k")
			assert.Equal(t, tc.read, r.Type, "read: %+v", r)
			assert.Less(t, time.Since(start), 3*time.Second, "three calls, each within its timeout")
		})
	}
}

func TestGarbageValues(t *testing.T) {
	ctx := context.Background()
	for _, reply := range []string{bulk("abc"), ":12\r\n", "*1\r\n$1\r\n1\r\n", bulk("99999999999999999999")} {
		f := newFake(t, func(*fakeConn, []string) string { return reply })
		c := newTestClient(t, f.addr(), time.Second)
		o := c.Read(ctx, "g")
		assert.Equal(t, history.Info, o.Type, "read of %q: %+v", reply, o)
		o = c.CAS(ctx, "g", 1, 2)
		assert.Equal(t, history.Info, o.Type, "cas answered %q: %+v", reply, o)
		o = c.Write(ctx, "g", 1)
		assert.Equal(t, history.Info, o.Type, "set answered %q: %+v", reply, o)
	}
}

func TestParseRedirect(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		want redirect
	}{
		{"MOVED 3999 127.0.0.1:6381", true, redirect{slot: 3999, addr: "127.0.0.1:6381"}},
		{"ASK 0 10.0.0.2:6379", true, redirect{ask: true, slot: 0, addr: "10.0.0.2:6379"}},
		{"MOVED 16383 :6380", true, redirect{slot: 16383, addr: ":6380"}},
		{"MOVED 7 ?", true, redirect{slot: 7}},
		{"MOVED 7 ::1:6379", false, redirect{}},
		{"MOVED 7 [::1]:6379", true, redirect{slot: 7, addr: "[::1]:6379"}},
		{"MOVED 16384 1.2.3.4:5", false, redirect{}},
		{"MOVED x 1.2.3.4:5", false, redirect{}},
		{"MOVED 1 1.2.3.4:99999", false, redirect{}},
		{"MOVED 1", false, redirect{}},
		{"ERR MOVED 1 1.2.3.4:5", false, redirect{}},
	}
	for _, tc := range cases {
		r, ok := parseRedirect(replyErr(tc.in))
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, r, tc.in)
	}
	_, ok := parseRedirect(nil)
	assert.False(t, ok)
	_, ok = parseRedirect(context.DeadlineExceeded)
	assert.False(t, ok, "not an error reply")
}

// replyErr is an error reply as go-redis returns it.
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

func FuzzParseRedirect(f *testing.F) {
	for _, s := range []string{"MOVED 3999 127.0.0.1:6381", "ASK 1 :1", "MOVED 1 ?", "MOVED 1 [::1]:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := parseRedirect(replyErr(s))
		if !ok {
			return
		}
		if r.slot < 0 || r.slot >= Slots {
			t.Fatalf("%q: slot %d", s, r.slot)
		}
		if r.addr != "" && !strings.HasPrefix(r.addr, ":") {
			if _, _, err := net.SplitHostPort(r.addr); err != nil {
				t.Fatalf("%q: address %q: %v", s, r.addr, err)
			}
		}
	})
}

func TestNewClientChecks(t *testing.T) {
	_, err := NewClient("n1", "no-port", ClientOptions{})
	assert.Error(t, err)
	_, err = NewClient("node1", "1.2.3.4:6379", ClientOptions{})
	assert.Error(t, err)
	book := NewBook()
	_, err = NewClient("n1", "1.2.3.4:6379", ClientOptions{Book: book})
	require.NoError(t, err)
	_, err = NewClient("n2", "1.2.3.4:6379", ClientOptions{Book: book})
	assert.ErrorContains(t, err, "is n1 and n2", "one address, two nodes")
}
