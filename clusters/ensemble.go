// Package clusters runs ensembles: each node of a system in its own
// container on a private Docker network, with the node agent
// (cmd/nodeagent) as PID 1, and injects faults into single nodes.
//
// Images are built here (BuildImage) and never pulled. Networks and
// containers are created, started and removed through testcontainers-go
// (with its reaper off, see ryukEnv); every container and network carries
// LabelRun and LabelOwner, Teardown removes them, and Clean removes what
// killed runs left behind.
//
// The host reaches every node at its container address (Node.Addr), also
// while the node is partitioned from its peers: partitions drop only
// traffic between the nodes' addresses.
package clusters

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
	"github.com/splitbrain/splitbrain/systems"
)

// Limits on the ensemble size.
const (
	MinNodes = 3
	MaxNodes = 9
)

// Node is one node of an ensemble.
type Node struct {
	ID    string     // "n1", "n2", ...
	Index int        // 1, 2, ...
	IP    netip.Addr // container address on the ensemble's network
	// Addr is the client API's address, reachable from the host (also
	// while the node is partitioned): "ip:port".
	Addr string
	// PeerAddr is the address peers use: "ip:peerport".
	PeerAddr string
	// AgentAddr is the node agent's control API: "ip:7070".
	AgentAddr string
	// Container is the container's id.
	Container string
}

// Options tune Start. The zero value is fine.
type Options struct {
	// Image is a node image from BuildImage; empty builds (or reuses) it.
	Image string
	// RunID labels the containers and network; empty picks a random one.
	RunID string
	// OnEvent receives every stamped event of every node (node output and
	// agent actions). It is called from one goroutine per node, so
	// concurrently across nodes and in Seq order per node; it must not
	// block for long. Events still in flight at Teardown are delivered
	// before Teardown returns.
	OnEvent func(Event)
	// Logf, when set, gets progress messages.
	Logf func(format string, args ...any)
	// NoStart creates every node with its agent up and its server not
	// started: Start returns once the agents answer, and Ensemble.Start
	// starts each server when the caller wants (one at a time, say).
	NoStart bool
}

// Ensemble is a running ensemble. Its methods are safe for concurrent use.
type Ensemble struct {
	sys    systems.System
	runID  string
	image  string
	net    *testcontainers.DockerNetwork
	ctrs   []testcontainers.Container // by node index; nil until created
	ports  network.PortMap            // see imagePorts
	nodes  []Node
	agents map[string]*agentapi.Client
	opts   Options

	mu      sync.Mutex // guards blocked and rule pushes
	blocked map[[2]string]bool

	evCtx    context.Context
	evCancel context.CancelFunc
	evWG     sync.WaitGroup
	evNext   map[string]*int64 // per node, next Seq to deliver; owned by the follower

	tearOnce    sync.Once
	tearErr     error
	startFailed bool
}

// agentHTTP talks to agents; calls carry contexts, the timeout is a
// backstop. Event streams, which stay open, use eventHTTP (no timeout).
var (
	agentHTTP = &http.Client{Timeout: 30 * time.Second}
	eventHTTP = &http.Client{}
)

