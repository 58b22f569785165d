package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/workloads"
)

// Book maps Redis node ids to node ids (nN), from the nodes' own answers
// only: a node's "myself" line names its Redis id, asked at the address
// of a known node; another node's line names it by the address it
// announces (cluster-announce-ip), which is matched to the endpoints the
// clients were dialed at. An id that neither names is unknown: an error,
// never a guess. Safe for concurrent use; share one among the clients of
// a cluster.
type Book struct {
	mu   sync.Mutex
	byID map[string]string // Redis id -> node
	byIP map[string]string // announced ip -> node
}

// NewBook returns an empty book.
func NewBook() *Book { return &Book{byID: map[string]string{}, byIP: map[string]string{}} }

// AddEndpoint records that node ep.Node is at ep.Addr's IP.
func (b *Book) AddEndpoint(ep workloads.Endpoint) error {
	host, _, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return fmt.Errorf("endpoint %s: address %q: %w", ep.Node, ep.Addr, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.byIP[host]; ok && old != ep.Node {
		return fmt.Errorf("address %s is %s and %s", host, old, ep.Node)
	}
	b.byIP[host] = ep.Node
	return nil
}

// learn records that Redis id is node; another node already recorded
// for id, or another id for node, is an error (a node restarted without
// its nodes.conf would be a new id for the same node: that is a new
// identity, not the old one, and is refused rather than merged).
func (b *Book) learn(id, node string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.learnLocked(id, node)
}

func (b *Book) learnLocked(id, node string) error {
	if old, ok := b.byID[id]; ok {
		if old != node {
			return fmt.Errorf("redis node %.8s is %s and %s", id, old, node)
		}
		return nil
	}
	for oid, n := range b.byID {
		if n == node {
			return fmt.Errorf("%s is redis node %.8s and %.8s", node, oid, id)
		}
	}
	b.byID[id] = node
	return nil
}

// resolve names Redis node id, as seen in nodes (one node's answer).
func (b *Book) resolve(id string, nodes ClusterNodes) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n, ok := b.byID[id]; ok {
		return n, nil
	}
	line, ok := nodes.ByID(id)
	if !ok {
		return "", fmt.Errorf("redis node %.8s is not in the node's own list", id)
	}
	n, ok := b.byIP[line.IP]
	if !ok || line.IP == "" {
		return "", fmt.Errorf("redis node %.8s at %q is not a node of this ensemble", id, line.IP)
	}
	if err := b.learnLocked(id, n); err != nil {
		return "", err
	}
	return n, nil
}

// Node returns the node id of Redis node id, if known.
func (b *Book) Node(id string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.byID[id]
	return n, ok
}

// Status asks the node for CLUSTER NODES and CLUSTER INFO (one round
// trip; Redis runs both back to back, so they describe one moment) and
// turns them into the node contract's status (see ToStatus).
func (c *Client) Status(ctx context.Context) (workloads.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rdb, err := c.conn(c.Addr)
	if err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %w", c.Node, err)
	}
	pipe := rdb.Pipeline()
	nodesCmd := pipe.ClusterNodes(ctx)
	infoCmd := pipe.ClusterInfo(ctx)
	pipe.Exec(ctx)
	if err := errors.Join(nodesCmd.Err(), infoCmd.Err()); err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %s", c.Node, describe(err))
	}
	nodes, err := ParseClusterNodes(nodesCmd.Val())
	if err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %w", c.Node, err)
	}
	info, err := ParseClusterInfo(infoCmd.Val())
	if err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %w", c.Node, err)
	}
	host, _, _ := net.SplitHostPort(c.Addr)
	st, err := ToStatus(c.Node, host, nodes, info, c.book)
	if err != nil {
		return workloads.Status{}, fmt.Errorf("status of %s: %w", c.Node, err)
	}
	return st, nil
}

// ToStatus turns node's answers (asked at ip) into the node contract's
// status:
//
//   - a master serving slots: leader of the group of those slots (Group,
//     canonical: "0-5460"), in its config epoch (Term);
//   - a replica: follower of its master (Leader), in the group of the
//     slots that master serves and the master's config epoch, both as the
//     replica sees them. A replica whose master is not known yet, or
//     whose master it sees serving no slots (after a failover, before the
//     replica moves to the new master), reports that: no leader or no
//     group;
//   - a master serving no slots (before Create gives it some, or after
//     its slots went elsewhere) leads nothing: follower of no one, in no
//     group, with its epoch.
//
// A master keeps calling itself leader while it is cut off or paused, in
// its old epoch, as a deposed raft leader does; the replica promoted in
// its place leads the same group in a higher epoch. Term is CLUSTER
// INFO's cluster_my_epoch, which must agree with the config epoch in the
// node's own CLUSTER NODES line.
func ToStatus(node, ip string, nodes ClusterNodes, info ClusterInfo, book *Book) (workloads.Status, error) {
	me := nodes.Myself()
	if me.IP != "" && me.IP != ip {
		return workloads.Status{}, fmt.Errorf("the node at %s announces itself at %s", ip, me.IP)
	}
	if err := book.learn(me.ID, node); err != nil {
		return workloads.Status{}, err
	}
	if info.MyEpoch != me.ConfigEpoch {
		return workloads.Status{}, fmt.Errorf("cluster info says epoch %d, cluster nodes %d", info.MyEpoch, me.ConfigEpoch)
	}
	st := workloads.Status{ID: node, Role: rundir.RoleFollower, Term: int64(info.MyEpoch)}
	switch {
	case me.Master() && len(me.Slots) > 0:
		st.Role, st.Leader, st.Group = rundir.RoleLeader, node, me.Slots.String()
	case me.Replica() && me.MasterID != "":
		l, err := book.resolve(me.MasterID, nodes)
		if err != nil {
			return workloads.Status{}, fmt.Errorf("its master: %w", err)
		}
		st.Leader = l
		if m, ok := nodes.ByID(me.MasterID); ok {
			st.Group = m.Slots.String()
		}
	}
	return st, nil
}
