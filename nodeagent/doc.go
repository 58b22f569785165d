// Package nodeagent is the node agent: PID 1 of every node container.
//
// It starts the system's server as its child (in its own process group) and
// restarts it on request, stamps every stdout line of the server with the
// host's clock (containers share the host's clock, so that is the true time)
// and keeps the JSON event lines among them as events, applies packet drops
// with nftables and netem with netlink (both need CAP_NET_ADMIN), forwards
// clock skews to systems that accept them, and serves all of that to the
// harness over HTTP (see package agentapi for the API).
//
// The agent only runs on Linux.
package nodeagent
