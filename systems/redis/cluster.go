package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/splitbrain/splitbrain/workloads"
)

// adminTimeout bounds each administrative command (Create, Takeover).
const adminTimeout = 2 * time.Second

// pollEvery is how often Create looks again at a condition it waits for.
const pollEvery = 50 * time.Millisecond

// Layout is the shape of a cluster Create forms.
type Layout struct {
	// Masters are the indexes (into the endpoints) of the masters, in
	// order, and Slots[i] the slots master i serves: an even split of
	// the 16384 slots, master i getting [i*16384/m, (i+1)*16384/m - 1].
	Masters []int
	Slots   []Range
	// MasterOf maps the index of each replica to the index of its
	// master: the nodes after the masters, r-th replica of master j at
	// m + r*m + j (6 nodes: n4 of n1, n5 of n2, n6 of n3; 9 nodes: n4
	// and n7 of n1, ...).
	MasterOf map[int]int
}

// MinMasters is the fewest masters Create makes: with fewer, one master
// down leaves no majority of masters to fail it over.
const MinMasters = 3

// NewLayout is the layout of n nodes with replicas per master: the first
// n/(replicas+1) nodes are masters. n must be a multiple of replicas+1
// with at least MinMasters masters.
func NewLayout(n, replicas int) (Layout, error) {
	if replicas < 0 {
		return Layout{}, fmt.Errorf("redis cluster: %d replicas per master", replicas)
	}
	per := replicas + 1
	if n%per != 0 || n/per < MinMasters {
		return Layout{}, fmt.Errorf("redis cluster of %d nodes with %d replicas per master: want a multiple of %d nodes, at least %d (%d masters and their replicas)",
			n, replicas, per, MinMasters*per, MinMasters)
	}
	m := n / per
	l := Layout{MasterOf: map[int]int{}}
	for i := range m {
		l.Masters = append(l.Masters, i)
		l.Slots = append(l.Slots, Range{i * Slots / m, (i+1)*Slots/m - 1})
	}
	for k := m; k < n; k++ {
		l.MasterOf[k] = (k - m) % m
	}
	return l, nil
}

// admin is a connection to one node for Create and Takeover.
type admin struct {
	ep  workloads.Endpoint
	rdb *goredis.Client
	id  string // its Redis id, once asked
}

func newAdmin(ep workloads.Endpoint) *admin {
	return &admin{ep: ep, rdb: newRDB(ep.Addr, adminTimeout)}
}

// do runs one command, bounded by adminTimeout.
func (a *admin) do(ctx context.Context, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	res, err := a.rdb.Do(ctx, args...).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %s", a.ep.Node, argString(args), describe(err))
	}
	return res, nil
}

// argString spells a command for an error message.
func argString(args []any) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = fmt.Sprint(a)
	}
	return strings.Join(s, " ")
}

// text runs a command whose answer is text.
func (a *admin) text(ctx context.Context, args ...any) (string, error) {
	res, err := a.do(ctx, args...)
	if err != nil {
		return "", err
	}
	s, ok := res.(string)
	if !ok {
		return "", fmt.Errorf("%s: %s answered %T, not text", a.ep.Node, argString(args), res)
	}
	return s, nil
}

// nodes asks for CLUSTER NODES.
func (a *admin) nodes(ctx context.Context) (ClusterNodes, error) {
	s, err := a.text(ctx, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	ns, err := ParseClusterNodes(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.ep.Node, err)
	}
	return ns, nil
}

// waitAll polls cond until it holds (nil) or ctx ends; the error then
// names what was waited for and cond's last answer.
func waitAll(ctx context.Context, what string, cond func(ctx context.Context) error) error {
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis cluster: %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(pollEvery):
		}
	}
}

