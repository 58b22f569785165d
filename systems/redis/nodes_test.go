package redis

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Ids of the sample nodes.
var (
	id1 = strings.Repeat("1", 40)
	id2 = strings.Repeat("2", 40)
	id3 = strings.Repeat("3", 40)
	id4 = strings.Repeat("4", 40)
	id5 = strings.Repeat("5", 40)
	id6 = strings.Repeat("6", 40)
)

// sampleNodes is CLUSTER NODES as n4 (a replica of n1) answers it in a
// settled six-node cluster (Redis 7.0's format, ",hostname" empty).
var sampleNodes = strings.Join([]string{
	id1 + " 172.18.0.11:6379@16379, master - 0 1700000000000 1 connected 0-5460",
	id2 + " 172.18.0.12:6379@16379, master - 0 1700000000001 2 connected 5461-10921",
	id3 + " 172.18.0.13:6379@16379, master - 0 1700000000002 3 connected 10922-16383",
	id4 + " 172.18.0.14:6379@16379, myself,slave " + id1 + " 0 0 1 connected",
	id5 + " 172.18.0.15:6379@16379, slave " + id2 + " 0 1700000000003 2 connected",
	id6 + " 172.18.0.16:6379@16379, slave " + id3 + " 0 1700000000004 3 connected",
}, "\n") + "\n"

func TestParseClusterNodes(t *testing.T) {
	ns, err := ParseClusterNodes(sampleNodes)
	require.NoError(t, err)
	require.Len(t, ns, 6)
	me := ns.Myself()
	assert.Equal(t, id4, me.ID)
	assert.True(t, me.Replica())
	assert.False(t, me.Master())
	assert.Equal(t, id1, me.MasterID)
	assert.Equal(t, "172.18.0.14", me.IP)
	assert.Equal(t, 6379, me.Port)
	assert.Equal(t, 16379, me.BusPort)
	assert.Equal(t, uint64(1), me.ConfigEpoch)
	assert.True(t, me.Connected)
	m2, ok := ns.ByID(id2)
	require.True(t, ok)
	assert.Equal(t, "5461-10921", m2.Slots.String())
	assert.Equal(t, uint64(2), m2.ConfigEpoch)
	sm, err := ns.SlotMap()
	require.NoError(t, err)
	assert.Equal(t, []Shard{{"0-5460", id1}, {"5461-10921", id2}, {"10922-16383", id3}}, sm)
}

