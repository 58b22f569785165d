package nightly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/runner"
	"github.com/splitbrain/splitbrain/runstore"
)

// Files the nightly command writes at the top of the store.
const (
	SummaryFile = "nightly.html"
	JUnitFile   = "nightly-junit.xml"
)

// Runner runs one test. Docker runs it for real; the tests use a fake that
// writes run directories, since a real run takes minutes.
type Runner interface {
	Run(ctx context.Context, cfg runner.Config) (runner.Result, error)
}

// Docker is the Runner that runs for real: runner.Run with Options.
type Docker struct{ Options runner.Options }

// Run runs cfg through runner.Run.
func (d Docker) Run(ctx context.Context, cfg runner.Config) (runner.Result, error) {
	return runner.Run(ctx, cfg, d.Options)
}

// Options are what a nightly needs beyond its matrix.
type Options struct {
	Store        string       // where run directories, the summary and the index go
	JUnit        string       // the JUnit file; store/nightly-junit.xml when empty
	RequireFound bool         // a planted bug found in no seed fails the nightly
	Runner       Runner       // nil: Docker with runner's default options
	Log          *slog.Logger // nil: slog.Default()
	// Out gets a line per finished run; nil for none.
	Out io.Writer
	// Now stamps run names; time.Now when nil.
	Now func() time.Time
	// Shard, when not the whole matrix, runs only that slice of it
	// (Select); nightly merge puts the shards' stores together.
	Shard Shard
	// CorpusRunner replays the matrix's corpus entries; nil: regress's
	// Docker with Runner's options when Runner is Docker.
	CorpusRunner regress.Runner
}

// Done is one finished (or failed) run, before it is judged.
type Done struct {
	Run
	Err      error // the run could not happen (or not be stored)
	Replay   string
	Duration time.Duration
}

// Stamp picks the date part of the run names: the UTC date, with -2, -3,
// ... when a run of that name is already in the store (a second nightly
// the same day), so that one night's runs share a prefix and no run is
// refused for its name. Only the shard's runs count: shards that share a
// store the same day share the date too.
func Stamp(m Matrix, store string, now time.Time, sh Shard) (string, error) {
	date := now.UTC().Format("20060102")
	for i := 1; i < 1000; i++ {
		stamp := date
		if i > 1 {
			stamp = fmt.Sprintf("%s-%d", date, i)
		}
		runs, err := Expand(m, stamp, store)
		if err != nil {
			return "", err
		}
		free := true
		for _, r := range Select(runs, sh) {
			if _, err := os.Stat(filepath.Join(store, r.Name)); err == nil {
				free = false
				break
			}
		}
		if free {
			return stamp, nil
		}
	}
	return "", fmt.Errorf("%s: no free run name for %s in %s", m.File, date, store)
}

