package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/runner"
	"github.com/splitbrain/splitbrain/runstore"
)

func init() { subcommands = append(subcommands, newCorpusCmd) }

// corpusRunner makes the runner corpus run uses; the tests swap it for a
// fake.
var corpusRunner = func(opts runner.Options) regress.Runner { return regress.Docker{Options: opts} }

// defaultCorpus is the repo's corpus folder.
const defaultCorpus = "./corpus"

func newCorpusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "corpus",
		Short: "The regression corpus: failing runs kept as small files, replayed to show a bug still shows or stays fixed",
		Long: `corpus keeps failing runs (best shrunk: splitbrain shrink) as small files in a
folder (--corpus, default ./corpus; corpus/README.md describes an entry), each
with its fault schedule and what it found, and replays them.

  splitbrain corpus add store/RUN        keep a failing run (expect: invalid)
  splitbrain corpus run                  replay every entry, a table, an exit code`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCorpusAddCmd(), newCorpusRunCmd())
	return cmd
}

func newCorpusAddCmd() *cobra.Command {
	var folder, name, expect, note string
	cmd := &cobra.Command{
		Use:   "add DIR",
		Short: "Keep a failing run (its schedule and what it found) as an entry of the corpus",
		Long: `add writes the failing run in DIR as an entry of the corpus: its system,
algorithm, planted bug, nodes, read mode, seed, settings and fault schedule,
the checkers that said invalid, and where it came from (DIR, and the run it
was shrunk from). DIR must be invalid. The entry is named after its planted
bug (or system) and the date it was found, unless --name.

--expect invalid (the default) keeps a bug that must still show: a planted
bug, or one not fixed yet. --expect valid keeps one that was fixed: its
schedule must not fail again.

Exit codes: 0 written; 3 DIR is not a failing run, or the entry could not be
written.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("corpus add: %s is not a run directory", dir)}
			}
			e, err := regress.FromRun(dir, checker.Verdict(expect))
			if err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("corpus add: %w", err)}
			}
			e.Note = note
			path, err := regress.Add(folder, name, e)
			if err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("corpus add: %w", err)}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "entry:    %s\n", path)
			fmt.Fprintf(out, "found:    %s by %s, %d fault(s), seed %d\n", what(e), strings.Join(e.Checkers, ", "), len(e.Schedule.Episodes), e.Seed)
			fmt.Fprintf(out, "expect:   %s\n", e.Expect)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&folder, "corpus", defaultCorpus, "the corpus folder")
	fl.StringVar(&name, "name", "", "the entry's name (default: its bug or system, and the date it was found)")
	fl.StringVar(&expect, "expect", string(regress.ExpectInvalid), "what replays must show: invalid (the bug still shows) or valid (it was fixed)")
	fl.StringVar(&note, "note", "", "a note kept with the entry")
	return cmd
}

// what names an entry's system and bug for a person.
func what(e regress.Entry) string {
	s := e.System
	if e.Algo != "" {
		s += " " + e.Algo
	}
	if e.Bug != "" {
		s += " with " + e.Bug
	}
	if e.ReadMode != "" {
		s += " (" + e.ReadMode + " reads)"
	}
	return fmt.Sprintf("%s, %d nodes", s, e.Nodes)
}

func newCorpusRunCmd() *cobra.Command {
	var (
		folder, store string
		replays       int
		faithful      bool
		verbose       bool
		linTimeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run [ENTRY...]",
		Short: "Replay every entry of the corpus against its system; a table and an exit code",
		Long: `run replays each entry (or those named) up to --replays times with its settings
and its fault schedule, into a store of its own under --store, and judges it:

  expect invalid  shows             a replay was invalid by one of its checkers (it stops there)
                  no longer shows   every replay was valid: fixed? then set expect: valid
                  shows differently invalid, but by other checkers only
  expect valid    stays fixed       every replay was valid
                  regressed         a replay was invalid: the bug is back

--faithful replays each planted-bug entry on electd's faithful build instead,
where every replay must be valid: the schedule that exposes a bug must not
fail a correct build (a false alarm).

Exit codes: 1 an entry is not as it expects (no longer shows, shows
differently, regressed); 3 an entry could not run, or the corpus does not
parse; 2 an entry proved nothing (unknown); 0 every entry as expected.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, err := regress.Load(folder)
			if err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("corpus run: %w", err)}
			}
			if len(args) > 0 {
				var picked []regress.Entry
				for _, a := range args {
					i := slices.IndexFunc(entries, func(e regress.Entry) bool { return e.Name == a })
					if i < 0 {
						return &exitError{code: exitCannotRun, err: fmt.Errorf("corpus run: no entry %s in %s", a, folder)}
					}
					picked = append(picked, entries[i])
				}
				entries = picked
			}
			out := cmd.OutOrStdout()
			if len(entries) == 0 {
				fmt.Fprintf(out, "corpus:   %s has no entry\n", folder)
				return nil
			}
			if replays < 1 {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("corpus run: --replays: want at least 1, got %d", replays)}
			}
			ctx, stop, sess := newSession(cmd, verbose)
			defer stop()
			dir := filepath.Join(store, "corpus-"+time.Now().UTC().Format("20060102-150405"))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("corpus run: --store: %w", err)}
			}
			r := corpusRunner(runner.Options{Log: sess.log, Progress: cmd.ErrOrStderr(), Live: sess.live,
				Program: sess.program, LinearizableTimeout: linTimeout})
			sum := regress.Replay(ctx, entries, regress.Options{Store: dir, Replays: replays, Faithful: faithful, Runner: r, Log: sess.log,
				Done: func(res regress.Result) {
					fmt.Fprintf(out, "%-16s %s: %s\n", res.Outcome, res.Entry, res.Message)
				}})
			if err := runstore.WriteIndex(dir); err != nil {
				sess.log.Warn("writing the store index", "err", err)
			}
			fmt.Fprintln(out)
			printCorpus(out, dir, sum.Results)
			fmt.Fprintf(out, "corpus:   %s\n", sum.Status)
			fmt.Fprintf(out, "replays:  %s\n", dir)
			if sum.ExitCode != exitValid {
				return &exitError{code: sum.ExitCode}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&folder, "corpus", defaultCorpus, "the corpus folder")
	fl.StringVar(&store, "store", "./store", "the replays go into a store of their own in it, corpus-DATE-TIME")
	fl.IntVar(&replays, "replays", regress.DefaultReplays, "replays of an entry at most (an entry that expects valid gets them all)")
	fl.BoolVar(&faithful, "faithful", false, "replay each planted-bug entry on electd's faithful build, which must be valid every time")
	fl.DurationVar(&linTimeout, "check-timeout", 60*time.Second, "time budget of each replay's linearizability search; out of time is unknown")
	fl.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// printCorpus prints the table of a replayed corpus.
func printCorpus(w io.Writer, store string, rs []regress.Result) {
	width := len("entry")
	for _, r := range rs {
		width = max(width, len(r.Entry))
	}
	fmt.Fprintf(w, "%-*s  %-7s  %-17s  %-7s  %-30s  %s\n", width, "entry", "expect", "outcome", "replays", "invalid by", "report")
	for _, r := range rs {
		by := strings.Join(r.By, ", ")
		if by == "" {
			by = "-"
		}
		rep := r.ReportOf(store)
		if rep == "" {
			rep = "-"
		}
		fmt.Fprintf(w, "%-*s  %-7s  %-17s  %-7s  %-30s  %s\n", width, r.Entry, r.Expect, r.Outcome,
			fmt.Sprintf("%d of %d", r.Replays, r.Of), by, rep)
	}
	fmt.Fprintln(w)
}
