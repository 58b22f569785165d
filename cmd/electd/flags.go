package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/bugs"
	"github.com/splitbrain/splitbrain/election/node"
)

// options is a parsed and validated command line.
type options struct {
	id              string
	listen          string
	peers           []node.Peer
	data            string
	algo            string
	bugList         []string
	bugSet          map[string]bool
	electionTimeout time.Duration
	heartbeat       time.Duration
	leaseReads      bool
	seed            int64 // with seeded: the randomized timeouts' seed
	seeded          bool
	listBugs        bool
	verbose         bool
}

var errHelp = errors.New("help requested")

// parseArgs parses and validates the command line. Every error is one line
// that names the offending flag, so a harness log shows at once what to fix.
func parseArgs(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("electd", flag.ContinueOnError)
	// The flag package would print its own multi-line usage on error; we
	// want a single line, so it writes nowhere and we report the error.
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.id, "id", "", "")
	fs.StringVar(&o.listen, "listen", "", "")
	peers := fs.String("peers", "", "")
	fs.StringVar(&o.data, "data", "", "")
	fs.StringVar(&o.algo, "algo", "", "")
	bugFlag := fs.String("bug", "", "")
	fs.DurationVar(&o.electionTimeout, "election-timeout", 300*time.Millisecond, "")
	fs.DurationVar(&o.heartbeat, "heartbeat", 50*time.Millisecond, "")
	readMode := fs.String("read-mode", "", "")
	seed := fs.String("seed", "", "")
	fs.BoolVar(&o.listBugs, "list-bugs", false, "")
	fs.BoolVar(&o.verbose, "v", false, "")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (every setting is a --flag)", fs.Arg(0))
	}
	if o.listBugs {
		return o, nil
	}

	switch o.algo {
	case "raft", "zab":
	case "":
		return o, errors.New("--algo is required: raft or zab")
	default:
		return o, fmt.Errorf("--algo %q: must be raft or zab", o.algo)
	}
	if protocols[o.algo] == nil {
		return o, fmt.Errorf("--algo %s: not built into this electd yet", o.algo)
	}
	if o.id == "" {
		return o, errors.New("--id is required")
	}
	if *peers == "" {
		return o, errors.New("--peers is required, e.g. n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103")
	}
	var err error
	if o.peers, err = parsePeers(*peers); err != nil {
		return o, fmt.Errorf("--peers: %w", err)
	}
	self := ""
	for _, p := range o.peers {
		if p.ID == o.id {
			self = p.Addr
		}
	}
	if self == "" {
		return o, fmt.Errorf("--id %q is not in --peers", o.id)
	}
	if o.listen == "" {
		o.listen = self
	} else if err := checkAddr(o.listen, true); err != nil {
		return o, fmt.Errorf("--listen %q: %w", o.listen, err)
	}
	if o.data == "" {
		return o, errors.New("--data is required: the directory for this node's write-ahead file")
	}
	if o.bugSet, err = bugs.Parse(*bugFlag, o.algo); err != nil {
		return o, fmt.Errorf("--bug: %w", err)
	}
	o.bugList = bugs.Names(o.bugSet)
	if *seed != "" {
		if o.seed, err = strconv.ParseInt(*seed, 10, 64); err != nil {
			return o, fmt.Errorf("--seed %q: want an integer", *seed)
		}
		o.seeded = true
	}
	if o.electionTimeout <= 0 {
		return o, fmt.Errorf("--election-timeout %v: must be positive", o.electionTimeout)
	}
	if o.heartbeat <= 0 {
		return o, fmt.Errorf("--heartbeat %v: must be positive", o.heartbeat)
	}
	if o.heartbeat >= o.electionTimeout {
		// Followers would time out between heartbeats and elections would
		// never settle.
		return o, fmt.Errorf("--heartbeat %v: must be shorter than --election-timeout %v", o.heartbeat, o.electionTimeout)
	}
	if need := bugs.ReadMode(o.bugSet); need != "" {
		switch *readMode {
		case "":
			// The bug only acts on that read path: switch to it rather
			// than run a bug that cannot show.
			*readMode = need
		case need:
		default:
			return o, fmt.Errorf("--read-mode %s: --bug %s acts only with --read-mode %s", *readMode, strings.Join(o.bugList, ","), need)
		}
	}
	switch *readMode {
	case "", "quorum":
	case "lease":
		if o.algo != "raft" {
			// Silently serving quorum reads would let a lease experiment
			// pass without testing any lease.
			return o, fmt.Errorf("--read-mode lease: only --algo raft has lease reads (%s always reads through a quorum)", o.algo)
		}
		o.leaseReads = true
	default:
		return o, fmt.Errorf("--read-mode %q: must be quorum or lease", *readMode)
	}
	return o, nil
}

