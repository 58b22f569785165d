package zookeeper

import (
	"time"

	"github.com/splitbrain/splitbrain/workloads"
)

var _ workloads.Conn = (*Client)(nil)

// Dial returns a workloads.Dial for the servers of one ensemble: each call
// makes a Client pinned to that one server, with opts (its Timeout set by
// the caller's), all sharing one Epochs book (opts.Epochs, or a new one).
func Dial(opts ClientOptions) workloads.Dial {
	if opts.Epochs == nil {
		opts.Epochs = NewEpochs()
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
