package checker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/splitbrain/splitbrain/history"
)

// Files of a run directory (docs/run-format.md).
const (
	HistoryFile = "history.jsonl"
	EventsFile  = "events.jsonl"
	ResultsFile = "results.json"
)

// Report is the judgement of one run, stored as results.json.
type Report struct {
	Verdict  Verdict  `json:"verdict"`
	Ops      int      `json:"ops"`    // history entries read
	Events   int      `json:"events"` // node events read
	Warnings []string `json:"warnings,omitempty"`
	Checkers []Result `json:"checkers"`
}

// Options tune the checkers.
type Options struct {
	// LinearizableTimeout is the time budget of the linearizability search;
	// running out of it gives unknown. Default 60 s.
	LinearizableTimeout time.Duration
	// LivenessBound is how soon after the last fault heals a leader must be
	// reported. Default 10 s.
	LivenessBound time.Duration
	// VisualizeDir receives a Porcupine visualization per failing key; empty
	// for none.
	VisualizeDir string
}

func (o Options) withDefaults() Options {
	if o.LinearizableTimeout <= 0 {
		o.LinearizableTimeout = 60 * time.Second
	}
	if o.LivenessBound <= 0 {
		o.LivenessBound = 10 * time.Second
	}
	return o
}

// ErrNoHistory means the directory holds no history.jsonl.
var ErrNoHistory = errors.New("no " + HistoryFile + " in the run directory")

// CheckDir reads the run in dir and runs every checker. It writes nothing
// but the visualizations Options asks for. An error means the run could not
// be judged at all (missing or garbage input).
func CheckDir(ctx context.Context, dir string, opts Options) (Report, error) {
	path := filepath.Join(dir, HistoryFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return Report{}, fmt.Errorf("%s: %w", dir, ErrNoHistory)
	}
	ops, warnings, err := history.ReadFile(path)
	if err != nil {
		return Report{}, err
	}
	events, ewarn, err := history.ReadEventsFile(filepath.Join(dir, EventsFile))
	if err != nil {
		return Report{}, err
	}
	rep := Check(ctx, ops, events, opts)
	rep.Warnings = append(append(warnings, ewarn...), rep.Warnings...)
	return rep, nil
}

// Check runs every checker over a history and its events.
func Check(ctx context.Context, ops []history.Op, events []history.Event, opts Options) Report {
	opts = opts.withDefaults()
	results := []Result{
		Linearizable(ctx, ops, opts),
		ElectionSafety(events),
		LeaseSafety(events),
		TermMonotonic(events),
		Liveness(ops, events, opts.LivenessBound),
	}
	return Report{Verdict: Combine(results), Ops: len(ops), Events: len(events), Checkers: results}
}

// WriteReport stores rep as dir/results.json.
func WriteReport(dir string, rep Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	tmp := filepath.Join(dir, ResultsFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	// Rename so that a reader never sees half a file.
	if err := os.Rename(tmp, filepath.Join(dir, ResultsFile)); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// ReadReport loads dir/results.json.
func ReadReport(dir string) (Report, error) {
	var rep Report
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		return rep, fmt.Errorf("read results: %w", err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("%s: %w", filepath.Join(dir, ResultsFile), err)
	}
	return rep, nil
}
