package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/redis"
)

func TestRedisSettings(t *testing.T) {
	c := Defaults()
	require.NoError(t, FieldByNameMust(t, "system").Set(&c, "redis"))
	require.NoError(t, c.Validate(), "the default node count is Redis's")
	c.SystemDefaults()
	assert.Equal(t, 6, c.Nodes)
	assert.Equal(t, append(append([]string(nil), rundir.Kinds...), rundir.KindTakeover), c.Nemesis, "all: with the takeover")
	c.SystemDefaults()
	assert.Len(t, c.Nemesis, len(rundir.Kinds)+1, "once")
	assert.Equal(t, []string{"--system", "redis", "--nodes", "6", "--nemesis", "partition,kill,pause,clock,netem,takeover"}, c.Flags())

	for _, tt := range []struct {
		nodes string
		err   string
	}{{"5", "want a multiple of 2"}, {"4", "at least 6"}, {"8", ""}} {
		c := Defaults()
		c.System = SystemRedis
		require.NoError(t, FieldByNameMust(t, "nodes").Set(&c, tt.nodes))
		c.SystemDefaults()
		if tt.err == "" {
			assert.NoError(t, c.Validate())
			assert.Equal(t, 8, c.Nodes, "given: kept")
		} else {
			assert.ErrorContains(t, c.Validate(), tt.err)
			assert.ErrorContains(t, c.Validate(), "--nodes")
		}
	}

	// A caller that sets the count itself (hunt, shrink) keeps it.
	p := Defaults()
	p.Nodes = 3
	p.SystemDefaults()
	assert.Equal(t, 3, p.Nodes)
	p.System, p.Nodes = SystemRedis, 8
	p.SystemDefaults()
	assert.Equal(t, 8, p.Nodes)

	// Another system's all has no takeover; asked for by name, it is
	// allowed and reported unsupported by the run.
	e := Defaults()
	e.SystemDefaults()
	assert.Equal(t, rundir.Kinds, e.Nemesis)
	assert.Equal(t, 5, e.Nodes)
	require.NoError(t, FieldByNameMust(t, "nemesis").Set(&e, "takeover,kill"))
	assert.NoError(t, e.Validate())
	r := &run{cfg: e}
	assert.Equal(t, []string{rundir.KindTakeover}, r.unsupported())

	require.NoError(t, FieldByNameMust(t, "expect").Set(&c, "linearizable"))
	assert.Equal(t, rundir.ExpectLinearizable, c.Expect)
	assert.ErrorContains(t, FieldByNameMust(t, "expect").Set(&c, "serializable"), "want linearizable, or nothing")
	y := Defaults()
	require.NoError(t, LoadYAML("r.yaml", []byte("system: redis\nexpect: linearizable\nnemesis: all\n"), &y, nil))
	y.SystemDefaults()
	assert.Equal(t, rundir.ExpectLinearizable, y.Expect)
	assert.Contains(t, y.Nemesis, rundir.KindTakeover)
	assert.Equal(t, 6, y.Nodes)
}

// The checkers find a key's slot from the Redis key systems/redis writes.
func TestRedisKeyPrefix(t *testing.T) {
	assert.Equal(t, redis.KeyPrefix, checker.RedisKeyPrefix)
}

func TestAgreedMasters(t *testing.T) {
	ok := func(n, m string) clusterView { return clusterView{Node: n, State: rundir.ClusterOK, SlotMap: m} }
	const m = "0-5460=n1 5461-10922=n2 10923-16383=n3"
	masters, _, agreed := agreedMasters([]clusterView{ok("n1", m), ok("n2", m), ok("n4", m)})
	assert.True(t, agreed)
	assert.Equal(t, []string{"n1", "n2", "n3"}, masters)
	_, why, agreed := agreedMasters([]clusterView{ok("n1", m), {Node: "n2", State: rundir.ClusterFail, SlotMap: m}})
	assert.False(t, agreed)
	assert.Contains(t, why, "n2 says cluster_state fail")
	_, why, agreed = agreedMasters([]clusterView{ok("n1", m), ok("n2", "0-16383=n2")})
	assert.False(t, agreed)
	assert.Contains(t, why, "different slot maps")
}

func FieldByNameMust(t *testing.T, name string) Field {
	t.Helper()
	f, ok := FieldByName(name)
	require.True(t, ok, name)
	return f
}
