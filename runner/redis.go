package runner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/redis"
	"github.com/splitbrain/splitbrain/workloads"
)

// clusterView is one node's view of a sharded cluster as a whole, for a
// cluster event (rundir.EventCluster): its state and its slot map, or why
// it gave none.
type clusterView struct {
	Node    string
	State   string // rundir.ClusterOK or rundir.ClusterFail
	SlotMap string // "0-5460=n1 5461-10922=n2 10923-16383=n3"
	Err     error
}

// viewTimeout bounds one node's answer to a view poll.
const viewTimeout = time.Second

// redisViews asks every node at once for CLUSTER NODES and CLUSTER INFO
// (systems/redis parses them) and names each slot range's master by the
// node whose own answer gives its Redis id; an id no node claims is
// written "?" and its first 8 digits.
func redisViews(ctx context.Context, eps []workloads.Endpoint) []clusterView {
	type answer struct {
		nodes redis.ClusterNodes
		info  redis.ClusterInfo
		err   error
	}
	answers := make([]answer, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() {
			answers[i].nodes, answers[i].info, answers[i].err = askView(ctx, ep)
		})
	}
	wg.Wait()
	names := map[string]string{} // Redis id -> node
	for i, a := range answers {
		if a.err == nil {
			names[a.nodes.Myself().ID] = eps[i].Node
		}
	}
	out := make([]clusterView, len(eps))
	for i, a := range answers {
		v := clusterView{Node: eps[i].Node, Err: a.err}
		if a.err == nil {
			v.State = rundir.ClusterFail
			if a.info.OK {
				v.State = rundir.ClusterOK
			}
			shards, err := a.nodes.SlotMap()
			if err != nil {
				v.Err = err
			}
			var parts []string
			for _, s := range shards {
				n, ok := names[s.MasterID]
				if !ok {
					n = "?" + s.MasterID[:min(8, len(s.MasterID))]
				}
				parts = append(parts, s.Slots+"="+n)
			}
			v.SlotMap = strings.Join(parts, " ")
		}
		out[i] = v
	}
	return out
}

// askView asks one node for CLUSTER NODES and CLUSTER INFO, in one round
// trip, on a connection of its own made for it.
func askView(ctx context.Context, ep workloads.Endpoint) (redis.ClusterNodes, redis.ClusterInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, viewTimeout)
	defer cancel()
	rdb := goredis.NewClient(&goredis.Options{
		Addr: ep.Addr, Protocol: 2, MaxRetries: -1, DialTimeout: viewTimeout, ReadTimeout: viewTimeout, WriteTimeout: viewTimeout,
		ContextTimeoutEnabled: true, PoolSize: 1, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	defer rdb.Close()
	pipe := rdb.Pipeline()
	nodesCmd, infoCmd := pipe.ClusterNodes(ctx), pipe.ClusterInfo(ctx)
	_, _ = pipe.Exec(ctx)
	if err := nodesCmd.Err(); err != nil {
		return nil, redis.ClusterInfo{}, fmt.Errorf("view of %s: %w", ep.Node, err)
	}
	if err := infoCmd.Err(); err != nil {
		return nil, redis.ClusterInfo{}, fmt.Errorf("view of %s: %w", ep.Node, err)
	}
	nodes, err := redis.ParseClusterNodes(nodesCmd.Val())
	if err != nil {
		return nil, redis.ClusterInfo{}, fmt.Errorf("view of %s: %w", ep.Node, err)
	}
	info, err := redis.ParseClusterInfo(infoCmd.Val())
	if err != nil {
		return nil, redis.ClusterInfo{}, fmt.Errorf("view of %s: %w", ep.Node, err)
	}
	return nodes, info, nil
}
