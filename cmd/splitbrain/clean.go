package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/rundir"
)

func init() { subcommands = append(subcommands, newCleanCmd) }

func newCleanCmd() *cobra.Command {
	var all, images bool
	cmd := &cobra.Command{
		Use:   "clean [DIR...]",
		Short: "Remove the containers and networks that killed runs left behind",
		Long: `clean removes every splitbrain container and network whose run is no longer
alive on this host (a harness killed with SIGKILL, a crashed test). Runs still
going are left alone unless --all. Every run does this at its start too.

With run directories, clean removes only the ensembles those runs started
(run.json's ensemble), whether their harness still runs or not.

Exit codes: 0 done, 3 could not clean (no Docker engine, a DIR without
run.json, ...).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var runIDs []string
			for _, dir := range args {
				st, err := rundir.ReadSettings(dir)
				if err != nil {
					return &exitError{code: exitCannotRun, err: fmt.Errorf("clean: %w", err)}
				}
				if st.Ensemble == "" {
					return &exitError{code: exitCannotRun, err: fmt.Errorf("clean: %s: run.json names no ensemble", dir)}
				}
				runIDs = append(runIDs, st.Ensemble)
			}
			if _, err := clusters.Ping(ctx); err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("clean: no Docker engine answers: %w", err)}
			}
			if len(runIDs) > 0 {
				n := 0
				for i, id := range runIDs {
					m, err := clusters.CleanRun(ctx, id)
					n += m
					if err != nil {
						return &exitError{code: exitCannotRun, err: fmt.Errorf("clean %s: %w", args[i], err)}
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d containers and networks\n", n)
				return nil
			}
			clean := clusters.Clean
			if all {
				clean = clusters.CleanAll
			}
			n, err := clean(ctx)
			if err != nil {
				return &exitError{code: exitCannotRun, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d containers and networks\n", n)
			if images {
				m, err := clusters.CleanImages(ctx)
				if err != nil {
					return &exitError{code: exitCannotRun, err: err}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %d old node images\n", m)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also remove the containers of runs still alive")
	cmd.Flags().BoolVar(&images, "images", false, "also remove old node images (the newest of each system stays)")
	return cmd
}
