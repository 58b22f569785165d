package zookeeper

import (
	"context"
	"io"
	"net"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/systemtest"
)

func TestMain(m *testing.M) { systemtest.Main(m) }

// harness is the shared one, with this package's client; tests add
// their own methods.
type harness struct {
	*systemtest.Harness[*Client]
}

// TestEnsemble runs three real ZooKeeper servers: they elect one leader;
// the register works through a client pinned to one server; killing the
// leader elects another in a higher epoch; the killed server comes back
// with its data and follows; a server cut off from the others stops
// serving synced reads.
func TestEnsemble(t *testing.T) {
	systemtest.NeedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// SPLITBRAIN_ZK_DOWNLOAD_JDK=1: the runtime from Debian's JDK package,
	// as on a machine without a JDK.
	base, err := BuildBase(ctx, BaseOptions{DownloadJDK: os.Getenv("SPLITBRAIN_ZK_DOWNLOAD_JDK") != "", Logf: t.Logf})
	require.NoError(t, err)
	t.Logf("base image %s (cached %v, %v, rootfs %d MB)", base.Tag, base.Cached, base.Build.Round(time.Millisecond), base.Size>>20)
	sys := System(Options{BaseImage: base.Tag})
	start := time.Now()
	e, err := clusters.Start(ctx, sys, 3, clusters.Options{Logf: t.Logf})
	require.NoError(t, err)
	h := &harness{systemtest.New[*Client](t, e)}
	defer func() {
		for _, c := range h.Clients {
			c.Close()
		}
		if t.Failed() {
			for _, n := range e.Nodes() {
				logs, _ := e.Logs(context.Background(), n.ID)
				if len(logs) > 12000 {
					logs = logs[len(logs)-12000:]
				}
				t.Logf("log of %s:\n%s", n.ID, logs)
			}
		}
		assert.NoError(t, e.Teardown(context.Background()))
	}()
	epochs := NewEpochs()
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Timeout: 2 * time.Second, Epochs: epochs})
		require.NoError(t, err)
		h.Clients[n.ID] = c
	}
	all := h.IDs()

	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	leader, epoch, took := h.WaitLeader(wctx, all, 0)
	wcancel()
	t.Logf("leader %s in epoch %d, %v after the containers were up (%v after Start was called)", leader, epoch, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// A majority agreed; the last server may still be syncing.
	h.WaitAllFollow(ctx, all, leader, 30*time.Second)

	// The register, through a follower.
	follower := systemtest.Without(all, leader)[0]
	c := h.Clients[follower]
	systemtest.RequireOutcome(t, history.OK, history.Value{}, c.Read(ctx, "never"), "read of a key never written")
	systemtest.RequireOutcome(t, history.Fail, history.PairValue(1, 2), c.CAS(ctx, "never", 1, 2), "cas of a key never written")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(1), c.Write(ctx, "x", 1), "write")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(1), c.Read(ctx, "x"), "read")
	systemtest.RequireOutcome(t, history.OK, history.PairValue(1, 2), c.CAS(ctx, "x", 1, 2), "cas 1->2")
	systemtest.RequireOutcome(t, history.Fail, history.PairValue(1, 3), c.CAS(ctx, "x", 1, 3), "cas 1->3 after 1->2")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), c.Read(ctx, "x"), "read after the cas")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), h.Clients[leader].Read(ctx, "x"), "quorum read on the leader")

	// Kill the leader: another leads, in a higher epoch.
	killed := time.Now()
	require.NoError(t, e.Kill(ctx, leader))
	wctx, wcancel = context.WithTimeout(ctx, 30*time.Second)
	newLeader, newEpoch, _ := h.WaitLeader(wctx, systemtest.Without(all, leader), epoch)
	wcancel()
	t.Logf("leader %s killed: %s leads in epoch %d after %v", leader, newLeader, newEpoch, time.Since(killed).Round(time.Millisecond))
	assert.NotEqual(t, leader, newLeader)
	assert.Greater(t, newEpoch, epoch)
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), h.Clients[newLeader].Read(ctx, "x"), "read under the new leader")

	// The killed server restarts with its data and follows.
	require.NoError(t, e.Start(ctx, leader))
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	for {
		st, err := h.Clients[leader].Status(rctx)
		if err == nil && st.Role == rundir.RoleFollower && st.Leader == newLeader && st.Term == newEpoch {
			break
		}
		select {
		case <-rctx.Done():
			rcancel()
			t.Fatalf("%s did not rejoin as a follower of %s in epoch %d: %+v %v", leader, newLeader, newEpoch, st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	rcancel()
	logs, err := e.Logs(ctx, leader)
	require.NoError(t, err)
	// The second start's first database load, from the disk.
	starts := regexp.MustCompile(`Reading configuration from: `).FindAllStringIndex(string(logs), -1)
	require.Len(t, starts, 2, "%s started twice", leader)
	loaded := regexp.MustCompile(`Snapshot loaded in \d+ ms, highest zxid is (0x[0-9a-f]+)`).FindStringSubmatch(string(logs[starts[1][0]:]))
	require.NotNil(t, loaded, "%s loaded its database at its restart", leader)
	assert.NotEqual(t, "0x0", loaded[1], "%s's database came back from its disk", leader)
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), h.Clients[leader].Read(ctx, "x"), "read on the restarted server")
	assert.Regexp(t, `maxNotificationInterval ?= ?1000\b`, string(logs), "the election's backoff is capped")

	// A server cut off from the others answers a plain read from its own
	// stale copy until it notices it lost its leader (syncLimit ticks),
	// but no synced read; then it stops serving.
	alone := systemtest.Without(all, newLeader)[0]
	local, err := NewClient(alone, h.Clients[alone].Addr, ClientOptions{Timeout: 2 * time.Second, ReadMode: ReadLocal, Epochs: epochs})
	require.NoError(t, err)
	defer local.Close()
	syncRead, err := NewClient(alone, h.Clients[alone].Addr, ClientOptions{Timeout: 2 * time.Second, ReadMode: ReadSync, Epochs: epochs})
	require.NoError(t, err)
	defer syncRead.Close()
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), syncRead.Read(ctx, "x"), "sync read before the partition")
	systemtest.RequireOutcome(t, history.OK, history.IntValue(2), local.Read(ctx, "x"), "local read before the partition")
	require.NoError(t, e.Partition(ctx, []string{alone}))
	systemtest.RequireOutcome(t, history.OK, history.IntValue(7), h.Clients[newLeader].Write(ctx, "x", 7), "write through the majority")
	// (On a machine loaded enough that the write took syncLimit ticks, the
	// server may have stopped serving already: then there is no stale read
	// to see, but never the new value.)
	if o := local.Read(ctx, "x"); o.Type == history.OK {
		assert.Equal(t, history.IntValue(2), o.Value, "a local read on the cut-off server answers from its stale copy")
	} else {
		st, err := h.Clients[alone].Status(ctx)
		require.NoError(t, err)
		require.Equal(t, rundir.RoleLooking, st.Role, "a local read on the cut-off server failed while it still served: %+v", o)
		t.Logf("%s stopped serving before the local read: no stale read to see", alone)
	}
	quorum := h.Clients[alone].Read(ctx, "x")
	assert.NotEqual(t, history.OK, quorum.Type, "a quorum read on the cut-off server: %+v", quorum)
	synced := syncRead.Read(ctx, "x")
	assert.NotEqual(t, history.OK, synced.Type, "a synced read on the cut-off server: %+v", synced)
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	for {
		st, err := h.Clients[alone].Status(pctx)
		if err == nil && st.Role == rundir.RoleLooking {
			break
		}
		select {
		case <-pctx.Done():
			pcancel()
			t.Fatalf("%s, partitioned, still %+v %v", alone, st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	pcancel()
	o := h.Clients[alone].Read(ctx, "x")
	assert.NotEqual(t, history.OK, o.Type, "a quorum read on a server cut off from its quorum: %+v", o)
	o = local.Read(ctx, "x")
	assert.NotEqual(t, history.OK, o.Type, "a local read on a server that stopped serving: %+v", o)
	require.NoError(t, e.Heal(ctx))
	hctx, hcancel := context.WithTimeout(ctx, 60*time.Second)
	defer hcancel()
	for {
		if o := h.Clients[alone].Read(hctx, "x"); o.Type == history.OK {
			assert.Equal(t, history.IntValue(7), o.Value)
			break
		}
		select {
		case <-hctx.Done():
			t.Fatalf("%s serves no reads after the heal", alone)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// srvr asks node id the srvr four-letter word.
func srvr(ctx context.Context, e *clusters.Ensemble, id string) (string, int64, error) {
	n, _ := e.Node(id)
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", n.Addr)
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	if _, err := c.Write([]byte("srvr")); err != nil {
		return "", 0, err
	}
	b, err := io.ReadAll(io.LimitReader(c, 64<<10))
	if err != nil {
		return "", 0, err
	}
	return ParseSrvr(b)
}

// logTimes are the times slf4j-simple stamped on a server's log lines.
var logTime = regexp.MustCompile(`(?m)^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}) `)

func logTimes(b []byte) []time.Time {
	var ts []time.Time
	for _, m := range logTime.FindAllSubmatch(b, -1) {
		if t, err := time.Parse("2006-01-02T15:04:05.000-0700", string(m[1])); err == nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// TestClockSkew: the agent's skew reaches the JVM through zkclock and
// libfaketime: a follower set an hour ahead stamps its log an hour ahead
// (its clock, not the host's), and the ensemble still elects after its
// leader's kill.
func TestClockSkew(t *testing.T) {
	systemtest.NeedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base, err := BuildBase(ctx, BaseOptions{Logf: t.Logf})
	require.NoError(t, err)
	e, err := clusters.Start(ctx, System(Options{BaseImage: base.Tag}), 3, clusters.Options{Logf: t.Logf})
	require.NoError(t, err)
	h := &harness{systemtest.New[*Client](t, e)}
	defer func() {
		for _, c := range h.Clients {
			c.Close()
		}
		assert.NoError(t, e.Teardown(context.Background()))
	}()
	caps, err := e.Capabilities(ctx)
	require.NoError(t, err)
	require.True(t, caps.Clock, "clock faults supported")
	epochs := NewEpochs()
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Timeout: 2 * time.Second, Epochs: epochs})
		require.NoError(t, err)
		h.Clients[n.ID] = c
	}
	all := h.IDs()
	leader, epoch, _ := h.WaitLeader(ctx, all, 0)
	skewed := systemtest.Without(all, leader)[0]
	skewedAt := time.Now()
	require.NoError(t, e.Clock(ctx, skewed, time.Hour, 1))
	// The server logs each four-letter word it answers: ask srvr until a
	// line comes stamped an hour ahead (libfaketime rereads its file every
	// second).
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	for ahead := 0; ahead == 0; {
		mode, zxid, err := srvr(sctx, h.E, skewed)
		require.NoError(t, err)
		assert.Equal(t, "follower", mode)
		assert.GreaterOrEqual(t, zxid, int64(0))
		logs, err := e.Logs(sctx, skewed)
		require.NoError(t, err)
		for _, ts := range logTimes(logs) {
			if ts.After(skewedAt.Add(50 * time.Minute)) {
				ahead++
			}
		}
		select {
		case <-sctx.Done():
			t.Fatalf("%s's log has no line an hour ahead", skewed)
		case <-time.After(100 * time.Millisecond):
		}
	}
	scancel()
	require.NoError(t, e.Kill(ctx, leader))
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	newLeader, newEpoch, took := h.WaitLeader(wctx, systemtest.Without(all, leader), epoch)
	wcancel()
	t.Logf("with %s an hour ahead, %s killed: %s leads in epoch %d after %v", skewed, leader, newLeader, newEpoch, took.Round(time.Millisecond))
	systemtest.RequireOutcome(t, history.OK, history.IntValue(5), h.Clients[skewed].Write(ctx, "x", 5), "write through the skewed server")

	// Pause and resume reach the JVM under zkclock (the agent signals the
	// process group): the paused leader is replaced, and follows once
	// resumed.
	require.NoError(t, e.Start(ctx, leader))
	paused := newLeader
	require.NoError(t, e.Pause(ctx, paused))
	wctx, wcancel = context.WithTimeout(ctx, 60*time.Second)
	next, _, took := h.WaitLeader(wctx, systemtest.Without(all, paused), newEpoch)
	wcancel()
	t.Logf("%s paused: %s leads after %v", paused, next, took.Round(time.Millisecond))
	require.NoError(t, e.Resume(ctx, paused))
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	for {
		st, err := h.Clients[paused].Status(rctx)
		if err == nil && st.Role == rundir.RoleFollower && st.Leader == next {
			break
		}
		select {
		case <-rctx.Done():
			t.Fatalf("%s did not follow %s after its resume: %+v %v", paused, next, st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestUserImage: a user's own ZooKeeper image as the base (here Debian's
// under another name, with the classpath given as a user of the official
// image would, and without libfaketime): the node agent is layered on it
// by a local build, nothing pulled, and the servers elect.
func TestUserImage(t *testing.T) {
	systemtest.NeedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base, err := BuildBase(ctx, BaseOptions{Logf: t.Logf})
	require.NoError(t, err)
	cli, err := clusters.Docker()
	require.NoError(t, err)
	const user = "splitbrain-test/users-zookeeper:3.8"
	_, err = cli.ImageTag(ctx, client.ImageTagOptions{Source: base.Tag, Target: user})
	require.NoError(t, err)
	defer cli.ImageRemove(context.Background(), user, client.ImageRemoveOptions{})
	sys := System(Options{BaseImage: user, Java: JavaHome + "/bin/java", ClassPath: JarDir + "/*", NoClock: true})
	e, err := clusters.Start(ctx, sys, 3, clusters.Options{Logf: t.Logf})
	require.NoError(t, err)
	defer func() { assert.NoError(t, e.Teardown(context.Background())) }()
	caps, err := e.Capabilities(ctx)
	require.NoError(t, err)
	assert.False(t, caps.Clock, "no clock faults without libfaketime")
	h := &harness{systemtest.New[*Client](t, e)}
	epochs := NewEpochs()
	for _, n := range e.Nodes() {
		c, err := NewClient(n.ID, n.Addr, ClientOptions{Timeout: 2 * time.Second, Epochs: epochs})
		require.NoError(t, err)
		h.Clients[n.ID] = c
		defer c.Close()
	}
	leader, epoch, _ := h.WaitLeader(ctx, h.IDs(), 0)
	t.Logf("on %s: %s leads in epoch %d", user, leader, epoch)
	systemtest.RequireOutcome(t, history.OK, history.IntValue(1), h.Clients[leader].Write(ctx, "x", 1), "write")
}
