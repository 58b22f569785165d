package nightly

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// MergeOptions are what merging shards needs beyond their stores.
type MergeOptions struct {
	Store        string // where the merged night goes: every run directory, the summary, the JUnit file, the index
	JUnit        string // the JUnit file; Store/nightly-junit.xml when empty
	RequireFound bool   // a planted bug found in no seed of any shard fails the night
	Log          *slog.Logger
}

// ErrMerge marks shards that cannot be merged: not nightly stores, shards
// of different matrices, a shard given twice.
var ErrMerge = errors.New("cannot merge")

// Merge puts the stores of a matrix's shards together as if one machine
// had run them all: it copies every run directory into opts.Store and
// writes one summary page, one JUnit file and the index there, judging
// each run from its results.json as Execute does (the rows come in the
// whole matrix's order). A run of a shard not given, or one a shard did
// not finish, is judged could not run, so that an incomplete night exits 3.
// The error wraps ErrMerge when the stores do not fit together; otherwise
// it is about writing, and the verdict is in the Summary.
func Merge(stores []string, opts MergeOptions) (Summary, error) {
	log := cmp.Or(opts.Log, slog.Default())
	if len(stores) == 0 {
		return Summary{}, fmt.Errorf("%w: no shard store given", ErrMerge)
	}
	out, err := filepath.Abs(opts.Store)
	if err != nil {
		return Summary{}, err
	}
	mans := make([]Manifest, len(stores))
	for i, s := range stores {
		abs, err := filepath.Abs(s)
		if err != nil {
			return Summary{}, err
		}
		if abs == out {
			return Summary{}, fmt.Errorf("%w: --store %s is one of the shard stores; merge into a store of its own", ErrMerge, opts.Store)
		}
		if mans[i], err = ReadManifest(s); err != nil {
			return Summary{}, fmt.Errorf("%w: %w", ErrMerge, err)
		}
	}
	first := mans[0]
	byShard := map[int]int{} // shard index -> position in stores
	for i, man := range mans {
		switch {
		case man.Fingerprint != first.Fingerprint:
			return Summary{}, fmt.Errorf("%w: %s is a night of another matrix than %s (fingerprint %s, not %s): the matrix file or its settings differ",
				ErrMerge, stores[i], stores[0], man.Fingerprint, first.Fingerprint)
		case man.Shard.Count != first.Shard.Count:
			return Summary{}, fmt.Errorf("%w: %s is shard %s and %s is shard %s: the matrix was cut into different numbers of shards",
				ErrMerge, stores[0], first.Shard, stores[i], man.Shard)
		}
		if j, dup := byShard[man.Shard.Index]; dup {
			return Summary{}, fmt.Errorf("%w: %s and %s are both shard %s", ErrMerge, stores[j], stores[i], man.Shard)
		}
		byShard[man.Shard.Index] = i
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return Summary{}, fmt.Errorf("--store: %w", err)
	}

	// Every run of the matrix, in its order: from the shard that ran it,
	// else not run.
	var done []Done
	started, ended := first.Started, time.Time{}
	for _, man := range mans {
		started = minTime(started, man.Started)
		if !man.Ended.IsZero() && man.Ended.After(ended) {
			ended = man.Ended
		}
	}
	var errs []error
	for _, e := range first.Matrix {
		run := Run{Index: e.Index, System: e.System, Algo: e.Algo, Bug: e.Bug, Nemesis: e.Nemesis, Seed: e.Seed}
		i, ok := byShard[e.Shard]
		if !ok {
			run.Name = runName(first.Stamp, run)
			done = append(done, Done{Run: run, Err: fmt.Errorf("not run: shard %d/%d was not merged", e.Shard, first.Shard.Count)})
			continue
		}
		man := mans[i]
		rec, found := recordOf(man, e.Index)
		if !found {
			run.Name = runName(man.Stamp, run)
			done = append(done, Done{Run: run, Err: fmt.Errorf("not run: %s does not record it", stores[i])})
			continue
		}
		run.Name = rec.Name
		d := Done{Run: run, Replay: rec.Replay, Duration: time.Duration(rec.Duration)}
		switch {
		case !rec.Done:
			d.Err = fmt.Errorf("not run: shard %s stopped before this run ended (killed?)", man.Shard)
		case rec.Err != "":
			d.Err = errors.New(rec.Err)
		}
		dst := filepath.Join(out, rec.Name)
		copied, err := copyRun(filepath.Join(stores[i], rec.Name), dst)
		if err != nil {
			errs = append(errs, err)
			if d.Err == nil {
				d.Err = fmt.Errorf("not merged: %w", err)
			}
		}
		if copied && rec.Dir != "" {
			d.Replay = retarget(d.Replay, rec.Dir, dst)
		}
		done = append(done, d)
	}
	if len(errs) > 0 {
		log.Warn("some runs could not be copied: they are judged could not run", "err", errors.Join(errs...))
	}

	// The corpus entries, in the corpus's order, their replays copied.
	var corpus []regress.Result
	for _, ce := range first.CorpusEntries {
		missing := regress.Result{Entry: ce.Name, File: ce.File}
		i, ok := byShard[ce.Shard]
		if !ok {
			corpus = append(corpus, missing.Set(regress.CouldNotRun, fmt.Sprintf("not replayed: shard %d/%d was not merged", ce.Shard, first.Shard.Count)))
			continue
		}
		j := slices.IndexFunc(mans[i].Corpus, func(r regress.Result) bool { return r.Entry == ce.Name })
		if j < 0 {
			corpus = append(corpus, missing.Set(regress.CouldNotRun, fmt.Sprintf("not replayed: shard %s stopped before it ended", mans[i].Shard)))
			continue
		}
		r := mans[i].Corpus[j]
		for _, name := range r.Runs {
			if _, err := copyRun(filepath.Join(stores[i], name), filepath.Join(out, name)); err != nil {
				errs = append(errs, err)
				r = r.Set(regress.CouldNotRun, fmt.Sprintf("not merged: %v", err))
			}
		}
		if r.Decided != "" {
			r.Replay = retarget(r.Replay, filepath.Join(stores[i], r.Decided), filepath.Join(out, r.Decided))
		}
		corpus = append(corpus, r)
	}

	m := Matrix{Name: first.Name, File: first.File}
	sum := Summarize(m, out, done, opts.RequireFound, corpus)
	sum.Started, sum.MatrixRuns = started, len(first.Matrix)
	if !ended.IsZero() {
		sum.Duration = ended.Sub(started)
	}
	sum.Merged = slices.Clone(stores)

	merged := Manifest{Version: manifestVersion, Name: first.Name, File: first.File, Fingerprint: first.Fingerprint,
		Shard: Shard{Index: 1, Count: 1}, Stamp: first.Stamp, Started: started, Ended: ended, Corpus: corpus}
	for _, ce := range first.CorpusEntries {
		ce.Shard = 1
		merged.CorpusEntries = append(merged.CorpusEntries, ce)
	}
	for _, e := range first.Matrix {
		e.Shard = 1
		merged.Matrix = append(merged.Matrix, e)
	}
	for _, d := range done {
		rec := Record{Index: d.Index, Name: d.Name, Done: true, Replay: d.Replay, Duration: rundir.Duration(d.Duration)}
		if d.Err != nil {
			rec.Err = d.Err.Error()
		}
		if _, err := os.Stat(filepath.Join(out, d.Name)); err == nil {
			rec.Dir = filepath.Join(out, d.Name)
		}
		merged.Runs = append(merged.Runs, rec)
	}
	if err := WriteManifest(out, merged); err != nil {
		errs = append(errs, err)
	}
	return sum, errors.Join(append(errs, writeSummary(out, opts.JUnit, sum))...)
}

