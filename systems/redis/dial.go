package redis

import (
	"time"

	"github.com/splitbrain/splitbrain/workloads"
)

// The method set of workloads.Conn.
var _ workloads.Conn = (*Client)(nil)

// Dial returns a workloads.Dial for the nodes of one cluster: each call
// makes a Client that sends to that one node first (following
// redirections), with opts (its Timeout set by the caller's), all sharing
// one Book (opts.Book, or a new one), which learns each dialed node's
// address.
func Dial(opts ClientOptions) workloads.Dial {
	if opts.Book == nil {
		opts.Book = NewBook()
	}
	return func(ep workloads.Endpoint, timeout time.Duration) (workloads.Conn, error) {
		o := opts
		o.Timeout = timeout
		c, err := NewClient(ep.Node, ep.Addr, o)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}
