package workloads

import (
	"context"
	"time"
)

// Conn is one client's connection to one node of the system under test:
// the register's operations and the node's status. Every call returns
// within the timeout it was dialed with, and whatever the node does comes
// back as an Outcome or an error, never a panic. Client (the node
// contract) is one; systems with a protocol of their own bring theirs
// (systems/zookeeper, systems/etcd).
type Conn interface {
	Read(ctx context.Context, key string) Outcome
	Write(ctx context.Context, key string, v int64) Outcome
	CAS(ctx context.Context, key string, from, to int64) Outcome
	// Status is the node's view of who leads; an unanswered or garbled
	// poll is an error.
	Status(ctx context.Context) (Status, error)
	// Close drops the connection.
	Close()
}

// Dial makes a Conn to the node at ep, with timeout bounding each call.
// It does not wait for the node: a connection is made on first use.
type Dial func(ep Endpoint, timeout time.Duration) (Conn, error)

// DialContract dials a node that speaks the node contract over HTTP.
func DialContract(ep Endpoint, timeout time.Duration) (Conn, error) {
	return NewClient(ep.Node, "http://"+ep.Addr, timeout), nil
}