// Create forms a cluster of the nodes at eps (in node order), once they
// all answer, with replicas per master (see NewLayout): each master gets
// a distinct config epoch (1, 2, ...: CLUSTER SET-CONFIG-EPOCH, as
// redis-cli --cluster create does, so no two masters share an epoch) and
// its slots (CLUSTER ADDSLOTSRANGE); the first node meets every other
// (CLUSTER MEET); once every node knows every other, each replica
// replicates its master (CLUSTER REPLICATE). It returns when every node
// says cluster_state:ok, knows every node, and shows the slot map and
// replica assignment of the layout, and every replica's link to its
// master is up (INFO replication), or an error when ctx ends first. The
// nodes must be new (no slots, knowing no other node): Create forms a
// cluster once.
func Create(ctx context.Context, eps []workloads.Endpoint, replicas int) error {
	l, err := NewLayout(len(eps), replicas)
	if err != nil {
		return err
	}
	as := make([]*admin, len(eps))
	for i, ep := range eps {
		as[i] = newAdmin(ep)
	}
	defer func() {
		for _, a := range as {
			a.rdb.Close()
		}
	}()
	if err := waitAll(ctx, "nodes answering", func(ctx context.Context) error {
		for _, a := range as {
			if _, err := a.do(ctx, "PING"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for _, a := range as {
		ns, err := a.nodes(ctx)
		if err != nil {
			return fmt.Errorf("redis cluster: %w", err)
		}
		me := ns.Myself()
		if len(ns) != 1 || len(me.Slots) > 0 {
			return fmt.Errorf("redis cluster: %s already knows %d nodes and serves slots %q: not a new node", a.ep.Node, len(ns), me.Slots.String())
		}
		a.id = me.ID
	}
	for i, m := range l.Masters {
		a := as[m]
		if _, err := a.do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1); err != nil {
			return fmt.Errorf("redis cluster: %w", err)
		}
		if _, err := a.do(ctx, "CLUSTER", "ADDSLOTSRANGE", l.Slots[i].Lo, l.Slots[i].Hi); err != nil {
			return fmt.Errorf("redis cluster: %w", err)
		}
	}
	for _, a := range as[1:] {
		host, port, err := net.SplitHostPort(a.ep.Addr)
		if err != nil {
			return fmt.Errorf("redis cluster: %s: address %q: %w", a.ep.Node, a.ep.Addr, err)
		}
		if _, err := as[0].do(ctx, "CLUSTER", "MEET", host, port); err != nil {
			return fmt.Errorf("redis cluster: %w", err)
		}
	}
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.id
	}
	if err := waitAll(ctx, "every node knowing every other", func(ctx context.Context) error {
		for _, a := range as {
			ns, err := a.nodes(ctx)
			if err != nil {
				return err
			}
			if err := knowsAll(ns, ids); err != nil {
				return fmt.Errorf("%s: %w", a.ep.Node, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for r, m := range l.MasterOf {
		if _, err := as[r].do(ctx, "CLUSTER", "REPLICATE", as[l.Masters[m]].id); err != nil {
			return fmt.Errorf("redis cluster: %w", err)
		}
	}
	want := l.slotMap(ids)
	return waitAll(ctx, "every node agreeing on the layout, cluster_state ok", func(ctx context.Context) error {
		for i, a := range as {
			if err := a.agrees(ctx, ids, want, l); err != nil {
				return err
			}
			if m, ok := l.MasterOf[i]; ok {
				if err := a.linkUp(ctx, as[m].ep.Node); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// slotMap is the layout's slot map with the nodes' Redis ids.
func (l Layout) slotMap(ids []string) []Shard {
	var s []Shard
	for i, m := range l.Masters {
		s = append(s, Shard{Ranges{l.Slots[i]}.String(), ids[m]})
	}
	return s
}

// knowsAll checks that ns lists exactly ids, none in handshake.
func knowsAll(ns ClusterNodes, ids []string) error {
	if len(ns) != len(ids) {
		return fmt.Errorf("knows %d nodes, want %d", len(ns), len(ids))
	}
	for _, n := range ns {
		if !slices.Contains(ids, n.ID) || n.Has("handshake") || n.Has("noaddr") {
			return fmt.Errorf("node %.8s is %s", n.ID, strings.Join(n.Flags, ","))
		}
	}
	return nil
}

// agrees checks one node's view against the layout.
func (a *admin) agrees(ctx context.Context, ids []string, want []Shard, l Layout) error {
	s, err := a.text(ctx, "CLUSTER", "INFO")
	if err != nil {
		return err
	}
	ci, err := ParseClusterInfo(s)
	if err != nil {
		return fmt.Errorf("%s: %w", a.ep.Node, err)
	}
	if !ci.OK {
		return fmt.Errorf("%s: cluster_state fail", a.ep.Node)
	}
	ns, err := a.nodes(ctx)
	if err != nil {
		return err
	}
	if err := knowsAll(ns, ids); err != nil {
		return fmt.Errorf("%s: %w", a.ep.Node, err)
	}
	got, err := ns.SlotMap()
	if err != nil {
		return fmt.Errorf("%s: %w", a.ep.Node, err)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s: slot map %v, want %v", a.ep.Node, got, want)
	}
	for r, m := range l.MasterOf {
		n, _ := ns.ByID(ids[r])
		if !n.Replica() || n.MasterID != ids[l.Masters[m]] {
			return fmt.Errorf("%s: sees node %.8s as %s of %.8s, want a replica of %.8s", a.ep.Node, n.ID, strings.Join(n.Flags, ","), n.MasterID, ids[l.Masters[m]])
		}
	}
	return nil
}

// linkUp checks that a replica's replication link to master is up.
func (a *admin) linkUp(ctx context.Context, master string) error {
	s, err := a.text(ctx, "INFO", "replication")
	if err != nil {
		return err
	}
	m, err := ParseInfo(s)
	if err != nil {
		return fmt.Errorf("%s: %w", a.ep.Node, err)
	}
	if m["role"] != "slave" || m["master_link_status"] != "up" {
		return fmt.Errorf("%s: role %q, link to %s %q", a.ep.Node, m["role"], master, m["master_link_status"])
	}
	return nil
}

// ErrNotReplica is Takeover's error on a node that is not a replica.
var ErrNotReplica = errors.New("not a replica")

// Takeover makes the replica at ep its shard's master at once: CLUSTER
// FAILOVER TAKEOVER, Redis's documented way to promote a replica without
// its master's agreement and without the other masters' vote (it takes a
// new config epoch by itself). It returns once the replica has accepted
// the command; the promotion follows within moments (Status shows it).
// On a node that is not a replica (its own CLUSTER NODES line says so)
// it does nothing and returns an error matching ErrNotReplica.
func Takeover(ctx context.Context, ep workloads.Endpoint) error {
	a := newAdmin(ep)
	defer a.rdb.Close()
	ns, err := a.nodes(ctx)
	if err != nil {
		return fmt.Errorf("takeover: %w", err)
	}
	if me := ns.Myself(); !me.Replica() {
		return fmt.Errorf("takeover on %s: %w (flags %s)", ep.Node, ErrNotReplica, strings.Join(me.Flags, ","))
	}
	res, err := a.do(ctx, "CLUSTER", "FAILOVER", "TAKEOVER")
	if err != nil {
		return fmt.Errorf("takeover: %w", err)
	}
	if res != "OK" {
		return fmt.Errorf("takeover on %s: answered %.40v", ep.Node, res)
	}
	return nil
}
