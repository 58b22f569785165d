package redis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/workloads"
)

// sampleBook knows the sample cluster's six addresses.
func sampleBook(t *testing.T) *Book {
	t.Helper()
	b := NewBook()
	for i := 1; i <= 6; i++ {
		require.NoError(t, b.AddEndpoint(workloads.Endpoint{Node: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("172.18.0.%d:6379", 10+i)}))
	}
	return b
}

// asSeenBy is sampleNodes answered by node id (the myself flag moved).
func asSeenBy(id string) string {
	s := strings.Replace(sampleNodes, "myself,", "", 1)
	i := strings.Index(s, id+" ")
	j := i + len(id) + 1 + strings.IndexByte(s[i+len(id)+1:], ' ') + 1
	return s[:j] + "myself," + s[j:]
}

func info(epoch uint64) ClusterInfo {
	return ClusterInfo{OK: true, SlotsAssigned: Slots, SlotsOK: Slots, KnownNodes: 6, Size: 3, CurrentEpoch: 3, MyEpoch: epoch}
}

func TestToStatus(t *testing.T) {
	b := sampleBook(t)
	parse := func(text string) ClusterNodes {
		ns, err := ParseClusterNodes(text)
		require.NoError(t, err)
		return ns
	}
	// The replica n4, before any master answered: its master is named by
	// the address it announces.
	st, err := ToStatus("n4", "172.18.0.14", parse(sampleNodes), info(1), b)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n4", Role: rundir.RoleFollower, Term: 1, Leader: "n1", Group: "0-5460"}, st)
	n, ok := b.Node(id1)
	assert.True(t, ok)
	assert.Equal(t, "n1", n)

	st, err = ToStatus("n2", "172.18.0.12", parse(asSeenBy(id2)), info(2), b)
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n2", Role: rundir.RoleLeader, Term: 2, Leader: "n2", Group: "5461-10921"}, st)

	// The epochs must agree.
	_, err = ToStatus("n2", "172.18.0.12", parse(asSeenBy(id2)), info(5), b)
	assert.ErrorContains(t, err, "epoch")
	// A node at one address announcing another.
	_, err = ToStatus("n3", "172.18.0.99", parse(asSeenBy(id3)), info(3), b)
	assert.ErrorContains(t, err, "announces")
	// Another node claiming n2's Redis id.
	_, err = ToStatus("n5", "172.18.0.12", parse(asSeenBy(id2)), info(2), b)
	assert.ErrorContains(t, err, "is n2 and n5")

	// A master serving no slots leads nothing.
	empty := id1 + " 172.18.0.11:6379@16379 myself,master - 0 0 0 connected\n"
	st, err = ToStatus("n1", "172.18.0.11", parse(empty), ClusterInfo{}, sampleBook(t))
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n1", Role: rundir.RoleFollower}, st)

	// A replica whose master is of no known address.
	stray := strings.Replace(sampleNodes, "172.18.0.11:", "10.9.9.9:", 1)
	_, err = ToStatus("n4", "172.18.0.14", parse(stray), info(1), sampleBook(t))
	assert.ErrorContains(t, err, "not a node of this ensemble")

	// A replica whose master lost its slots (a sibling took over): it
	// follows its master still, in no group.
	after := strings.Replace(sampleNodes, "1 connected 0-5460", "1 connected", 1)
	after = strings.Replace(after, "slave "+id3+" 0 1700000000004 3 connected", "master - 0 1700000000004 4 connected 0-5460", 1)
	st, err = ToStatus("n4", "172.18.0.14", parse(after), info(1), sampleBook(t))
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n4", Role: rundir.RoleFollower, Term: 1, Leader: "n1"}, st)
}

// TestStatusThroughTheClient asks a fake node that answers like n2.
func TestStatusThroughTheClient(t *testing.T) {
	text := strings.ReplaceAll(asSeenBy(id2), "172.18.0.12", "127.0.0.1")
	f := newFake(t, func(_ *fakeConn, args []string) string {
		switch strings.ToUpper(args[1]) {
		case "NODES":
			return bulk(text)
		case "INFO":
			return bulk("cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_known_nodes:6\r\ncluster_size:3\r\ncluster_current_epoch:3\r\ncluster_my_epoch:2\r\n")
		}
		return "-ERR\r\n"
	})
	c, err := NewClient("n2", f.addr(), ClientOptions{Timeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, workloads.Status{ID: "n2", Role: rundir.RoleLeader, Term: 2, Leader: "n2", Group: "5461-10921"}, st)

	for _, reply := range []string{hang, bulk("garbage"), "-ERR no\r\n", ":1\r\n"} {
		f := newFake(t, func(*fakeConn, []string) string { return reply })
		c, err := NewClient("n2", f.addr(), ClientOptions{Timeout: 200 * time.Millisecond})
		require.NoError(t, err)
		_, err = c.Status(context.Background())
		assert.Error(t, err, "status answered %q", reply)
		c.Close()
	}
}
