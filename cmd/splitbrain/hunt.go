package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/splitbrain/splitbrain/election/bugs"
	"github.com/splitbrain/splitbrain/hunt"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

func init() { subcommands = append(subcommands, newHuntCmd, newScoreboardCmd) }

// huntRunner makes the runner the hunt command uses; the tests swap it for
// a fake, since a real trial takes Docker and seconds.
var huntRunner = func(opts runner.Options) hunt.Runner { return hunt.Docker{Options: opts} }

// huntSkips are run's flags a hunt has no use for: each trial's length is
// --trial, and a hunt draws its own schedules.
var huntSkips = map[string]bool{"time-limit": true}

// huntInterval is a hunt's --nemesis-interval unless one is given: a
// fault about every 2 s, so that a 20 s trial holds a few.
const huntInterval = 2 * time.Second

func newHuntCmd() *cobra.Command {
	var (
		file, strategy string
		budget, trial  time.Duration
		verbose        bool
		linTimeout     time.Duration
	)
	values := map[string]*fieldValue{}
	cmd := &cobra.Command{
		Use:   "hunt",
		Short: "Hunt for a bug within a budget: short trials back to back, each a fresh ensemble, guided by what they show",
		Long: `hunt runs short trials (--trial) back to back until one is invalid or the
--budget is spent. Every trial is a fresh ensemble with its own seed, derived
from --seed (so a hunt repeats), and a fault schedule drawn from a mix of
attack patterns (kill the new leader, isolate it after acknowledged writes,
pause it past the election timeout, ...) and plain faults of the --nemesis
kinds.

--strategy guided (the default) steers the mix with a bandit (UCB1) rewarding
behaviour the hunt has not seen yet: new kinds of term transition, leaderless
and contested windows, indeterminate operations, lease gaps, faults that
overlap; every third trial is the blind draw. --strategy random is a plain
run's blind draw in every trial, the baseline.

The trials and a summary page (hunt.html, hunt.json) go to --store/--name
(default hunt-SYSTEM-ALGO-BUG-TIME). A run flag applies to every trial.

Exit codes: 1 a trial was invalid (its run, report, replay and shrink
commands are printed); 0 the whole budget found nothing (and how hard it
looked is printed); 2 a trial was unknown and none invalid, or the hunt was
interrupted; 3 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := assemble(cmd.Flags(), values, file, "")
			if err != nil {
				return &exitError{code: exitCannotRun, err: err}
			}
			if !cmd.Flags().Changed("nemesis-interval") && cfg.NemesisInterval == runner.Defaults().NemesisInterval {
				// Trials are short: faults come faster than in a run, so
				// that several, and patterns, fit in one.
				cfg.NemesisInterval = rundir.Duration(huntInterval)
			}
			seed := cfg.Seed
			if !cfg.SeedSet {
				seed = rand.Int64N(1 << 31)
			}
			ctx, stop, sess := newSession(cmd, verbose)
			defer stop()
			var lines io.Writer = cmd.ErrOrStderr()
			if sess.live {
				lines = clearLine{lines}
			}
			opts := hunt.Options{Base: cfg, Budget: budget, Trial: trial, Strategy: strategy, Seed: seed,
				Runner: huntRunner(runner.Options{Log: sess.log, Progress: cmd.ErrOrStderr(), Live: sess.live,
					Program: sess.program, LinearizableTimeout: linTimeout}),
				Log: sess.log, Out: lines, Program: sess.program,
				Command: huntCommand(sess.program, cfg, budget, trial, strategy, seed)}
			if cfg.Name != "" {
				opts.Dir = filepath.Join(cfg.Store, cfg.Name)
				if _, err := os.Stat(opts.Dir); err == nil {
					return &exitError{code: exitCannotRun, err: fmt.Errorf("--name %s: %s already exists; pick another name", cfg.Name, opts.Dir)}
				}
			}
			opts.Base.Name, opts.Base.SeedSet = "", false
			sum, err := hunt.Run(ctx, opts)
			out := cmd.OutOrStdout()
			if err != nil && len(sum.Trials) == 0 {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("hunt: %w", err)}
			}
			fmt.Fprintln(out)
			if sum.Found >= 0 {
				res := sum.FoundResult
				printReport(out, res.Report)
				fmt.Fprintf(out, "hunt:     %s\n", sum.Status)
				fmt.Fprintf(out, "looked:   %s\n", sum.Effort())
				fmt.Fprintf(out, "seed:     %d (hunt seed %d, trial %d)\n", res.Seed, sum.Seed, sum.Trials[sum.Found].N)
				fmt.Fprintf(out, "run:      %s\n", res.Dir)
				if res.ReportFile != "" {
					fmt.Fprintf(out, "report:   %s\n", res.ReportFile)
				}
				fmt.Fprintf(out, "replay:   %s\n", res.Replay)
				fmt.Fprintf(out, "shrink:   %s shrink %s\n", sess.program, runner.ShellQuote([]string{res.Dir}))
			} else {
				fmt.Fprintf(out, "hunt:     %s\n", sum.Status)
				fmt.Fprintf(out, "looked:   %s\n", sum.Effort())
				fmt.Fprintf(out, "seed:     %d (repeat the hunt with --seed %d)\n", sum.Seed, sum.Seed)
				if bugs.Scripted(cfg.Bug) {
					fmt.Fprintf(out, "note:     %s is scripted only: no fault is known to reach it (electd --list-bugs), so missing it says nothing of the search\n", cfg.Bug)
				}
			}
			fmt.Fprintf(out, "summary:  %s\n", filepath.Join(sum.Dir, hunt.PageFile))
			if err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("hunt: %w", err)}
			}
			if sum.ExitCode != exitValid {
				return &exitError{code: sum.ExitCode}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVarP(&file, "file", "f", "", "read the run settings from a YAML file (keys: the flag names); flags override it (default: none)")
	fl.DurationVar(&budget, "budget", hunt.DefaultBudget, "how long to hunt: no trial starts that would end past it")
	fl.DurationVar(&trial, "trial", hunt.DefaultTrial, "each trial's client phase (its ensemble's start and final phase come on top)")
	fl.StringVar(&strategy, "strategy", hunt.Guided, "guided (a bandit over attack patterns, rewarded by new behaviour) or random (the blind draw)")
	for _, f := range runner.Fields {
		if huntSkips[f.Name] {
			continue
		}
		v := &fieldValue{f: f, text: f.Default}
		values[f.Name] = v
		usage := f.Usage
		switch f.Name {
		case "seed":
			usage = "seed of the whole hunt: each trial's seed is derived from it (default: random, and printed)"
		case "nemesis-interval":
			usage = "about how long each fault lasts, and the calm after it (shorter than run's, for short trials)"
			v.text = huntInterval.String()
		case "name":
			usage = "the hunt directory's name under the store (default: hunt-system-algo-bug-time)"
		}
		fl.Var(v, f.Name, withDefault(usage, f.Default))
	}
	fl.DurationVar(&linTimeout, "check-timeout", 60*time.Second, "time budget of each trial's linearizability search; out of time is unknown")
	fl.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// huntCommand is the command line that repeats the hunt, for the trials'
// run.json.
func huntCommand(program string, cfg runner.Config, budget, trial time.Duration, strategy string, seed int64) string {
	c := cfg
	c.SeedSet = false
	args := []string{"hunt"}
	for _, f := range c.Flags() {
		args = append(args, f)
	}
	args = append(args, "--budget", budget.String(), "--trial", trial.String(), "--strategy", strategy,
		"--seed", fmt.Sprint(seed), "--store", cfg.Store)
	return program + " " + runner.ShellQuote(args)
}

func newScoreboardCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scoreboard HUNT_DIR...",
		Short: "Print the table of finished hunts: bug, found or not, time to find, trials, checker (make detect)",
		Long: `scoreboard reads the hunt.json of each hunt directory given and prints a row
per hunt. A hunt of a faithful build (no --bug) must find nothing. A bug
no fault is known to reach (scripted only, electd --list-bugs) shows
"no (scripted)" when missed.

Exit codes: 0 no faithful build was found invalid; 1 one was (a false
alarm: a bug in the suite or in the system); 3 a hunt directory could not
be read.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sums []hunt.Summary
			for _, a := range args {
				dir := a
				if filepath.Base(a) == hunt.SummaryFile {
					dir = filepath.Dir(a)
				}
				s, err := hunt.ReadSummary(dir)
				if err != nil {
					return &exitError{code: exitCannotRun, err: err}
				}
				sums = append(sums, s)
			}
			if falseAlarm := printScoreboard(cmd.OutOrStdout(), sums); falseAlarm {
				return &exitError{code: exitInvalid, err: errors.New("scoreboard: a faithful build was found invalid")}
			}
			return nil
		},
	}
}

