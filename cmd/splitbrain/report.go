package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/splitbrain/splitbrain/reports"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runstore"
)

func init() { subcommands = append(subcommands, newReportCmd) }

func newReportCmd() *cobra.Command {
	var noIndex bool
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Rebuild a run's report.html and junit.xml from its files",
		Long: `report renders, from the files of the run directory DIR alone:

  DIR/report.html     one self-contained page (no network access needed): verdict,
                      checkers, settings and replay command, leadership timeline,
                      failovers, latency, linearizability, faults
  DIR/logs/NODE.html  each node log, escaped, linked from the report
  DIR/junit.xml       a test case per checker; invalid and unknown are failures

Whatever is missing from DIR (results.json before "splitbrain check", run.json
in a directory made by hand) is noted in the report and the rest is rendered.

When DIR's parent is a run store (it holds other run directories, or an
index.html already), the store's index.html is rebuilt too so that it lists
this run; --no-index leaves it alone.

Exit codes: 0 written, 3 could not read DIR or write the files. The run's
verdict does not change the exit code: "splitbrain check" reports that.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := filepath.Clean(args[0])
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("report: %s is not a run directory", dir)}
			}
			if err := reports.Write(dir); err != nil {
				return &exitError{code: exitCannotRun, err: fmt.Errorf("report: %w", err)}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "report:", filepath.Join(dir, rundir.ReportFile))
			if store, ok := parentStore(dir); ok && !noIndex {
				if err := runstore.WriteIndex(store); err != nil {
					return &exitError{code: exitCannotRun, err: fmt.Errorf("report: store index: %w", err)}
				}
				fmt.Fprintln(cmd.OutOrStdout(), "index: ", filepath.Join(store, rundir.IndexFile))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noIndex, "no-index", false, "do not rebuild the index.html of the store that holds DIR")
	return cmd
}

// parentStore returns DIR's parent when it is a run store: it has an index
// already, or another run directory besides DIR. A run kept alone, say in
// /tmp, is not a store, and gets no index beside it.
func parentStore(dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	parent := filepath.Dir(abs)
	if parent == abs {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(parent, rundir.IndexFile)); err == nil {
		return parent, true
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		return "", false
	}
	for _, e := range ents {
		if e.IsDir() && e.Name() != filepath.Base(abs) && runstore.IsRun(filepath.Join(parent, e.Name())) {
			return parent, true
		}
	}
	return "", false
}
