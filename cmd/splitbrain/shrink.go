package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/splitbrain/splitbrain/runner"
	"github.com/splitbrain/splitbrain/shrink"
)

func init() { subcommands = append(subcommands, newShrinkCmd) }

// shrinkRunner makes the runner the shrink command uses; the tests swap it
// for a fake.
var shrinkRunner = func(opts runner.Options) shrink.Runner { return shrink.Docker{Options: opts} }

// printShrink prints the search's answer and the confirmations. The first
// line is about the smallest failing schedule the search found; when a
// larger one was kept for failing again more often, a second line says so.
func printShrink(out io.Writer, res shrink.Result, tried string) {
	state := "minimal: no single fault can be removed"
	switch {
	case res.Interrupted:
		state = "interrupted: the smallest failing schedule so far"
	case !res.Minimal:
		state = "the budget ran out: the smallest failing schedule so far"
	}
	found := len(res.Kept)
	aside := res.SetAside()
	if aside != nil {
		found = aside.Faults
	}
	fmt.Fprintf(out, "shrink:   %d faults to %d (%s; %s)\n", res.Original, found, state, tried)
	if aside != nil {
		fmt.Fprintf(out, "shrink:   kept %d of the %d faults: %s\n", len(res.Kept), res.Original, aside)
	}
	if res.Confirmations > 0 {
		fmt.Fprintf(out, "confirm:  failed again (%s) in %d of %d replays (the original: at replay %d)\n",
			strings.Join(res.Checkers, " or "), res.Confirmed, res.Confirmations, res.OriginalReplays)
	}
}

func newShrinkCmd() *cobra.Command {
	var (
		budget     time.Duration
		replays    int
		confirm    int
		store      string
		verbose    bool
		linTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "shrink DIR",
		Short: "Reduce a failing run's fault schedule to the fewest faults that still fail",
		Long: `shrink replays subsets of a failing run's fault schedule (delta debugging),
each with the run's settings and its faults at their own offsets, and keeps
the smallest schedule that still fails. Runs are not deterministic, so each
candidate is replayed up to --replays times and fails when any replay is
invalid by one of the checkers that found the original (invalid by another
checker is another bug, not counted); the original schedule itself gets
three times as many replays to fail again before shrink gives up. The
smallest failing schedule is then replayed --confirm more times: how often
it fails again is the figure a replay of it can count on. The time limit
stays the original's, since a fault's effect can come after its end.

The answer is a normal run directory (the failing replay of the smallest
schedule, its report saying what it was shrunk from and how often it failed
again, its shrink.json the figures); the other replays are removed.

Exit codes: 1 a failing schedule no larger than the original is confirmed;
2 the original failure did not reproduce within the budget; 3 could not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("shrink %s: not a run directory", dir)}
			}
			ctx, stop, sess := newSession(cmd, verbose)
			defer stop()
			res, err := shrink.Run(ctx, shrink.Options{Dir: dir, Store: store, Budget: budget, Replays: replays, Confirm: confirm, Log: sess.log, Program: sess.program,
				Runner: shrinkRunner(runner.Options{Log: sess.log, Progress: cmd.ErrOrStderr(), Live: sess.live,
					Program: sess.program, LinearizableTimeout: linTimeout})})
			if err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("shrink: %w", err)}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out)
			tried := fmt.Sprintf("%d candidates, %d replays, %s", res.Candidates, res.Runs, res.Elapsed.Round(time.Second))
			if !res.Reproduced {
				why := "the original failure did not reproduce"
				if res.Interrupted {
					why += " before the interrupt"
				}
				fmt.Fprintf(out, "shrink:   %s in %d replays (%s)\n", why, res.Runs, tried)
				return &exitError{code: exitUnknown}
			}
			b := res.Best
			printReport(out, b.Report)
			printShrink(out, res, tried)
			fmt.Fprintf(out, "run:      %s\n", b.Dir)
			if b.ReportFile != "" {
				fmt.Fprintf(out, "report:   %s\n", b.ReportFile)
			}
			fmt.Fprintf(out, "replay:   %s\n", b.Replay)
			if res.ExitCode != exitInvalid {
				return &exitError{code: res.ExitCode, err: errors.New("shrink: no failing schedule confirmed")}
			}
			return &exitError{code: exitInvalid}
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.DurationVar(&budget, "budget", shrink.DefaultBudget, "how long to shrink: no replay starts that would end past it")
	fl.IntVar(&replays, "replays", shrink.DefaultReplays, "replays of each candidate schedule; it fails when any replay is invalid")
	fl.IntVar(&confirm, "confirm", shrink.DefaultConfirm, "replays of the smallest schedule after the search, to say how often it fails again (0: none)")
	fl.StringVar(&store, "store", "", "where the replays go (default: the store DIR is in)")
	fl.DurationVar(&linTimeout, "check-timeout", 60*time.Second, "time budget of each replay's linearizability search; out of time is unknown")
	fl.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}
