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
	if err := run(); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run() error {
	id := flag.String("id", "", "node id (required)")
	listen := flag.String("listen", fmt.Sprintf(":%d", agentapi.Port), "control API address")
	clockURL := flag.String("clock-url", "", "the server's node-contract POST /clock URL; empty: no clock faults")
	mkdir := flag.String("mkdir", "", "comma-separated directories to create before the server starts")
	noStart := flag.Bool("no-start", false, "don't start the server until asked")
	flag.Parse()
	if *id == "" {
		return errors.New("--id is required")
	}
	argv := flag.Args()
	if len(argv) == 0 {
		return errors.New("no server command after --")
	}
	for _, d := range strings.Split(*mkdir, ",") {
		if d = strings.TrimSpace(d); d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("mkdir: %w", err)
			}
		}
	}
	_, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fmt.Errorf("--listen: port: %w", err)
	}
	a := nodeagent.New(nodeagent.Config{
		Node:       *id,
		Argv:       argv,
		ClockURL:   *clockURL,
		Stdout:     os.Stdout,
		Net:        &nodeagent.NFTables{ExemptPort: uint16(port)},
		Netem:      nodeagent.ApplyNetem,
		ProbeNetem: nodeagent.ProbeNetem,
	})
	if os.Getpid() == 1 {
		go nodeagent.ReapOrphans(context.Background(), time.Second)
	}
	srv := &http.Server{Addr: *listen, Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	if !*noStart {
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