// Start builds (or reuses) sys's image and starts an ensemble of n nodes,
// n1..nN, each in its own container on a fresh network, and returns once
// every node's agent answers and its server accepts connections on the
// client port (with Options.NoStart: once the agents answer, the servers
// not started). It does not wait for the system to elect a leader. On error
// everything it created is removed (a server that exits at start has the
// end of its log in the error).
func Start(ctx context.Context, sys systems.System, n int, opts Options) (*Ensemble, error) {
	if n < MinNodes || n > MaxNodes {
		return nil, fmt.Errorf("ensemble of %d nodes: want %d to %d", n, MinNodes, MaxNodes)
	}
	if err := sys.Validate(); err != nil {
		return nil, err
	}
	if _, err := Ping(ctx); err != nil {
		return nil, err
	}
	if err := testcontainersReady(); err != nil {
		return nil, err
	}
	if opts.Image == "" {
		img, err := BuildImage(ctx, sys)
		if err != nil {
			return nil, err
		}
		opts.Image = img.Tag
	}
	if opts.RunID == "" {
		var b [6]byte
		rand.Read(b[:])
		opts.RunID = hex.EncodeToString(b[:])
	}
	e := &Ensemble{
		sys:     sys,
		runID:   opts.RunID,
		image:   opts.Image,
		agents:  map[string]*agentapi.Client{},
		opts:    opts,
		blocked: map[[2]string]bool{},
		evNext:  map[string]*int64{},
	}
	e.evCtx, e.evCancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			e.startFailed = true
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			e.Teardown(tctx)
			cancel()
		}
	}()
	labels := map[string]string{LabelRun: e.runID, LabelOwner: owner()}

	t0 := time.Now()
	ports, err := imagePorts(ctx, e.image)
	if err != nil {
		return nil, err
	}
	e.ports = ports
	subnet, err := e.createNetwork(ctx, labels)
	if err != nil {
		return nil, err
	}
	tNet := time.Now()
	base := subnet.Addr().As4()
	peers := make([]systems.Peer, n)
	for i := range n {
		ip := base
		ip[3] = byte(11 + i)
		a := netip.AddrFrom4(ip)
		id := "n" + strconv.Itoa(i+1)
		peers[i] = systems.Peer{ID: id, Index: i + 1, IP: a.String()}
		pp := sys.PeerPort
		if pp == 0 {
			pp = sys.ClientPort
		}
		e.nodes = append(e.nodes, Node{
			ID: id, Index: i + 1, IP: a,
			Addr:      net.JoinHostPort(a.String(), strconv.Itoa(sys.ClientPort)),
			PeerAddr:  net.JoinHostPort(a.String(), strconv.Itoa(pp)),
			AgentAddr: net.JoinHostPort(a.String(), strconv.Itoa(agentapi.Port)),
		})
		e.agents[id] = &agentapi.Client{Base: "http://" + e.nodes[i].AgentAddr, HTTP: agentHTTP}
	}
	e.ctrs = make([]testcontainers.Container, n)
	if err := e.parallel(ctx, func(ctx context.Context, i int) error {
		return e.createNode(ctx, i, peers, labels)
	}); err != nil {
		return nil, err
	}
	tCont := time.Now()
	if err := e.parallel(ctx, func(ctx context.Context, i int) error {
		return e.waitReady(ctx, e.nodes[i])
	}); err != nil {
		return nil, err
	}
	for _, nd := range e.nodes {
		next := int64(1)
		e.evNext[nd.ID] = &next
	}
	if opts.OnEvent != nil {
		for _, nd := range e.nodes {
			e.evWG.Add(1)
			go e.follow(nd.ID, e.evNext[nd.ID])
		}
	}
	ok = true
	e.logf("ensemble %s: %d nodes of %s up on %s in %v (network %v, containers %v, servers %v)",
		e.runID, n, sys.Name, subnet, time.Since(t0).Round(time.Millisecond), tNet.Sub(t0).Round(time.Millisecond),
		tCont.Sub(tNet).Round(time.Millisecond), time.Since(tCont).Round(time.Millisecond))
	return e, nil
}

func (e *Ensemble) logf(format string, args ...any) {
	if e.opts.Logf != nil {
		e.opts.Logf(format, args...)
	}
}

// parallel runs f for every node index and joins the errors.
func (e *Ensemble) parallel(ctx context.Context, f func(ctx context.Context, i int) error) error {
	errs := make([]error, len(e.nodes))
	var wg sync.WaitGroup
	for i := range e.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(ctx, i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createNetwork makes the ensemble's bridge network on a free /24 in
// 10.192.0.0/10 (static node addresses need a subnet chosen by us). It is
// neither internal (the host reaches the nodes at their addresses) nor
// attachable. testcontainers names it with a random UUID; LabelRun ties it
// to the run.
func (e *Ensemble) createNetwork(ctx context.Context, labels map[string]string) (netip.Prefix, error) {
	var lastErr error
	for range 30 {
		r, _ := rand.Int(rand.Reader, big.NewInt(1<<14))
		x := r.Int64()
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(192 + x>>8), byte(x), 0}), 24)
		gw := subnet.Addr().As4()
		gw[3] = 1
		nw, err := tcnetwork.New(ctx,
			tcnetwork.WithIPAM(&network.IPAM{Config: []network.IPAMConfig{{
				Subnet: subnet, Gateway: netip.AddrFrom4(gw),
			}}}),
			tcnetwork.WithLabels(labels),
		)
		if err == nil {
			e.net = nw
			return subnet, nil
		}
		lastErr = err
		// Another network (of a concurrent run, say) has that subnet: draw
		// again.
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	return netip.Prefix{}, fmt.Errorf("create network of run %s: %w", e.runID, lastErr)
}

