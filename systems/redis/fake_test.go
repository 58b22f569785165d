package redis

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fake is an in-process server speaking RESP, answering each command
// with what reply returns: a raw RESP reply ("+OK\r\n"), hang (never
// answer), or hangup (close the connection after reading the command).
type fake struct {
	t     testing.TB
	ln    net.Listener
	reply func(c *fakeConn, args []string) string

	mu    sync.Mutex
	seen  [][]string // every command but HELLO, in order
	conns []net.Conn
}

// Special replies.
const (
	hang   = "\x00hang"
	hangup = "\x00hangup"
)

// fakeConn is one client connection's state.
type fakeConn struct {
	asking bool // the previous command was ASKING
}

func newFake(t testing.TB, reply func(c *fakeConn, args []string) string) *fake {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{t: t, ln: ln, reply: reply}
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *fake) addr() string { return f.ln.Addr().String() }

func (f *fake) close() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

func (f *fake) commands() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.seen...)
}

func (f *fake) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		go f.handle(c)
	}
}

func (f *fake) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	st := &fakeConn{}
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		if strings.EqualFold(args[0], "HELLO") {
			// As a server without HELLO: go-redis goes on in RESP2.
			io.WriteString(c, "-ERR unknown command 'HELLO'\r\n")
			continue
		}
		f.mu.Lock()
		f.seen = append(f.seen, args)
		f.mu.Unlock()
		out := f.reply(st, args)
		st.asking = strings.EqualFold(args[0], "ASKING")
		switch out {
		case hang:
			io.Copy(io.Discard, r) // until the client gives up
			return
		case hangup:
			return
		}
		io.WriteString(c, out)
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("array length %q", line)
	}
	args := make([]string, n)
	for i := range args {
		h, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(h, "$")))
		if err != nil {
			return nil, fmt.Errorf("bulk length %q", h)
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:l])
	}
	return args, nil
}

// bulk is a RESP bulk string reply.
func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }
