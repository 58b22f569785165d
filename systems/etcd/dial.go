package etcd

import (
	"time"

	"github.com/splitbrain/splitbrain/workloads"
)

// The method set of workloads.Conn.
var _ workloads.Conn = (*Client)(nil)

// Dial returns a workloads.Dial for the members of one ensemble: each call
// makes a Client pinned to that one member, with opts (its Timeout set by
// the caller's), all sharing one Members book (opts.Members, or a new one).
func Dial(opts ClientOptions) workloads.Dial {
	if opts.Members == nil {
		opts.Members = NewMembers()
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
