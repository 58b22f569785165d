package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/splitbrain/splitbrain/checker"
)

func init() { subcommands = append(subcommands, newCheckCmd) }

func newCheckCmd() *cobra.Command {
	var opts checker.Options
	cmd := &cobra.Command{
		Use:   "check DIR",
		Short: "Judge a stored run: linearizability and the single-leader invariants",
		Long: `check reads DIR/history.jsonl (and DIR/events.jsonl when present), runs the
checkers, writes DIR/results.json and prints a summary.

It judges what it has: without events.jsonl, the checkers that read node
events (election-safety, lease-safety, term-monotonic, liveness) are
skipped, and the verdict comes from the checkers that ran. An events.jsonl
with no role event leaves the leader checkers unknown. lease-safety is
skipped when no node took a lease.

Exit codes: 0 valid, 1 invalid, 2 unknown, 3 could not check.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("check: %s is not a run directory", dir)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			if err := checker.CheckNames(opts.Checkers); err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("check: --checkers: %w", err)}
			}
			opts.VisualizeDir = dir
			rep, err := checker.CheckDir(ctx, dir, opts)
			if err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("check: %w", err)}
			}
			if err := checker.WriteReport(dir, rep); err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("check: %w", err)}
			}
			printReport(cmd.OutOrStdout(), rep)
			if code := rep.Verdict.ExitCode(); code != exitValid {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&opts.LinearizableTimeout, "timeout", 60*time.Second, "time budget of the linearizability search; out of time is unknown")
	cmd.Flags().StringSliceVar(&opts.Checkers, "checkers", nil, "run only these checkers, comma-separated ("+strings.Join(checker.Names, ", ")+"); default all")
	cmd.Flags().DurationVar(&opts.LivenessBound, "liveness-bound", 10*time.Second, "how soon after the last fault heals a leader must be reported")
	return cmd
}

// printReport writes the short summary every command that judges a run prints.
func printReport(w io.Writer, rep checker.Report) {
	for _, warn := range rep.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	for _, r := range rep.Checkers {
		fmt.Fprintf(w, "%-16s %-8s %s\n", r.Name, r.Verdict, r.Summary)
	}
	skipped := 0
	for _, r := range rep.Checkers {
		if r.Verdict == checker.Skipped {
			skipped++
		}
	}
	tail := ""
	if skipped > 0 {
		tail = fmt.Sprintf("; %d checker(s) skipped", skipped)
	}
	fmt.Fprintf(w, "verdict: %s (%d history entries, %d node events%s)\n", rep.Verdict, rep.Ops, rep.Events, tail)
}
