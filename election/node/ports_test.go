package node

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// ListenRestartable listens on a loopback port below the kernel's
// ephemeral range (32768-60999 by default). Tests that stop a node and
// start it again on the same address need this: a port from the ephemeral
// range can meanwhile become the local port of some outgoing connection
// (another node dialing out), and then the restart cannot bind it.
func ListenRestartable(tb testing.TB) net.Listener {
	tb.Helper()
	var err error
	for range 200 {
		var ln net.Listener
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000))))
		if err == nil {
			return ln
		}
	}
	tb.Fatalf("no free loopback port below the ephemeral range: %v", err)
	return nil
}