func TestParseClusterNodesLines(t *testing.T) {
	cases := []struct {
		name, line string
		check      func(t *testing.T, n ClusterNode)
		err        string
	}{
		{"plain 6.x address", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 7 connected 0-10 12 100-200", func(t *testing.T, n ClusterNode) {
			assert.Equal(t, "0-10,12,100-200", n.Slots.String())
			assert.Equal(t, uint64(7), n.ConfigEpoch)
		}, ""},
		{"hostname", id1 + " 10.0.0.1:6379@16379,n1 myself,master - 0 0 1 connected", func(t *testing.T, n ClusterNode) {
			assert.Equal(t, "10.0.0.1", n.IP)
		}, ""},
		{"no address yet", id1 + " :6379@16379 myself,master - 0 0 0 connected", func(t *testing.T, n ClusterNode) {
			assert.Equal(t, "", n.IP)
		}, ""},
		{"ipv6", id1 + " ::1:6379@16379 myself,master - 0 0 0 connected", func(t *testing.T, n ClusterNode) {
			assert.Equal(t, "::1", n.IP)
		}, ""},
		{"migrating and importing", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-99 [100->-" + id2 + "] [200-<-" + id3 + "]", func(t *testing.T, n ClusterNode) {
			assert.Equal(t, []int{100}, n.Migrating)
			assert.Equal(t, []int{200}, n.Importing)
			assert.Equal(t, "0-99", n.Slots.String())
		}, ""},
		{"failing", id1 + " 10.0.0.1:6379@16379 myself,master,fail? - 0 0 1 disconnected", func(t *testing.T, n ClusterNode) {
			assert.True(t, n.Failing())
			assert.False(t, n.Connected)
		}, ""},
		{"handshake has no role", id1 + " 10.0.0.1:6379@16379 myself,handshake - 0 0 0 connected", nil, ""},
		{"short", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0", nil, "fields"},
		{"bad id", "xyz 10.0.0.1:6379@16379 myself,master - 0 0 0 connected", nil, "node id"},
		{"upper-case id", strings.Repeat("A", 40) + " 10.0.0.1:6379@16379 myself,master - 0 0 0 connected", nil, "node id"},
		{"no bus port", id1 + " 10.0.0.1:6379 myself,master - 0 0 0 connected", nil, "@busport"},
		{"bad port", id1 + " 10.0.0.1:x@16379 myself,master - 0 0 0 connected", nil, "port"},
		{"unknown flag", id1 + " 10.0.0.1:6379@16379 myself,leader - 0 0 0 connected", nil, "unknown flag"},
		{"both roles", id1 + " 10.0.0.1:6379@16379 myself,master,slave - 0 0 0 connected", nil, "both"},
		{"bad master", id1 + " 10.0.0.1:6379@16379 myself,slave 42 0 0 0 connected", nil, "master"},
		{"bad epoch", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 -1 connected", nil, "config epoch"},
		{"bad link", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 0 up", nil, "link state"},
		{"slot out of range", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 0 connected 0-16384", nil, "not in 0..16383"},
		{"backwards range", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 0 connected 10-5", nil, "ends before"},
		{"overlap", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 0 connected 0-10 5-20", nil, "overlap"},
		{"replica with slots", id1 + " 10.0.0.1:6379@16379 myself,slave " + id2 + " 0 0 0 connected 0-10", nil, "not a master"},
		{"bad moving", id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 0 connected [1-x-" + id2 + "]", nil, "moving slot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := ParseClusterNodes(tc.line + "\n")
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			if tc.check != nil {
				tc.check(t, ns.Myself())
			}
		})
	}
}

func TestParseClusterNodesWhole(t *testing.T) {
	_, err := ParseClusterNodes("")
	assert.ErrorContains(t, err, "0 lines flagged myself")
	two := id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 0 connected\n" + id2 + " 10.0.0.2:6379@16379 myself,master - 0 0 0 connected\n"
	_, err = ParseClusterNodes(two)
	assert.ErrorContains(t, err, "2 lines flagged myself")
	dup := id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 0 connected\n" + id1 + " 10.0.0.2:6379@16379 master - 0 0 0 connected\n"
	_, err = ParseClusterNodes(dup)
	assert.ErrorContains(t, err, "listed twice")
	_, err = ParseClusterNodes(strings.Repeat("x", maxNodesText+1))
	assert.ErrorContains(t, err, "bytes")
	// CRLF line ends and blank lines are fine.
	ns, err := ParseClusterNodes(strings.ReplaceAll(sampleNodes, "\n", "\r\n") + "\r\n\r\n")
	require.NoError(t, err)
	assert.Len(t, ns, 6)
	// Two masters claiming one slot (a view in the middle of a failover).
	split := id1 + " 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-100\n" + id2 + " 10.0.0.2:6379@16379 master - 0 0 2 connected 50-60\n"
	ns, err = ParseClusterNodes(split)
	require.NoError(t, err)
	_, err = ns.SlotMap()
	assert.ErrorContains(t, err, "two masters")
}

func TestRanges(t *testing.T) {
	cases := []struct {
		in, canon string
		count     int
		err       string
	}{
		{"0-5460", "0-5460", 5461, ""},
		{"5461", "5461", 1, ""},
		{"5461-5461", "5461", 1, ""},
		{"0-10,11-20", "0-20", 21, ""},
		{"100-200 0-10 12", "0-10,12,100-200", 113, ""},
		{"", "", 0, ""},
		{"0-16383", "0-16383", Slots, ""},
		{"0-10,5", "", 0, "overlap"},
		{"16384", "", 0, "not in 0..16383"},
		{"-1", "", 0, "not a number"},
		{"1-", "", 0, "not a number"},
		{"01", "", 0, "not a number"},
		{"+1", "", 0, "not a number"},
		{"9-8", "", 0, "ends before"},
		{"1-2-3", "", 0, "not a number"},
	}
	for _, tc := range cases {
		rs, err := ParseRanges(tc.in)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.canon, rs.String(), tc.in)
		assert.Equal(t, tc.count, rs.Count(), tc.in)
	}
}

func TestParseClusterInfo(t *testing.T) {
	text := "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\n" +
		"cluster_slots_fail:0\r\ncluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:7\r\ncluster_my_epoch:2\r\n" +
		"cluster_stats_messages_sent:1483\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n"
	ci, err := ParseClusterInfo(text)
	require.NoError(t, err)
	assert.Equal(t, ClusterInfo{OK: true, SlotsAssigned: Slots, SlotsOK: Slots, KnownNodes: 6, Size: 3, CurrentEpoch: 7, MyEpoch: 2}, ci)
	down, err := ParseClusterInfo(strings.Replace(text, "cluster_state:ok", "cluster_state:fail", 1))
	require.NoError(t, err)
	assert.False(t, down.OK)
	for name, bad := range map[string]string{
		"state":       strings.Replace(text, "cluster_state:ok", "cluster_state:maybe", 1),
		"no state":    strings.Replace(text, "cluster_state:ok\r\n", "", 1),
		"epoch":       strings.Replace(text, "cluster_my_epoch:2", "cluster_my_epoch:two", 1),
		"no epoch":    strings.Replace(text, "cluster_current_epoch:7\r\n", "", 1),
		"slots":       strings.Replace(text, "cluster_slots_assigned:16384", "cluster_slots_assigned:20000", 1),
		"not kv":      text + "garbage\r\n",
		"twice":       text + "cluster_size:4\r\n",
		"negative":    strings.Replace(text, "cluster_size:3", "cluster_size:-3", 1),
		"ok > assign": strings.Replace(text, "cluster_slots_ok:16384", "cluster_slots_ok:16385", 1),
	} {
		_, err := ParseClusterInfo(bad)
		assert.Error(t, err, name)
	}
}

func TestParseInfo(t *testing.T) {
	m, err := ParseInfo("# Replication\r\nrole:slave\r\nmaster_host:172.18.0.11\r\nmaster_link_status:up\r\n\r\n# CPU\r\nused_cpu_sys:0.1\r\n")
	require.NoError(t, err)
	assert.Equal(t, "slave", m["role"])
	assert.Equal(t, "up", m["master_link_status"])
	assert.Equal(t, "0.1", m["used_cpu_sys"])
	_, err = ParseInfo(":value\r\n")
	assert.Error(t, err)
}

func FuzzParseClusterNodes(f *testing.F) {
	f.Add(sampleNodes)
	f.Add(id1 + " :0@0 myself,master - 0 0 0 connected [1->-" + id2 + "]\n")
	f.Add(id1 + " ::1:6379@16379,host myself,handshake - 0 0 0 disconnected 0-1 3\n")
	f.Fuzz(func(t *testing.T, text string) {
		ns, err := ParseClusterNodes(text)
		if err != nil {
			return
		}
		if !ns.Myself().Myself() {
			t.Fatalf("no myself line in %q", text)
		}
		for _, n := range ns {
			if len(n.ID) != 40 {
				t.Fatalf("id %q", n.ID)
			}
			// Slots are canonical: reparsing their spelling gives them.
			rs, err := ParseRanges(n.Slots.String())
			if err != nil || rs.String() != n.Slots.String() {
				t.Fatalf("slots %v: %q reparsed to %v, %v", n.Slots, n.Slots.String(), rs, err)
			}
			if n.Slots.Count() > Slots {
				t.Fatalf("%d slots", n.Slots.Count())
			}
		}
		if sm, err := ns.SlotMap(); err == nil {
			total := 0
			for _, s := range sm {
				rs, err := ParseRanges(s.Slots)
				if err != nil {
					t.Fatal(err)
				}
				total += rs.Count()
			}
			if total > Slots {
				t.Fatalf("slot map covers %d slots", total)
			}
		}
	})
}

func FuzzParseClusterInfo(f *testing.F) {
	f.Add("cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:7\r\ncluster_my_epoch:2\r\n")
	f.Add("# x\r\ncluster_state:fail\r\n")
	f.Fuzz(func(t *testing.T, text string) {
		ci, err := ParseClusterInfo(text)
		if err != nil {
			return
		}
		if ci.SlotsOK > ci.SlotsAssigned || ci.SlotsAssigned > Slots || ci.Size < 0 || ci.KnownNodes < 0 {
			t.Fatalf("%+v from %q", ci, text)
		}
	})
}

func FuzzRanges(f *testing.F) {
	for _, s := range []string{"0-5460", "5461", "0-10,12,100-200", "", "16383", "1 2 3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRanges(s)
		if err != nil {
			return
		}
		again, err := ParseRanges(rs.String())
		if err != nil || again.String() != rs.String() {
			t.Fatalf("%q: %q reparsed to %q, %v", s, rs.String(), again.String(), err)
		}
		if rs.Count() > Slots {
			t.Fatalf("%q: %d slots", s, rs.Count())
		}
		for i, r := range rs {
			if r.Lo > r.Hi || r.Lo < 0 || r.Hi >= Slots || (i > 0 && rs[i-1].Hi+1 >= r.Lo) {
				t.Fatalf("%q: not canonical: %v", s, rs)
			}
		}
	})
}
