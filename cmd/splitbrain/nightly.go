package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/splitbrain/splitbrain/nightly"
	"github.com/splitbrain/splitbrain/runner"
)

func init() { subcommands = append(subcommands, newNightlyCmd) }

// nightlyRunner makes the runner the nightly command uses; the tests swap
// it for a fake, since a real run takes minutes and Docker.
var nightlyRunner = func(opts runner.Options) nightly.Runner { return nightly.Docker{Options: opts} }

func newNightlyCmd() *cobra.Command {
	var (
		file, store, junit   string
		dryRun, requireFound bool
		verbose              bool
		linTimeout           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "nightly -f matrix.yaml",
		Short: "Run a matrix of tests (systems x algos x bugs x nemeses x seeds) and summarise it",
		Long: `nightly runs every combination of a matrix file's systems, algorithms, planted
bugs, fault sets and seeds, one after another, into one store (docs/nightly.md
describes the file). A faithful build must come out valid; a planted bug is
found when its run is invalid.

It writes store/nightly.html (a row per run, a column per checker, and which
planted bugs were found), one JUnit file (--junit, default
store/nightly-junit.xml) and the store's index.html.

Exit codes: 0 every faithful run valid; 1 a faithful run invalid (a
regression), or with --require-found a planted bug no seed found; 2 a
faithful run unknown; 3 a run could not run, or the matrix file is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return &exitError{code: exitCannotRun, err: errors.New("nightly: -f matrix.yaml is required")}
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("-f: %w", err)}
			}
			m, err := nightly.Parse(file, data)
			if err != nil {
				return &exitError{code: exitCannotRun, err: err}
			}
			program := programName()
			out := cmd.OutOrStdout()
			if dryRun {
				stamp, err := nightly.Stamp(m, store, time.Now())
				if err != nil {
					return &exitError{code: exitCannotRun, err: err}
				}
				runs, err := nightly.Expand(m, stamp, store)
				if err != nil {
					return &exitError{code: exitCannotRun, err: err}
				}
				fmt.Fprintf(out, "%s: %d runs into %s\n", file, len(runs), store)
				return nightly.Print(out, runs, program)
			}

			ctx, stop, sess := newSession(cmd, verbose)
			defer stop()
			log := sess.log
			r := nightlyRunner(runner.Options{Log: log, Progress: cmd.ErrOrStderr(), Live: sess.live,
				Program: program, LinearizableTimeout: linTimeout})
			sum, err := nightly.Execute(ctx, m, nightly.Options{Store: store, JUnit: junit, RequireFound: requireFound,
				Runner: r, Log: log, Out: out})
			if err != nil && len(sum.Runs) == 0 {
				return &exitError{code: exitCannotRun, err: err}
			}
			printBugs(out, sum.Bugs)
			fmt.Fprintf(out, "nightly:  %s\n", sum.Status)
			fmt.Fprintf(out, "summary:  %s\n", filepath.Join(store, nightly.SummaryFile))
			j := junit
			if j == "" {
				j = filepath.Join(store, nightly.JUnitFile)
			}
			fmt.Fprintf(out, "junit:    %s\n", j)
			if err != nil {
				// The runs happened; the summary could not be written. That
				// is a failure to report, not a verdict to hide.
				return &exitError{code: exitCannotRun, err: fmt.Errorf("nightly: %w", err)}
			}
			if sum.ExitCode != exitValid {
				return &exitError{code: sum.ExitCode}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVarP(&file, "file", "f", "", "the matrix file (docs/nightly.md)")
	fl.StringVar(&store, "store", "./store", "where run directories, nightly.html and the index go")
	fl.StringVar(&junit, "junit", "", "the JUnit file (default: STORE/nightly-junit.xml)")
	fl.BoolVar(&dryRun, "dry-run", false, "print the expanded runs, and the run command of each, without running them")
	fl.BoolVar(&requireFound, "require-found", false, "fail (exit 1) when a planted bug is found in no seed")
	fl.DurationVar(&linTimeout, "check-timeout", 60*time.Second, "time budget of each run's linearizability search; out of time is unknown")
	fl.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// printBugs prints the planted-bug table: found in k of n runs, by which
// checkers.
func printBugs(w io.Writer, bs []nightly.BugResult) {
	if len(bs) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-26s %-12s %-8s  %s\n", "planted bug", "nemesis", "found", "outcome (by)")
	for _, b := range bs {
		line := fmt.Sprintf("%-26s %-12s %d of %-3d  %s", b.Bug, b.Nemesis, b.Found, b.Runs, b.Outcome)
		if len(b.By) > 0 {
			line += " (" + strings.Join(b.By, ", ") + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
}