// parsePeers parses id=host:port,id=host:port,... keeping the order, which
// the protocols use as the ensemble's fixed order.
func parsePeers(s string) ([]node.Peer, error) {
	var out []node.Peer
	ids := map[string]bool{}
	addrs := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		id, addr, ok := strings.Cut(item, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("%q is not id=host:port", item)
		}
		if strings.ContainsAny(id, " \t/?#&=%") {
			return nil, fmt.Errorf("id %q: ids may not contain spaces or any of /?#&=%%", id)
		}
		if ids[id] {
			return nil, fmt.Errorf("id %q listed twice", id)
		}
		if addrs[addr] {
			return nil, fmt.Errorf("address %s listed twice", addr)
		}
		if err := checkAddr(addr, false); err != nil {
			return nil, fmt.Errorf("%s: %w", item, err)
		}
		ids[id], addrs[addr] = true, true
		out = append(out, node.Peer{ID: id, Addr: addr})
	}
	return out, nil
}

// checkAddr validates host:port. A listen address may leave the host empty
// (all interfaces); a peer address may not, since others must dial it.
func checkAddr(addr string, listen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %v", err)
	}
	if host == "" && !listen {
		return errors.New("host is empty")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not a number in 1-65535", port)
	}
	return nil
}

func (o options) nodeConfig(events io.Writer, logger *slog.Logger) node.Config {
	var rnd interface{ Int63n(int64) int64 } // nil: node seeds it from the clock
	if o.seeded {
		rnd = election.NewRand(o.seed, o.id)
	}
	return node.Config{
		ID:      o.id,
		Peers:   o.peers,
		DataDir: o.data,
		NewProtocol: func(c election.Config) (election.Protocol, error) {
			return protocols[o.algo](c, logger.With("node", o.id, "algo", o.algo))
		},
		Protocol: election.Config{
			ElectionTimeout: o.electionTimeout,
			Heartbeat:       o.heartbeat,
			LeaseReads:      o.leaseReads,
			Bugs:            o.bugSet,
			Rand:            rnd,
		},
		Events: events,
		Logger: logger,
	}
}

func listBugs(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUG\tALGO\tFAULT EXPECTED TO EXPOSE IT\tCHECKER EXPECTED TO SEE IT")
	for _, b := range bugs.All {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Name, b.Algo, b.Fault, b.Checker)
	}
	tw.Flush()
}

func usage() string {
	return `electd runs one node of a Raft or ZAB ensemble serving a linearizable register.

usage:
  electd --id n1 --listen 127.0.0.1:7101 \
         --peers n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103 \
         --data DIR --algo raft|zab [--bug NAME[,NAME...]] \
         [--election-timeout 300ms] [--heartbeat 50ms] [--read-mode quorum|lease] [--seed N] [-v]
  electd --list-bugs

flags:
  --id                this node's id; must appear in --peers
  --listen            host:port to serve peers and clients on (default: this node's --peers address)
  --peers             every node as id=host:port, comma separated, in a fixed order
  --data              directory of this node's write-ahead file (created if missing)
  --algo              raft or zab
  --bug               planted bugs to switch on (see --list-bugs); must match --algo
  --election-timeout  election timeout on the local clock (default 300ms)
  --heartbeat         heartbeat interval on the local clock (default 50ms)
  --read-mode         quorum (ReadIndex) or lease (Raft lease reads; raft only) (default quorum,
                      or lease with a bug that acts only on lease reads: raft.lease-no-drift)
  --seed              seed of the randomized timeouts, each node mixing in its --id, so a rerun
                      with the same seed draws the same timeouts (default: from the clock)
  --list-bugs         print every planted bug, the fault and the checker expected to catch it
  -v                  debug logging

Logs go to stderr; stdout carries one JSON event per line. Exit codes: 0 stopped cleanly,
1 failed while running, 2 bad command line. See docs/node-contract.md.
`
}
