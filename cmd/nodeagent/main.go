// Command nodeagent is PID 1 of every node container: it runs the system's
// server as its child, stamps its events with the host's clock, applies
// faults (kill, pause, drops, netem, clock skew) and serves its control API
// to the harness. See package nodeagent/agentapi for the API.
//
//	nodeagent --id n1 [--listen :7070] [--clock-url URL] [--mkdir DIR,...] [--no-start] -- SERVER ARGS...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/splitbrain/splitbrain/nodeagent"
	"github.com/splitbrain/splitbrain/nodeagent/agentapi"
)

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	log.SetPrefix("nodeagent: ")
	log.SetOutput(os.Stderr)
	cfg, err := parseArgs(os.Args[1:])
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

type config struct {
	id, listen, clockURL, clockFile, mkdir string
	noStart                                bool
	port                                   uint16
	argv                                   []string
}

func parseArgs(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("nodeagent", flag.ContinueOnError)
	fs.StringVar(&c.id, "id", "", "node id (required)")
	fs.StringVar(&c.listen, "listen", fmt.Sprintf(":%d", agentapi.Port), "control API address")
	fs.StringVar(&c.clockURL, "clock-url", "", "the server's node-contract POST /clock URL; empty: no clock faults")
	fs.StringVar(&c.clockFile, "clock-file", "", "write clock skews to this file (\"<at_unix_ns> <offset_ns> <rate>\") for a clock shim in the server")
	fs.StringVar(&c.mkdir, "mkdir", "", "comma-separated directories to create before the server starts")
	fs.BoolVar(&c.noStart, "no-start", false, "don't start the server until asked")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.id == "" {
		return c, errors.New("--id is required")
	}
	c.argv = fs.Args()
	if len(c.argv) == 0 {
		return c, errors.New("no server command after --")
	}
	_, portStr, err := net.SplitHostPort(c.listen)
	if err != nil {
		return c, fmt.Errorf("--listen: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return c, fmt.Errorf("--listen: port: %w", err)
	}
	c.port = uint16(port)
	return c, nil
}

func run(c config) error {
	for _, d := range strings.Split(c.mkdir, ",") {
		if d = strings.TrimSpace(d); d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("mkdir: %w", err)
			}
		}
	}
	a := nodeagent.New(nodeagent.Config{
		Node:       c.id,
		Argv:       c.argv,
		ClockURL:   c.clockURL,
		ClockFile:  c.clockFile,
		Stdout:     os.Stdout,
		Net:        &nodeagent.NFTables{ExemptPort: c.port},
		Netem:      nodeagent.ApplyNetem,
		ProbeNetem: nodeagent.ProbeNetem,
	})
	if os.Getpid() == 1 {
		go nodeagent.ReapOrphans(context.Background(), time.Second)
	}
	srv := &http.Server{Addr: c.listen, Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	if !c.noStart {
		if _, err := a.Start(); err != nil {
			log.Printf("start: %v", err)
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return fmt.Errorf("control API: %w", err)
	case s := <-sigs:
		log.Printf("%v: stopping", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.Stop(ctx)
	_ = srv.Shutdown(ctx)
	return nil
}
