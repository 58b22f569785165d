// Command electd runs one node of a leader-election ensemble (Raft or ZAB)
// that serves a linearizable integer register over HTTP, with planted bugs
// that can be switched on one by one. It is the system splitbrain attacks;
// docs/node-contract.md is the interface it implements.
//
//	electd --id n1 --listen 127.0.0.1:7101 \
//	  --peers n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103 \
//	  --data DIR --algo raft|zab [--bug NAME[,NAME...]] \
//	  [--election-timeout 300ms] [--heartbeat 50ms] [--read-mode quorum|lease] [--seed N]
//
// Logs go to stderr; stdout carries only events, one JSON object a line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/splitbrain/splitbrain/election/node"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the node ran and failed: cannot listen, damaged write-ahead file
	exitUsage = 2 // bad command line
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usage())
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "electd: %v\n", err)
		return exitUsage
	}
	if opts.listBugs {
		listBugs(stdout)
		return exitOK
	}

	level := slog.LevelInfo
	if opts.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	n, err := node.New(opts.nodeConfig(stdout, logger))
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exitFail
	}
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		logger.Error("cannot listen", "flag", "--listen", "addr", opts.listen, "err", err)
		return exitFail
	}
	// SIGTERM and SIGINT stop the node; SIGKILL is the harness's crash.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	seed := "clock"
	if opts.seeded {
		seed = strconv.FormatInt(opts.seed, 10)
	}
	logger.Info("electd starting", "id", opts.id, "algo", opts.algo, "bugs", opts.bugList, "listen", opts.listen, "seed", seed)
	if err := n.Run(ctx, ln); err != nil {
		logger.Error("node failed", "err", err)
		return exitFail
	}
	return exitOK
}