func recordOf(man Manifest, index int) (Record, bool) {
	for _, r := range man.Runs {
		if r.Index == index {
			return r, true
		}
	}
	return Record{}, false
}

func minTime(a, b time.Time) time.Time {
	if b.IsZero() || (!a.IsZero() && a.Before(b)) {
		return a
	}
	return b
}

// copyRun copies the run directory src to dst (false when src does not
// exist: the run never made one). It copies into a temporary directory
// renamed into place, so that a merge cut short leaves no half run under
// the run's name. A dst that is the same run (the same run.json), from an
// earlier merge, is kept as it is; any other dst is an error.
func copyRun(src, dst string) (bool, error) {
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return false, nil
	}
	if _, err := os.Stat(dst); err == nil {
		a, errA := os.ReadFile(filepath.Join(src, rundir.SettingsFile))
		b, errB := os.ReadFile(filepath.Join(dst, rundir.SettingsFile))
		if errA == nil && errB == nil && bytes.Equal(a, b) {
			return true, nil
		}
		return false, fmt.Errorf("%s is in the way: another run of that name; merge into an empty store", dst)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".merge-*")
	if err != nil {
		return false, fmt.Errorf("copying %s: %w", src, err)
	}
	// CopyFS wants to create the top directory itself.
	if err := os.Remove(tmp); err != nil {
		return false, fmt.Errorf("copying %s: %w", src, err)
	}
	if err := os.CopyFS(tmp, os.DirFS(src)); err != nil {
		os.RemoveAll(tmp)
		return false, fmt.Errorf("copying %s: %w", src, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.RemoveAll(tmp)
		return false, fmt.Errorf("copying %s: %w", src, err)
	}
	return true, nil
}

// retarget points a replay command at the run's new directory: the
// command ends with the directory it was made for.
func retarget(replay, from, to string) string {
	q := runner.ShellQuote([]string{from})
	if strings.HasSuffix(replay, q) {
		return strings.TrimSuffix(replay, q) + runner.ShellQuote([]string{to})
	}
	return replay
}