// printScoreboard prints the table; true when a faithful build's hunt
// found something.
func printScoreboard(w io.Writer, sums []hunt.Summary) bool {
	falseAlarm := false
	fmt.Fprintf(w, "%-26s %-8s %-11s %-13s %-9s %-8s %6s  %s\n", "bug", "strategy", "seed", "found", "time", "budget", "trials", "checker")
	for _, s := range sums {
		name := s.Bug
		if name == "" {
			name = strings.Join(nonEmptyStrings("faithful", s.System, s.Algo), " ")
		}
		found, when, by := "no", "-", "-"
		switch {
		case s.Found >= 0 && s.Found < len(s.Trials):
			found, when = "FOUND", time.Duration(s.TimeToFind).Round(time.Second).String()
			by = strings.Join(s.Trials[s.Found].FoundBy, ", ")
			if s.Bug == "" {
				found, falseAlarm = "FALSE ALARM", true
			}
		case s.ExitCode == exitUnknown:
			found = "unknown"
		case s.ExitCode == exitCannotRun:
			found = "not run"
		case bugs.Scripted(s.Bug):
			found = "no (scripted)"
		}
		fmt.Fprintf(w, "%-26s %-8s %-11d %-13s %-9s %-8s %6d  %s\n", name, s.Strategy, s.Seed, found, when, s.Budget, len(s.Trials), by)
	}
	return falseAlarm
}

func nonEmptyStrings(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
