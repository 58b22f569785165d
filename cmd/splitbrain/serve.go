package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/splitbrain/splitbrain/runstore"
)

func init() { subcommands = append(subcommands, newServeCmd) }

func newServeCmd() *cobra.Command {
	var addr, store string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the run store's reports over HTTP (localhost by default)",
		Long: `serve serves the run store: / lists every run (rendered afresh on each
request, so new runs appear), and each run's files are served as they are,
with its report.html built first when it is missing or older than the run's
results, history, events or settings. Only files inside the store are
served: not through ".." or a symbolic link, and no name starting with ".".

It listens on 127.0.0.1 unless --addr says otherwise: the store holds node
logs and commands, which need not be shared with the network.

It stops on Ctrl-C or SIGTERM. Exit codes: 0 stopped, 3 could not serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if st, err := os.Stat(store); err != nil || !st.IsDir() {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("serve: no run store at %s", store)}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("serve: %w", err)}
			}
			srv := &http.Server{Handler: runstore.Handler(store), ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s at http://%s/\n", store, ln.Addr())
			select {
			case err := <-errc:
				return &exitError{code: exitCannotRun, err: fmt.Errorf("serve: %w", err)}
			case <-ctx.Done():
			}
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("serve: %w", err)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&store, "store", "./store", "the run store: a directory of run directories")
	return cmd
}