// Execute runs every run of m, one after another (a run wants the machine
// to itself: its timings are part of what it tests), then writes the
// summary page, the JUnit file and the store's index. A cancelled ctx stops
// after the run under way (which runner judges as far as it got); the runs
// left are reported as not run. The error is about writing the summary;
// the verdict is in the returned Summary (ExitCode).
func Execute(ctx context.Context, m Matrix, opts Options) (Summary, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if opts.Runner == nil {
		opts.Runner = Docker{}
	}
	if _, docker := opts.Runner.(Docker); len(m.Corpus) > 0 && opts.CorpusRunner == nil && !docker {
		// A fake Runner with real corpus replays would be half a test.
		return Summary{}, errors.New("nightly: the matrix has a corpus: Options.CorpusRunner is needed with a Runner other than Docker")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if err := os.MkdirAll(opts.Store, 0o755); err != nil {
		return Summary{}, fmt.Errorf("store: %w", err)
	}
	started := now()
	stamp, err := Stamp(m, opts.Store, started, opts.Shard)
	if err != nil {
		return Summary{}, err
	}
	all, err := Expand(m, stamp, opts.Store)
	if err != nil {
		return Summary{}, err
	}
	runs := Select(all, opts.Shard)
	man := newManifest(m, opts.Shard, stamp, started, all, runs)
	if err := WriteManifest(opts.Store, man); err != nil {
		return Summary{}, err
	}
	if !opts.Shard.Whole() {
		log.Info("nightly shard", "shard", opts.Shard.String(), "runs", len(runs), "of", len(all))
	}
	corpus := replayCorpus(ctx, m, opts, stamp, len(all), log, &man)
	var done []Done
	for i, r := range runs {
		d := Done{Run: r}
		if ctx.Err() != nil {
			d.Err = fmt.Errorf("not run: the nightly was interrupted")
			done = append(done, d)
			man.record(d, "")
			continue
		}
		log.Info("nightly run", "n", fmt.Sprintf("%d/%d", i+1, len(runs)), "name", r.Name)
		t0 := time.Now()
		res, err := opts.Runner.Run(ctx, r.Config)
		d.Duration, d.Err, d.Replay = time.Since(t0), err, res.Replay
		if res.Interrupted && err == nil {
			// Judged, but on part of its time: not a run of the matrix.
			d.Err = errors.New("interrupted: judged on what was recorded until then")
		}
		done = append(done, d)
		man.record(d, res.Dir)
		if err := WriteManifest(opts.Store, man); err != nil {
			log.Warn("could not update the nightly's record", "err", err)
		}
		if opts.Out != nil {
			rr, _ := judge(opts.Store, d)
			fmt.Fprintf(opts.Out, "[%d/%d] %-10s %s", i+1, len(runs), rr.Outcome, r.Name)
			if rr.Message != "" {
				fmt.Fprintf(opts.Out, ": %s", rr.Message)
			}
			fmt.Fprintf(opts.Out, " (%s)\n", d.Duration.Round(time.Second))
		}
	}
	sum := Summarize(m, opts.Store, done, opts.RequireFound, corpus)
	sum.Started, sum.Duration = started, now().Sub(started)
	sum.Shard, sum.MatrixRuns = opts.Shard, len(all)
	man.Ended = now().UTC()
	var errs []error
	if err := WriteManifest(opts.Store, man); err != nil {
		errs = append(errs, err)
	}
	return sum, errors.Join(append(errs, writeSummary(opts.Store, opts.JUnit, sum))...)
}

// replayCorpus replays the shard's corpus entries first (a known bug that
// no longer shows, or a fixed one back, is news before the matrix's runs
// are), recording each in the manifest.
func replayCorpus(ctx context.Context, m Matrix, opts Options, stamp string, runs int, log *slog.Logger, man *Manifest) []regress.Result {
	entries := SelectCorpus(m.Corpus, runs, opts.Shard)
	if len(entries) == 0 {
		return nil
	}
	cr := opts.CorpusRunner
	if cr == nil {
		cr = regress.Docker{Options: opts.Runner.(Docker).Options} // Execute made sure
	}
	log.Info("nightly corpus", "entries", len(entries), "of", len(m.Corpus), "folder", m.CorpusDir, "replays", m.CorpusReplays)
	sum := regress.Replay(ctx, entries, regress.Options{Store: opts.Store, Prefix: "nightly-" + stamp + "-corpus-",
		Replays: m.CorpusReplays, Runner: cr, Log: log, Done: func(r regress.Result) {
			man.Corpus = append(man.Corpus, r)
			if err := WriteManifest(opts.Store, *man); err != nil {
				log.Warn("could not update the nightly's record", "err", err)
			}
			if opts.Out != nil {
				fmt.Fprintf(opts.Out, "[corpus] %-17s %s: %s\n", r.Outcome, r.Entry, r.Message)
			}
		}})
	return sum.Results
}

// writeSummary writes the summary page, the JUnit file (store's, when
// junit is empty) and the store's index.
func writeSummary(store, junit string, sum Summary) error {
	if junit == "" {
		junit = filepath.Join(store, JUnitFile)
	}
	var errs []error
	if err := WritePage(filepath.Join(store, SummaryFile), store, sum); err != nil {
		errs = append(errs, err)
	}
	if err := WriteJUnit(junit, sum); err != nil {
		errs = append(errs, err)
	}
	if err := runstore.WriteIndex(store); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