func (e *Ensemble) containerName(id string) string { return "splitbrain-" + e.runID + "-" + id }

// imagePorts returns loopback-only bindings for the ports image exposes
// (none for our FROM-scratch images). Given no ExposedPorts, testcontainers
// publishes every port the image exposes on a random host port on all
// interfaces; we reach nodes at their container addresses and published
// nothing before, so a base image's EXPOSE at least stays on 127.0.0.1.
// The inspection doubles as our check that the image is on the engine:
// testcontainers pulls images it does not find, and we never pull.
func imagePorts(ctx context.Context, image string) (network.PortMap, error) {
	cli, err := Docker()
	if err != nil {
		return nil, err
	}
	res, err := cli.ImageInspect(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", image, err)
	}
	if res.Config == nil || len(res.Config.ExposedPorts) == 0 {
		return nil, nil
	}
	pm := network.PortMap{}
	for s := range res.Config.ExposedPorts {
		p, err := network.ParsePort(s)
		if err != nil {
			return nil, fmt.Errorf("image %s: exposed port %q: %w", image, s, err)
		}
		pm[p] = []network.PortBinding{{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1})}}
	}
	return pm, nil
}

// createNode creates and starts node i's container through testcontainers.
// The request mirrors what a plain ContainerCreate did: our entrypoint,
// command, environment (in order, hence ConfigModifier rather than the
// Env map), hostname and labels; NET_ADMIN for the agent's drop rules; and
// one network, with the node's fixed address set in
// EndpointSettingsModifier, so the address is part of the create call.
// (An engine with API 1.41 takes one endpoint at create; testcontainers
// connects every further entry of Networks afterwards, without an
// address. We have one network, so nothing is connected twice.) With the
// modifiers set, testcontainers ignores its deprecated request fields
// (Hostname, CapAdd, ...), so everything goes through them. NetworkMode
// names our network, as before and as the docker CLI does (engine 20.10
// attaches the same given "default", but inspect would say "default").
// Readiness stays with waitReady, which all nodes run after all are
// started, and which reports a server that exits at start with its log.
func (e *Ensemble) createNode(ctx context.Context, i int, peers []systems.Peer, labels map[string]string) error {
	cli, err := Docker()
	if err != nil {
		return err
	}
	nd := &e.nodes[i]
	self := peers[i]
	argv := e.sys.Argv(self, peers)
	cmd := []string{"--id", nd.ID, "--mkdir", e.sys.Data() + "/" + nd.ID}
	switch e.sys.Clock {
	case systems.ClockContract:
		cmd = append(cmd, "--clock-url", "http://127.0.0.1:"+strconv.Itoa(e.sys.ClientPort)+"/clock")
	case systems.ClockFile:
		cmd = append(cmd, "--clock-file", systems.ClockFilePath)
	}
	if e.opts.NoStart {
		cmd = append(cmd, "--no-start")
	}
	cmd = append(cmd, "--")
	cmd = append(cmd, argv...)
	env := make([]string, len(e.sys.Env))
	for j, v := range e.sys.Env {
		env[j] = e.sys.Expand(v, self, peers)
	}
	l := map[string]string{LabelNode: nd.ID}
	for k, v := range labels {
		l[k] = v
	}
	netName := e.net.Name
	hooks := testcontainers.ContainerLifecycleHooks{
		PostCreates: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
			// The id as soon as there is one: Teardown and a failing
			// waitReady (its logs) need it even if the start fails.
			nd.Container = c.GetContainerID()
			if len(e.sys.Files) == 0 {
				return nil
			}
			// One tar with every file (parents created by the engine);
			// testcontainers' Files would copy them one call each.
			return copyFiles(ctx, cli, c.GetContainerID(), e.sys, self, peers)
		}},
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:      e.image,
			Name:       e.containerName(nd.ID),
			Entrypoint: []string{agentPath},
			Cmd:        cmd,
			Labels:     l,
			Networks:   []string{netName},
			ConfigModifier: func(c *container.Config) {
				c.Hostname = nd.ID
				c.Env = env
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = container.NetworkMode(netName)
				hc.CapAdd = []string{"NET_ADMIN"}
				hc.PortBindings = clonePorts(e.ports)
			},
			EndpointSettingsModifier: func(eps map[string]*network.EndpointSettings) {
				ep := eps[netName]
				if ep == nil {
					// testcontainers leaves the entry out when its
					// inspection of the network fails; NetworkMode
					// still names it.
					ep = &network.EndpointSettings{}
					eps[netName] = ep
				}
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: nd.IP}
			},
			LifecycleHooks: []testcontainers.ContainerLifecycleHooks{hooks},
		},
		Started: true,
		Logger:  tclog.NewNoopLogger(),
	})
	if c != nil {
		// Also on error: a container that was created must be removed.
		e.ctrs[i] = c
		nd.Container = c.GetContainerID()
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", nd.ID, err)
	}
	return nil
}

