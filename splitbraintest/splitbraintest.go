// Package splitbraintest runs a splitbrain test from your own go test, as
// net/http/httptest serves HTTP in one: Run is `splitbrain run` as a
// function (settings in; the verdict, the run directory and the report out)
// and Require fails a test with the report's path when the run was invalid,
// unknown or could not run.
//
//	func TestElection(t *testing.T) {
//		cfg, err := splitbraintest.Parse("--system", "contract", "--binary", "./bin/mynode",
//			"--args", "--id {id} --listen {listen} --peers {peers} --data {data}",
//			"--nodes", "5", "--nemesis", "partition,kill", "--time-limit", "30s")
//		if err != nil {
//			t.Fatal(err)
//		}
//		res, err := splitbraintest.Run(t.Context(), cfg, splitbraintest.Options{})
//		splitbraintest.Require(t, res, err)
//	}
//
// A run needs a Docker engine (DOCKER_HOST, or the local socket) and builds
// its node image with the go command from the module splitbrain is in, so
// your module must require github.com/splitbrain/splitbrain. Every run is
// stored like one of `splitbrain run` (docs/run-format.md): report.html,
// the history, the replay command.
package splitbraintest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/runner"
)

// Config is a run's settings: the flags of `splitbrain run` and the keys of
// its -f file, as runner reads them. Start from Parse (or Defaults, and
// set fields by hand).
type Config = runner.Config

// Defaults returns the settings of `splitbrain run` with no flag: electd,
// raft, 5 nodes, every fault, 60 s, store ./store.
func Defaults() Config { return runner.Defaults() }

// Parse reads flags of `splitbrain run` ("--nodes", "3" or "--nodes=3")
// over Defaults, and checks them as the command does. The error names the
// flag. -f and --replay are the command's alone.
func Parse(args ...string) (Config, error) {
	cfg := runner.Defaults()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			return cfg, fmt.Errorf("%q: want a flag of splitbrain run (--nodes 3, --nemesis partition, ...)", a)
		}
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f, known := runner.FieldByName(name)
		if !known || strings.Contains(name, "_") {
			return cfg, fmt.Errorf("%s: not a flag of splitbrain run", a)
		}
		if !ok {
			if i+1 == len(args) {
				return cfg, fmt.Errorf("--%s: wants a value", name)
			}
			i++
			val = args[i]
		}
		if err := f.Set(&cfg, val); err != nil {
			return cfg, fmt.Errorf("--%s: %w", name, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Options steer the harness, not the run.
type Options struct {
	// Log gets the run's progress; slog.Default() when nil.
	Log *slog.Logger
	// CheckTimeout bounds the linearizability search at the end (out of
	// time is unknown); 60 s when zero, as --check-timeout.
	CheckTimeout time.Duration
}

// Result is a finished run.
type Result struct {
	// Verdict is the run's: valid, invalid or unknown (an interrupted run
	// is never valid).
	Verdict checker.Verdict
	// Checkers are each checker's verdict and one-line summary.
	Checkers []checker.Result
	Dir      string // the run directory
	Report   string // its report.html ("" when it could not be written)
	Replay   string // the command that runs the same faults again
	Seed     int64
}

// ExitCode is what `splitbrain run` would exit with: 0 valid, 1 invalid,
// 2 unknown.
func (r Result) ExitCode() int { return r.Verdict.ExitCode() }

// Run runs one test with cfg, as `splitbrain run` does, through runner.Run:
// an ensemble in Docker, the clients and the nemesis for the time limit,
// the final phase, the checkers, and the run stored under cfg.Store.
// Cancelling ctx cuts the run short (it is judged on what it recorded, and
// is then not valid). The error is non-nil when the run could not happen
// or not be stored (it wraps ErrCannotRun); Result.Dir says where its
// directory is when it got that far.
func Run(ctx context.Context, cfg Config, opts Options) (Result, error) {
	res, err := runner.Run(ctx, cfg, runner.Options{Log: opts.Log, LinearizableTimeout: opts.CheckTimeout})
	out := Result{Verdict: res.Verdict(), Checkers: res.Report.Checkers, Dir: res.Dir, Report: res.ReportFile,
		Replay: res.Replay, Seed: res.Seed}
	if err != nil {
		if !errors.Is(err, runner.ErrCannotRun) {
			err = fmt.Errorf("%w: %w", runner.ErrCannotRun, err)
		}
		return out, err
	}
	return out, nil
}

// The errors Check returns, one per way a run fails a test.
var (
	ErrInvalid   = errors.New("invalid")    // a checker found a violation: a bug
	ErrUnknown   = errors.New("unknown")    // the run proved nothing (a checker out of time, nothing to judge)
	ErrCannotRun = runner.ErrCannotRun      // the harness could not run it: no engine, a bad setting, ...
	errNoVerdict = errors.New("no verdict") // a Result that came from nowhere
)

// Check says whether Run's outcome passes: nil when valid, else an error
// wrapping ErrInvalid, ErrUnknown or ErrCannotRun that names the checkers
// and the report.
func Check(res Result, err error) error {
	if err != nil {
		where := ""
		if res.Dir != "" {
			where = " (run directory " + res.Dir + ")"
		}
		return fmt.Errorf("splitbrain: could not run%s: %w", where, err)
	}
	var which []string
	for _, c := range res.Checkers {
		if c.Verdict == res.Verdict {
			which = append(which, fmt.Sprintf("%s: %s", c.Name, c.Summary))
		}
	}
	tail := fmt.Sprintf("\n  report: %s\n  replay: %s", orNone(res.Report), orNone(res.Replay))
	switch res.Verdict {
	case checker.Valid:
		return nil
	case checker.Invalid:
		return fmt.Errorf("splitbrain: %w: %s%s", ErrInvalid, strings.Join(which, "; "), tail)
	case checker.Unknown:
		if len(which) == 0 {
			which = []string{"the run was cut short"}
		}
		return fmt.Errorf("splitbrain: %w: %s%s", ErrUnknown, strings.Join(which, "; "), tail)
	}
	return fmt.Errorf("splitbrain: %w (verdict %q)%s", errNoVerdict, res.Verdict, tail)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Require fails t (Fatalf) unless the run was valid; the message begins
// "splitbrain: invalid", "splitbrain: unknown" or "splitbrain: could not
// run", and gives the report's path and the replay command.
func Require(t testing.TB, res Result, err error) {
	t.Helper()
	if err := Check(res, err); err != nil {
		t.Fatalf("%v", err)
	}
}
