// Package systems describes the systems splitbrain can run as ensembles:
// what goes into a node's image, how a node's server is started, which
// ports it serves and which client speaks to it. Package clusters turns a
// System into containers; it knows nothing system-specific beyond this
// description.
//
// A System is data. Templates in Args, Env and Files may use:
//
//	{id}      the node's id: n1, n2, ...
//	{index}   the node's number: 1, 2, ...
//	{ip}      the node's address on the ensemble's network
//	{listen}  0.0.0.0:ClientPort
//	{port}    ClientPort
//	{data}    the node's data directory (DataDir/{id})
//	{peers}   every node, each rendered with PeerFormat, joined with PeerSep
//	{seed}    the run's seed (Seed): the same in a replay, so a node that
//	          seeds its randomized timeouts with it draws them again
//
// PeerFormat itself may use {id}, {index}, {ip}, {port} and {peerport} of
// the peer it renders.
package systems

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Client protocols a system's nodes speak (System.Client).
const (
	// ClientContract is splitbrain's node contract over HTTP (GET /status,
	// GET/PUT /kv/{key}, POST /kv/{key}/cas, POST /clock); see
	// systems/contract.
	ClientContract = "contract"
)

// Clock methods (System.Clock): how a node's clock is skewed.
const (
	ClockNone     = ""         // no clock faults
	ClockContract = "contract" // POST /clock {"offset_ms","rate"} on ClientPort
	// ClockFile: the agent writes the skew to ClockFilePath, one line
	// "<at_unix_ns> <offset_ns> <rate>" (local(t) = at + offset +
	// rate*(t-at)), replaced atomically; for servers that read it through
	// an LD_PRELOAD shim of clock_gettime (see Env). The file outlives
	// server restarts, like a machine's clock.
	ClockFile = "file"
)

// ClockFilePath is where ClockFile skews are written in the container.
const ClockFilePath = "/tmp/splitbrain.clock"

// Binary is a file that goes into the image.
type Binary struct {
	// Dest is the path in the image, e.g. "/electd".
	Dest string
	// Package is a Go package (import path or ./relative to the current
	// directory) built with CGO_ENABLED=0 for linux; or
	Package string
	// File is a prebuilt static binary on the host.
	File string
}

// File is a file written into every node's container before it starts.
type File struct {
	Path    string // absolute path in the container
	Content string // template
	Mode    int64  // 0 means 0644
}

// System describes how to run one node of a system.
type System struct {
	// Name names the system ("electd") and its image.
	Name string
	// BaseImage is the image the node image is built on. Empty means
	// "scratch": the image holds only the agent, Binaries and empty /tmp
	// and DataDir. Anything else must already exist on the engine (it is
	// never pulled).
	BaseImage string
	// Binaries go into the image next to the agent.
	Binaries []Binary
	// Args is the server's argv (templates); Args[0] is the program.
	Args []string
	// Env is the server's environment (templates), "KEY=value".
	Env []string
	// Files are written into each container before it starts.
	Files []File
	// DataDir is the parent of the nodes' data directories; "/data" if empty.
	DataDir string
	// ClientPort is the port of the client API (and of the clock control)
	// in the container.
	ClientPort int
	// PeerPort is the port peers talk to; ClientPort if 0.
	PeerPort int
	// PeerFormat renders one peer for {peers}; "{id}={ip}:{peerport}" if empty.
	PeerFormat string
	// PeerSep joins the rendered peers; "," if empty.
	PeerSep string
	// Client is the protocol clients speak (ClientContract, ...).
	Client string
	// Clock is how clock faults reach the node (ClockContract, or ClockNone).
	Clock string
	// Seed is {seed}; the runner sets it to the run's seed.
	Seed int64
}

// Peer is one node as templates see it.
type Peer struct {
	ID    string
	Index int
	IP    string
}

// Validate reports what's missing or inconsistent.
func (s System) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("no name"))
	}
	if len(s.Args) == 0 {
		errs = append(errs, errors.New("no args"))
	}
	if s.ClientPort <= 0 || s.ClientPort > 65535 {
		errs = append(errs, fmt.Errorf("client port %d", s.ClientPort))
	}
	for _, b := range s.Binaries {
		if b.Dest == "" || !strings.HasPrefix(b.Dest, "/") {
			errs = append(errs, fmt.Errorf("binary %q: Dest must be an absolute path", b.Dest))
		}
		if (b.Package == "") == (b.File == "") {
			errs = append(errs, fmt.Errorf("binary %s: give exactly one of Package and File", b.Dest))
		}
	}
	for _, f := range s.Files {
		if !strings.HasPrefix(f.Path, "/") || strings.HasSuffix(f.Path, "/") {
			errs = append(errs, fmt.Errorf("file %q: Path must be an absolute file path", f.Path))
		}
	}
	switch s.Clock {
	case ClockNone, ClockContract, ClockFile:
	default:
		errs = append(errs, fmt.Errorf("unknown clock method %q", s.Clock))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("system %q: %w", s.Name, err)
	}
	return nil
}

// Data is the data directory's parent.
func (s System) Data() string {
	if s.DataDir == "" {
		return "/data"
	}
	return s.DataDir
}

func (s System) peerPort() int {
	if s.PeerPort == 0 {
		return s.ClientPort
	}
	return s.PeerPort
}

// Expand renders template t for node self of an ensemble of peers.
func (s System) Expand(t string, self Peer, peers []Peer) string {
	if !strings.Contains(t, "{") {
		return t
	}
	format, sep := s.PeerFormat, s.PeerSep
	if format == "" {
		format = "{id}={ip}:{peerport}"
	}
	if sep == "" {
		sep = ","
	}
	rendered := make([]string, len(peers))
	for i, p := range peers {
		rendered[i] = s.replacer(p).Replace(format)
	}
	data := s.Data() + "/" + self.ID
	r := strings.NewReplacer(
		"{id}", self.ID,
		"{index}", strconv.Itoa(self.Index),
		"{ip}", self.IP,
		"{listen}", "0.0.0.0:"+strconv.Itoa(s.ClientPort),
		"{port}", strconv.Itoa(s.ClientPort),
		"{peerport}", strconv.Itoa(s.peerPort()),
		"{data}", data,
		"{peers}", strings.Join(rendered, sep),
		"{seed}", strconv.FormatInt(s.Seed, 10),
	)
	return r.Replace(t)
}

func (s System) replacer(p Peer) *strings.Replacer {
	return strings.NewReplacer(
		"{id}", p.ID,
		"{index}", strconv.Itoa(p.Index),
		"{ip}", p.IP,
		"{port}", strconv.Itoa(s.ClientPort),
		"{peerport}", strconv.Itoa(s.peerPort()),
	)
}

// Argv renders Args for self.
func (s System) Argv(self Peer, peers []Peer) []string {
	out := make([]string, len(s.Args))
	for i, a := range s.Args {
		out[i] = s.Expand(a, self, peers)
	}
	return out
}
