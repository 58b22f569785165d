package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/runner"
)

func init() { subcommands = append(subcommands, newRunCmd) }

// fieldValue is a runner setting as a flag: it checks the value when the
// flag is parsed, and keeps the text for when the settings are assembled.
type fieldValue struct {
	f    runner.Field
	text string
}

func (v *fieldValue) String() string { return v.text }
func (v *fieldValue) Type() string   { return v.f.Type }
func (v *fieldValue) Set(s string) error {
	scratch := runner.Defaults()
	if err := v.f.Set(&scratch, s); err != nil {
		return err
	}
	v.text = s
	return nil
}

func newRunCmd() *cobra.Command {
	var (
		file       string
		replay     string
		verbose    bool
		linTimeout time.Duration
	)
	values := map[string]*fieldValue{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a test: an ensemble, clients, faults; judge it and store it",
		Long: `run starts an ensemble of the system in Docker, runs the register workload's
clients and the nemesis for --time-limit, heals every fault and reads every key,
then judges the history and stores the run under --store.

Settings come from the flags, from a YAML file (-f, the same names as keys;
flags override it) and, with --replay DIR, from a stored run whose fault
schedule is re-run at the same offsets against the same roles.

Your own implementation of the node contract (docs/node-contract.md):
  splitbrain run --system contract --binary ./mynode \
      --args '--id {id} --listen {listen} --peers {peers} --data {data}'

Redis Cluster (6 nodes by default: three masters and a replica each), judged
by what it promises (one master per slot per config epoch, convergence after
the heal), with lost writes and two-writer windows measured; --nemesis all
adds the takeover fault (a replica promoted without the vote):
  splitbrain run --system redis --nemesis all --time-limit 60s
  splitbrain run --system redis --nemesis takeover
  splitbrain run --system redis --expect linearizable

Exit codes: 0 valid, 1 invalid, 2 unknown, 3 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := assemble(cmd.Flags(), values, file, replay)
			if err != nil {
				return &exitError{code: exitCannotRun, err: err}
			}
			ctx, stop, sess := newSession(cmd, verbose)
			defer stop()
			res, err := runner.Run(ctx, cfg, runner.Options{Log: sess.log, Progress: cmd.ErrOrStderr(), Live: sess.live,
				Program: sess.program, LinearizableTimeout: linTimeout})
			if err != nil {
				if res.Dir != "" {
					err = fmt.Errorf("%w (run directory %s)", err, res.Dir)
				}
				return &exitError{code: exitCannotRun, err: fmt.Errorf("run: %w", err)}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out)
			printReport(out, res.Report)
			if res.Interrupted {
				fmt.Fprintln(out, "interrupted: judged what was recorded until then")
			}
			fmt.Fprintf(out, "seed:     %d (%d client operations, %d faults, %s)\n", res.Seed, res.Ops, res.Faults, res.Duration.Round(time.Second))
			fmt.Fprintf(out, "run:      %s\n", res.Dir)
			if res.ReportFile != "" {
				fmt.Fprintf(out, "report:   %s\n", res.ReportFile)
			}
			fmt.Fprintf(out, "replay:   %s\n", res.Replay)
			code := res.Verdict().ExitCode()
			if res.Interrupted && res.Report.Verdict == checker.Valid {
				// Nothing wrong was seen, but the run was cut short.
				return &exitError{code: code, err: errors.New("run: interrupted before the time limit; valid so far")}
			}
			if code != exitValid {
				return &exitError{code: code}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVarP(&file, "file", "f", "", "read the settings from a YAML file (keys: the flag names); flags override it (default: none)")
	fl.StringVar(&replay, "replay", "", "re-run the fault schedule of a stored run directory, with its settings (flags override them) (default: none)")
	for _, f := range runner.Fields {
		v := &fieldValue{f: f, text: f.Default}
		values[f.Name] = v
		fl.Var(v, f.Name, withDefault(f.Usage, f.Default))
	}
	fl.DurationVar(&linTimeout, "check-timeout", 60*time.Second, "time budget of the linearizability search at the end; out of time is unknown")
	fl.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// withDefault ends a settings flag's usage with its default, unless the
// usage says it already (pflag leaves out empty and zero defaults).
func withDefault(usage, def string) string {
	switch {
	case strings.Contains(usage, "(default"):
	case def == "":
		usage += " (default: none)"
	case def == "0":
		usage += " (default 0)"
	}
	return usage
}

// assemble builds the settings: defaults, then the replayed run's, then
// the -f file's, then the flags given.
func assemble(fl *pflag.FlagSet, values map[string]*fieldValue, file, replay string) (runner.Config, error) {
	cfg := runner.Defaults()
	if replay != "" {
		st, err := os.Stat(replay)
		if err != nil || !st.IsDir() {
			return cfg, fmt.Errorf("--replay %s: not a run directory", replay)
		}
		if cfg, err = runner.ReadSettings(replay); err != nil {
			return cfg, err
		}
		cfg.Replay = filepath.Clean(replay)
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return cfg, fmt.Errorf("-f: %w", err)
		}
		if err := runner.LoadYAML(file, data, &cfg, func(name string) bool { return !fl.Changed(name) }); err != nil {
			return cfg, err
		}
	}
	for _, f := range runner.Fields {
		if fl.Changed(f.Name) {
			if err := f.Set(&cfg, values[f.Name].text); err != nil {
				return cfg, fmt.Errorf("--%s: %w", f.Name, err)
			}
		}
	}
	cfg.SystemDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}
