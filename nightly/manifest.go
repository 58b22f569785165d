package nightly

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/rundir"
)

// ManifestFile is the nightly's own record at the top of the store: which
// matrix (and which shard of it) ran there, and what became of each run.
// nightly merge reads it.
const ManifestFile = "nightly.json"

// manifestVersion changes when a manifest of an older splitbrain could
// not be merged by this one.
const manifestVersion = 1

// Manifest is nightly.json: a night of one matrix, or of one shard of it.
// It is written before the first run and after every run, so that a shard
// killed midway leaves a record merge can read (its runs not done are
// judged could not run).
type Manifest struct {
	Version int    `json:"version"`
	Name    string `json:"name"` // the suite name
	File    string `json:"file"` // the matrix file, as given
	// Fingerprint identifies the whole matrix (Fingerprint): shards of one
	// matrix share it.
	Fingerprint string    `json:"fingerprint"`
	Shard       Shard     `json:"shard"`
	Stamp       string    `json:"stamp"` // the date part of the run names
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended,omitzero"` // zero while the night is under way
	// Matrix is every run of the whole matrix, whichever shard it is on,
	// so that merge knows what a missing shard would have run.
	Matrix []Entry `json:"matrix"`
	// Runs are this shard's runs, in order.
	Runs []Record `json:"runs"`
	// CorpusEntries is every entry of the matrix's corpus, whichever
	// shard replays it, and Corpus this shard's replayed entries.
	CorpusEntries []CorpusEntry    `json:"corpus_entries,omitempty"`
	Corpus        []regress.Result `json:"corpus,omitempty"`
}

// CorpusEntry is an entry of the matrix's corpus, and the shard that
// replays it.
type CorpusEntry struct {
	Index int    `json:"index"`
	Shard int    `json:"shard"`
	Name  string `json:"name"`
	File  string `json:"file"`
}

// Entry is a run of the whole matrix, by what it is.
type Entry struct {
	Index   int    `json:"index"`
	Shard   int    `json:"shard"`
	System  string `json:"system"`
	Algo    string `json:"algo,omitempty"`
	Bug     string `json:"bug"`
	Nemesis string `json:"nemesis"`
	Seed    int64  `json:"seed"`
}

// Record is what became of one of the shard's runs.
type Record struct {
	Index    int             `json:"index"`
	Name     string          `json:"name"`
	Done     bool            `json:"done"`             // the run returned (its verdict is in its results.json)
	Dir      string          `json:"dir,omitempty"`    // its directory, as the run named it
	Replay   string          `json:"replay,omitempty"` // the command that replays it
	Duration rundir.Duration `json:"duration,omitempty"`
	Err      string          `json:"error,omitempty"` // it could not run, or not as a run of the matrix
}

// newManifest is the record of a night about to run runs (the shard's)
// out of all.
func newManifest(m Matrix, sh Shard, stamp string, started time.Time, all, runs []Run) Manifest {
	man := Manifest{Version: manifestVersion, Name: m.Name, File: m.File, Fingerprint: Fingerprint(m, all), Shard: sh,
		Stamp: stamp, Started: started.UTC()}
	if man.Shard.Whole() {
		man.Shard = Shard{Index: 1, Count: 1}
	}
	for j, e := range m.Corpus {
		man.CorpusEntries = append(man.CorpusEntries, CorpusEntry{Index: j, Shard: CorpusShard(j, len(all), man.Shard.Count), Name: e.Name, File: e.File})
	}
	for _, r := range all {
		man.Matrix = append(man.Matrix, Entry{Index: r.Index, Shard: Of(r.Index, man.Shard.Count), System: r.System,
			Algo: r.Algo, Bug: r.Bug, Nemesis: r.Nemesis, Seed: r.Seed})
	}
	for _, r := range runs {
		man.Runs = append(man.Runs, Record{Index: r.Index, Name: r.Name})
	}
	return man
}

// record notes a finished run in the manifest.
func (man *Manifest) record(d Done, dir string) {
	for i := range man.Runs {
		if man.Runs[i].Index != d.Index {
			continue
		}
		rec := Record{Index: d.Index, Name: d.Name, Done: true, Dir: dir, Replay: d.Replay, Duration: rundir.Duration(d.Duration)}
		if d.Err != nil {
			rec.Err = d.Err.Error()
		}
		man.Runs[i] = rec
	}
}

// WriteManifest writes store/nightly.json whole.
func WriteManifest(store string, man Manifest) error {
	return rundir.WriteJSON(filepath.Join(store, ManifestFile), man)
}

// ErrNoManifest is a store without nightly.json: no nightly ran there.
var ErrNoManifest = errors.New("no " + ManifestFile + ": not the store of a splitbrain nightly")

// ReadManifest reads store/nightly.json and checks what merge relies on.
func ReadManifest(store string) (Manifest, error) {
	path := filepath.Join(store, ManifestFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Manifest{}, fmt.Errorf("%s: %w", store, ErrNoManifest)
	}
	if err != nil {
		return Manifest{}, err
	}
	var man Manifest
	if err := json.Unmarshal(b, &man); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case man.Version != manifestVersion:
		return man, fmt.Errorf("%s: version %d; this splitbrain merges version %d", path, man.Version, manifestVersion)
	case man.Shard.Count < 1 || man.Shard.Index < 1 || man.Shard.Index > man.Shard.Count:
		return man, fmt.Errorf("%s: shard %d/%d is not a shard", path, man.Shard.Index, man.Shard.Count)
	case man.Fingerprint == "" || len(man.Matrix) == 0:
		return man, fmt.Errorf("%s: no matrix recorded", path)
	}
	for i, e := range man.Matrix {
		if e.Index != i {
			return man, fmt.Errorf("%s: matrix entry %d has index %d", path, i, e.Index)
		}
	}
	for _, r := range man.Runs {
		if r.Index < 0 || r.Index >= len(man.Matrix) || man.Matrix[r.Index].Shard != man.Shard.Index {
			return man, fmt.Errorf("%s: run %s (index %d) is not one of shard %s's", path, r.Name, r.Index, man.Shard)
		}
		if !validName(r.Name) {
			return man, fmt.Errorf("%s: run name %q is not a run directory's name", path, r.Name)
		}
	}
	for _, r := range man.Corpus {
		for _, name := range append(slices.Clone(r.Runs), r.Decided) {
			if name != "" && !validName(name) {
				return man, fmt.Errorf("%s: corpus entry %s: run name %q is not a run directory's name", path, r.Entry, name)
			}
		}
	}
	return man, nil
}