// clonePorts copies pm: testcontainers adjusts the bindings it is given.
func clonePorts(pm network.PortMap) network.PortMap {
	if pm == nil {
		return nil
	}
	c := make(network.PortMap, len(pm))
	for p, b := range pm {
		c[p] = slices.Clone(b)
	}
	return c
}

// waitReady polls node n's agent until the server runs and accepts
// connections on the client port.
func (e *Ensemble) waitReady(ctx context.Context, n Node) error {
	a := e.agents[n.ID]
	var d net.Dialer
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		h, err := a.Health(cctx)
		cancel()
		switch {
		case err != nil:
			last = err
		case h.Server == agentapi.StateExited:
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			logs, lerr := e.Logs(lctx, n.ID)
			cancel()
			if lerr != nil {
				logs = []byte(lerr.Error())
			}
			if len(logs) > 2000 {
				logs = logs[len(logs)-2000:]
			}
			return fmt.Errorf("node %s: the server exited at start (code %v, signal %q); its log ends:\n%s",
				n.ID, deref(h.ExitCode), h.Signal, bytes.TrimSpace(logs))
		case e.opts.NoStart && h.Server == agentapi.StateIdle:
			return nil
		case h.Server != agentapi.StateRunning:
			last = fmt.Errorf("server is %s", h.Server)
		default:
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			c, err := d.DialContext(cctx, "tcp", n.Addr)
			cancel()
			if err == nil {
				c.Close()
				return nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: not ready: %w (last: %v)", n.ID, ctx.Err(), last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// RunID is the run id on the ensemble's labels.
func (e *Ensemble) RunID() string { return e.runID }

// System is what the ensemble runs.
func (e *Ensemble) System() systems.System { return e.sys }

// Nodes are the nodes, n1 first.
func (e *Ensemble) Nodes() []Node { return slices.Clone(e.nodes) }

// Node returns the node with id.
func (e *Ensemble) Node(id string) (Node, bool) {
	for _, n := range e.nodes {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

func (e *Ensemble) agent(id string) (*agentapi.Client, error) {
	a, ok := e.agents[id]
	if !ok {
		return nil, fmt.Errorf("no node %q", id)
	}
	return a, nil
}

// Kill SIGKILLs node id's server and returns once it has exited. The
// container, its address, its data and its network rules stay.
func (e *Ensemble) Kill(ctx context.Context, id string) error {
	a, err := e.agent(id)
	if err != nil {
		return err
	}
	if _, err := a.Kill(ctx); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	return nil
}

// Start starts node id's server again (no-op when it runs), with the same
// command, address and data.
func (e *Ensemble) Start(ctx context.Context, id string) error {
	a, err := e.agent(id)
	if err != nil {
		return err
	}
	if _, err := a.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	return nil
}

// Pause SIGSTOPs node id's server (its whole process group). The agent
// keeps answering, so Resume works.
func (e *Ensemble) Pause(ctx context.Context, id string) error {
	a, err := e.agent(id)
	if err != nil {
		return err
	}
	if _, err := a.Pause(ctx); err != nil {
		return fmt.Errorf("pause %s: %w", id, err)
	}
	return nil
}

// Resume SIGCONTs node id's server.
func (e *Ensemble) Resume(ctx context.Context, id string) error {
	a, err := e.agent(id)
	if err != nil {
		return err
	}
	if _, err := a.Resume(ctx); err != nil {
		return fmt.Errorf("resume %s: %w", id, err)
	}
	return nil
}

// Partition cuts the ensemble into groups: nodes in different groups can't
// exchange packets (both directions, established connections included);
// nodes listed in no group form one more group. It replaces any earlier
// partition or Block. The host still reaches every node.
func (e *Ensemble) Partition(ctx context.Context, groups ...[]string) error {
	group := map[string]int{}
	for gi, g := range groups {
		for _, id := range g {
			if _, ok := e.agents[id]; !ok {
				return fmt.Errorf("partition: no node %q", id)
			}
			if _, dup := group[id]; dup {
				return fmt.Errorf("partition: node %s in two groups", id)
			}
			group[id] = gi
		}
	}
	for _, n := range e.nodes {
		if _, ok := group[n.ID]; !ok {
			group[n.ID] = len(groups)
		}
	}
	blocked := map[[2]string]bool{}
	for _, a := range e.nodes {
		for _, b := range e.nodes {
			if a.ID != b.ID && group[a.ID] != group[b.ID] {
				blocked[[2]string{a.ID, b.ID}] = true
			}
		}
	}
	return e.setBlocked(ctx, blocked)
}

// Block drops the packets from every node in from to every node in to, one
// way, in addition to the rules in place. (TCP needs both ways, so a
// one-way block stalls connections too; datagrams show the asymmetry.)
func (e *Ensemble) Block(ctx context.Context, from, to []string) error {
	e.mu.Lock()
	blocked := make(map[[2]string]bool, len(e.blocked))
	for k := range e.blocked {
		blocked[k] = true
	}
	e.mu.Unlock()
	for _, a := range from {
		for _, b := range to {
			if _, ok := e.agents[a]; !ok {
				return fmt.Errorf("block: no node %q", a)
			}
			if _, ok := e.agents[b]; !ok {
				return fmt.Errorf("block: no node %q", b)
			}
			if a != b {
				blocked[[2]string{a, b}] = true
			}
		}
	}
	return e.setBlocked(ctx, blocked)
}

// Heal removes every partition and block.
func (e *Ensemble) Heal(ctx context.Context) error {
	return e.setBlocked(ctx, map[[2]string]bool{})
}

// setBlocked makes the nodes' drop rules match blocked (pairs from->to) and
// pushes them to every node at once.
func (e *Ensemble) setBlocked(ctx context.Context, blocked map[[2]string]bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ip := map[string]string{}
	for _, n := range e.nodes {
		ip[n.ID] = n.IP.String()
	}
	err := e.parallel(ctx, func(ctx context.Context, i int) error {
		self := e.nodes[i].ID
		d := agentapi.Drops{In: []string{}, Out: []string{}}
		for _, n := range e.nodes {
			if blocked[[2]string{n.ID, self}] {
				d.In = append(d.In, ip[n.ID])
			}
			if blocked[[2]string{self, n.ID}] {
				d.Out = append(d.Out, ip[n.ID])
			}
		}
		if err := e.agents[self].SetDrops(ctx, d); err != nil {
			return fmt.Errorf("drops on %s: %w", self, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.blocked = blocked
	return nil
}

// Clock skews node id's clock as the node contract defines it: from now
// on it reads true time + offset and advances rate times as fast (1: true
// rate, 0: frozen; offset is relative to true time, so Clock(ctx, id, 0, 1)
// restores the true clock). The error matches
// errors.ErrUnsupported when the system has no clock control. The agent
// applies the skew again whenever the server restarts.
func (e *Ensemble) Clock(ctx context.Context, id string, offset time.Duration, rate float64) error {
	a, err := e.agent(id)
	if err != nil {
		return err
	}
	if _, err := a.Clock(ctx, agentapi.Clock{OffsetMS: offset.Milliseconds(), Rate: rate}); err != nil {
		return fmt.Errorf("clock %s: %w", id, err)
	}
	return nil
}

// Netem delays (and drops a fraction loss of) every packet node id sends
// (to peers and to the host alike); zero values remove it. Without netem in
// the kernel, loss alone is done with netfilter (random drops) and a delay
// fails with an error that matches errors.ErrUnsupported and gives the
// reason; Capabilities tells in advance.
func (e *Ensemble) Netem(ctx context.Context, id string, delay time.Duration, loss float64) error {
	a, err := e.agent(id)
	if err != nil {
		return err
	}
	if err := a.Netem(ctx, agentapi.Netem{DelayMS: delay.Milliseconds(), Loss: loss}); err != nil {
		return fmt.Errorf("netem %s: %w", id, err)
	}
	return nil
}

// Capabilities says which faults the nodes can have (netem needs a kernel
// with sch_netem, clock faults a system with clock control), with the
// reason for each one missing. All nodes share the kernel and the image,
// so n1 answers for all.
func (e *Ensemble) Capabilities(ctx context.Context) (agentapi.Capabilities, error) {
	k, err := e.agents[e.nodes[0].ID].Capabilities(ctx)
	if err != nil {
		return k, fmt.Errorf("capabilities: %w", err)
	}
	return k, nil
}

// Health is node id's agent's view (server state, rules, skew).
func (e *Ensemble) Health(ctx context.Context, id string) (agentapi.Health, error) {
	a, err := e.agent(id)
	if err != nil {
		return agentapi.Health{}, err
	}
	return a.Health(ctx)
}

// Logs returns node id's container log: the server's stdout and stderr and
// the agent's own messages, interleaved as written. Call it before
// Teardown.
func (e *Ensemble) Logs(ctx context.Context, id string) ([]byte, error) {
	n, ok := e.Node(id)
	if !ok {
		return nil, fmt.Errorf("logs: no node %q", id)
	}
	cli, err := Docker()
	if err != nil {
		return nil, err
	}
	rc, err := cli.ContainerLogs(ctx, n.Container, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, fmt.Errorf("logs %s: %w", id, err)
	}
	defer rc.Close()
	var w lockedBuffer
	if _, err := stdcopy.StdCopy(&w, &w, rc); err != nil && !errors.Is(err, io.EOF) {
		return w.Bytes(), fmt.Errorf("logs %s: %w", id, err)
	}
	return w.Bytes(), nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b
}

// Teardown delivers the events still in flight, then removes the
// ensemble's containers and network. It works with a fresh context even
// after the run's context was cancelled (Ctrl-C); a second call returns the
// first one's result.
func (e *Ensemble) Teardown(ctx context.Context) error {
	e.tearOnce.Do(func() { e.tearErr = e.teardown(ctx) })
	return e.tearErr
}

func (e *Ensemble) teardown(ctx context.Context) error {
	e.evCancel()
	e.evWG.Wait()
	if e.opts.OnEvent != nil {
		// What the followers hadn't delivered yet.
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		e.parallel(dctx, func(ctx context.Context, i int) error {
			id := e.nodes[i].ID
			next := e.evNext[id]
			if next == nil {
				return nil
			}
			return e.agents[id].Events(ctx, *next, false, func(ev Event) error {
				*next = ev.Seq + 1
				e.opts.OnEvent(ev)
				return nil
			})
		})
		cancel()
	}
	var mu sync.Mutex
	var errs []error
	e.parallel(ctx, func(ctx context.Context, i int) error {
		c := e.ctrs[i]
		if c == nil {
			return nil
		}
		// A zero stop timeout: the engine SIGKILLs right after the
		// SIGTERM, as the forced removal did before; nothing in a node
		// is worth the default 10 s grace at teardown.
		err := c.Terminate(ctx, testcontainers.StopTimeout(0))
		if err != nil && !isNotFound(err) {
			mu.Lock()
			errs = append(errs, fmt.Errorf("remove node %s: %w", e.nodes[i].ID, err))
			mu.Unlock()
		}
		return nil
	})
	if e.net != nil {
		if err := e.net.Remove(ctx); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network: %w", err))
		}
	}
	// By label too: a create cut short by a cancelled context may still
	// have made a container (or network) whose id never reached us, and
	// the engine may finish such a create a moment later.
	for pass := 0; len(errs) == 0; pass++ {
		n, err := CleanRun(ctx, e.runID)
		if err != nil {
			errs = append(errs, err)
		}
		if n == 0 && (pass > 0 || !e.startFailed) {
			break
		}
		if pass == 5 {
			errs = append(errs, fmt.Errorf("run %s: things keep appearing", e.runID))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("teardown %s: %w", e.runID, err)
	}
	e.logf("ensemble %s: torn down", e.runID)
	return nil
}
