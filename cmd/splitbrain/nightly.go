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
		shardFlag            string
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
store/nightly-junit.xml), the store's index.html and nightly.json (what ran,
for nightly merge).

--shard K/N runs only the K-th of N disjoint slices of the matrix (runs are
dealt round robin in the file's order: the same slice every night for the
same file), so that N machines run a matrix together; "splitbrain nightly
merge STORE..." then puts their stores together into one summary and one
JUnit file, as if one machine had run them all.

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
			var shard nightly.Shard
			if cmd.Flags().Changed("shard") {
				if shard, err = nightly.ParseShard(shardFlag); err != nil {
					return &exitError{code: exitCannotRun, err: err}
				}
			}
			if requireFound && !shard.Whole() {
				// A bug's seeds may be on other shards: one shard cannot
				// say that no seed found it.
				return &exitError{code: exitCannotRun, err: fmt.Errorf("--require-found judges the whole matrix; with --shard %s give it to splitbrain nightly merge instead", shard)}
			}
			program := programName()
			out := cmd.OutOrStdout()
			if dryRun {
				stamp, err := nightly.Stamp(m, store, time.Now(), shard)
				if err != nil {
					return &exitError{code: exitCannotRun, err: err}
				}
				all, err := nightly.Expand(m, stamp, store)
				if err != nil {
					return &exitError{code: exitCannotRun, err: err}
				}
				runs := nightly.Select(all, shard)
				if entries := nightly.SelectCorpus(m.Corpus, len(all), shard); len(entries) > 0 {
					fmt.Fprintf(out, "%s: first, %d of the %d entries of the corpus %s, up to %d replays each:\n", file, len(entries), len(m.Corpus), m.CorpusDir, m.CorpusReplays)
					for _, e := range entries {
						fmt.Fprintf(out, "     %s (%s, expect %s)\n", e.Name, e.File, e.Expect)
					}
				}
				if shard.Whole() {
					fmt.Fprintf(out, "%s: %d runs into %s\n", file, len(runs), store)
				} else {
					fmt.Fprintf(out, "%s: shard %s: %d of %d runs into %s\n", file, shard, len(runs), len(all), store)
				}
				return nightly.Print(out, runs, program)
			}

			ctx, stop, sess := newSession(cmd, verbose)
			defer stop()
			log := sess.log
			r := nightlyRunner(runner.Options{Log: log, Progress: cmd.ErrOrStderr(), Live: sess.live,
				Program: program, LinearizableTimeout: linTimeout})
			sum, err := nightly.Execute(ctx, m, nightly.Options{Store: store, JUnit: junit, RequireFound: requireFound,
				Runner: r, Log: log, Out: out, Shard: shard})
			if err != nil && len(sum.Runs) == 0 && sum.MatrixRuns == 0 {
				return &exitError{code: exitCannotRun, err: err}
			}
			if !shard.Whole() && len(sum.Runs) == 0 {
				fmt.Fprintf(out, "shard %s: no run of the matrix's %d falls on this shard\n", shard, sum.MatrixRuns)
			}
			return nightlyOutcome(out, "nightly", store, junit, sum, err)
		},
	}
	cmd.AddCommand(newNightlyMergeCmd())
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVarP(&file, "file", "f", "", "the matrix file (docs/nightly.md)")
	fl.StringVar(&store, "store", "./store", "where run directories, nightly.html and the index go")
	fl.StringVar(&junit, "junit", "", "the JUnit file (default: STORE/nightly-junit.xml)")
	fl.StringVar(&shardFlag, "shard", "", "run only the K-th of N slices of the matrix, K/N (e.g. 3/8); nightly merge combines the shards' stores (default: the whole matrix)")
	fl.BoolVar(&dryRun, "dry-run", false, "print the expanded runs, and the run command of each, without running them")
	fl.BoolVar(&requireFound, "require-found", false, "fail (exit 1) when a planted bug is found in no seed")
	fl.DurationVar(&linTimeout, "check-timeout", 60*time.Second, "time budget of each run's linearizability search; out of time is unknown")
	fl.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// nightlyOutcome prints a judged night (the bugs table, the status and
// where the summary and the JUnit file are) and turns it into the exit
// code. err is about writing the summary: the runs happened, so it is a
// failure to report, not a verdict to hide.
func nightlyOutcome(out io.Writer, what, store, junit string, sum nightly.Summary, err error) error {
	printBugs(out, sum.Bugs)
	fmt.Fprintf(out, "%-9s %s\n", what+":", sum.Status)
	fmt.Fprintf(out, "summary:  %s\n", filepath.Join(store, nightly.SummaryFile))
	if junit == "" {
		junit = filepath.Join(store, nightly.JUnitFile)
	}
	fmt.Fprintf(out, "junit:    %s\n", junit)
	if err != nil {
		return &exitError{code: exitCannotRun, err: fmt.Errorf("%s: %w", what, err)}
	}
	if sum.ExitCode != exitValid {
		return &exitError{code: sum.ExitCode}
	}
	return nil
}

func newNightlyMergeCmd() *cobra.Command {
	var (
		store, junit string
		requireFound bool
		verbose      bool
	)
	cmd := &cobra.Command{
		Use:   "merge STORE...",
		Short: "Combine the stores of a matrix's shards (nightly --shard K/N) into one summary and one JUnit file",
		Long: `merge puts the stores written by "splitbrain nightly --shard K/N" together,
as if one machine had run the whole matrix: it copies every run directory into
--store and writes one nightly.html (the rows in the matrix's order), one JUnit
file and the index there. Every shard must be of the same matrix file with the
same settings (nightly.json records which). A shard not given, or a run a shard
did not finish (the machine died), is judged could not run.

Exit codes, as for nightly: 0 every faithful run valid; 1 a regression, or with
--require-found a planted bug that no seed of any shard found; 2 a faithful run
unknown; 3 a run could not run or is missing, or the stores do not fit together.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, stop, sess := newSession(cmd, verbose)
			defer stop()
			sum, err := nightly.Merge(args, nightly.MergeOptions{Store: store, JUnit: junit, RequireFound: requireFound, Log: sess.log})
			if errors.Is(err, nightly.ErrMerge) || (err != nil && sum.MatrixRuns == 0) {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("nightly merge: %w", err)}
			}
			return nightlyOutcome(cmd.OutOrStdout(), "merged", store, junit, sum, err)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&store, "store", "./store", "where the merged night goes (not one of the shard stores)")
	fl.StringVar(&junit, "junit", "", "the JUnit file (default: STORE/nightly-junit.xml)")
	fl.BoolVar(&requireFound, "require-found", false, "fail (exit 1) when a planted bug is found in no seed of any shard")
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
