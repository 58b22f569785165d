package nightly

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// checkers in the checker package's order.
var allCheckers = []string{"linearizable", "election-safety", "lease-safety", "term-monotonic", "liveness"}

// report makes a results.json: every checker valid but those named.
func report(verdicts map[string]checker.Verdict) checker.Report {
	var rs []checker.Result
	for _, n := range allCheckers {
		v, ok := verdicts[n]
		if !ok {
			v = checker.Valid
		}
		rs = append(rs, checker.Result{Name: n, Verdict: v, Summary: fmt.Sprintf("%s is %s", n, v)})
	}
	return checker.Report{Verdict: checker.Combine(rs), Ops: 10, Checkers: rs}
}

// writeRun writes a fake run directory: run.json by hand, results.json
// through the checker package.
func writeRun(t testing.TB, store, name string, cfg runner.Config, rep checker.Report) {
	t.Helper()
	dir := filepath.Join(store, name)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	st, err := json.Marshal(map[string]any{
		"name": name, "started": "2026-01-02T00:00:00Z", "system": cfg.System, "algo": cfg.Algo,
		"bug": cfg.Bug, "nemesis": cfg.Nemesis, "seed": cfg.Seed,
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.SettingsFile), st, 0o644))
	require.NoError(t, checker.WriteReport(dir, rep))
}

// fakeRunner writes a run directory with whatever verdicts says, in place
// of a run in Docker.
type fakeRunner struct {
	t        testing.TB
	verdicts func(cfg runner.Config) (map[string]checker.Verdict, error)
	during   func(n int) // called inside the n-th run (from 1)
	mu       sync.Mutex
	names    []string
}

func (f *fakeRunner) Run(ctx context.Context, cfg runner.Config) (runner.Result, error) {
	f.mu.Lock()
	f.names = append(f.names, cfg.Name)
	n := len(f.names)
	f.mu.Unlock()
	if f.during != nil {
		f.during(n)
	}
	v, err := f.verdicts(cfg)
	if err != nil {
		return runner.Result{}, fmt.Errorf("%w: %w", runner.ErrCannotRun, err)
	}
	rep := report(v)
	writeRun(f.t, cfg.Store, cfg.Name, cfg, rep)
	dir := filepath.Join(cfg.Store, cfg.Name)
	return runner.Result{Dir: dir, Seed: cfg.Seed, Report: rep, Replay: "splitbrain run --replay " + dir,
		Interrupted: ctx.Err() != nil}, nil
}

// plantedFinds: each planted bug is found by the checker the registry
// names; faithful builds are valid.
func plantedFinds(cfg runner.Config) (map[string]checker.Verdict, error) {
	if cfg.Bug == "" {
		return nil, nil
	}
	r := Run{Bug: cfg.Bug}
	return map[string]checker.Verdict{r.ExpectedCheckers()[0]: checker.Invalid}, nil
}

const smallMatrix = "name: small\nsystems: [electd]\nalgos: [raft, zab]\nbugs: [none, raft.local-read, zab.no-stepdown]\nnemeses: [all]\nseeds: 2\ntime_limit: 10s\n"

func TestExecute(t *testing.T) {
	store := t.TempDir()
	m, err := Parse("small.yaml", []byte(smallMatrix))
	require.NoError(t, err)
	fr := &fakeRunner{t: t, verdicts: plantedFinds}
	var out strings.Builder
	day := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sum, err := Execute(context.Background(), m, Options{Store: store, Runner: fr, Out: &out, Now: func() time.Time { return day }})
	require.NoError(t, err)

	assert.Equal(t, []string{
		"nightly-20260102-electd-raft-none-all-s1", "nightly-20260102-electd-raft-none-all-s2",
		"nightly-20260102-electd-raft-local-read-all-s1", "nightly-20260102-electd-raft-local-read-all-s2",
		"nightly-20260102-electd-zab-none-all-s1", "nightly-20260102-electd-zab-none-all-s2",
		"nightly-20260102-electd-zab-no-stepdown-all-s1", "nightly-20260102-electd-zab-no-stepdown-all-s2",
	}, fr.names, "sequential, in the file's order")
	assert.Equal(t, 0, sum.ExitCode, sum.Status)
	assert.Equal(t, "4 of 4 faithful runs valid; 2 of 2 planted bugs found", sum.Status)
	assert.Equal(t, allCheckers, sum.Checkers)
	require.Len(t, sum.Bugs, 2)
	assert.Equal(t, BugResult{Bug: "raft.local-read", Algo: "raft", System: "electd", Nemesis: "all",
		Expected: []string{"linearizable"}, Runs: 2, Found: 2, By: []string{"linearizable ×2"}, Tries: 1, Outcome: "found", Result: ResultPass},
		sum.Bugs[0])
	assert.Contains(t, out.String(), "[3/8] found      nightly-20260102-electd-raft-local-read-all-s1: by linearizable")

	page, err := os.ReadFile(filepath.Join(store, SummaryFile))
	require.NoError(t, err)
	assert.Contains(t, string(page), `href="./nightly-20260102-electd-raft-none-all-s1/"`, "no report.html: linked to its directory")
	assert.Contains(t, string(page), "<th>election-safety</th>")
	_, err = os.Stat(filepath.Join(store, rundir.IndexFile))
	assert.NoError(t, err, "the store's index is updated")

	var j junitDoc
	b, err := os.ReadFile(filepath.Join(store, JUnitFile))
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(b, &j))
	require.Len(t, j.Suites, 1)
	assert.Equal(t, "small", j.Suites[0].Name)
	assert.Len(t, j.Suites[0].Cases, 8)
	assert.Zero(t, j.Suites[0].Failures+j.Suites[0].Errors+j.Suites[0].Skipped)

	// The same night again: the runs get names of their own.
	fr.names = nil
	_, err = Execute(context.Background(), m, Options{Store: store, Runner: fr, Now: func() time.Time { return day }})
	require.NoError(t, err)
	assert.Equal(t, "nightly-20260102-2-electd-raft-none-all-s1", fr.names[0])
}

func TestExecuteInterrupted(t *testing.T) {
	store := t.TempDir()
	m, err := Parse("small.yaml", []byte(smallMatrix))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fr := &fakeRunner{t: t, verdicts: plantedFinds, during: func(n int) {
		if n == 2 {
			cancel() // Ctrl-C during the second run
		}
	}}
	junit := filepath.Join(t.TempDir(), "out", "..", "j.xml")
	sum, err := Execute(ctx, m, Options{Store: store, JUnit: junit, Runner: fr})
	require.NoError(t, err)
	assert.Len(t, fr.names, 2, "no run starts after the interrupt")
	assert.Equal(t, 3, sum.ExitCode)
	assert.Equal(t, OutcomePass, sum.Runs[0].Outcome)
	assert.Equal(t, OutcomeCouldNotRun, sum.Runs[1].Outcome)
	assert.Contains(t, sum.Runs[1].Message, "interrupted")
	assert.Equal(t, "not run: the nightly was interrupted", sum.Runs[7].Message)
	_, err = os.Stat(junit)
	assert.NoError(t, err, "--junit is where the JUnit file goes")
}

// junitDoc reads back what the CI reads.
type junitDoc struct {
	Suites []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Type    string `xml:"type,attr"`
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Error *struct {
				Type string `xml:"type,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Out string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestOutcomes: the rules from fake run directories: what each run means,
// and the nightly's exit code.
func TestOutcomes(t *testing.T) {
	const (
		V = checker.Valid
		I = checker.Invalid
		U = checker.Unknown
	)
	m, err := Parse("o.yaml", []byte("systems: [electd]\nalgos: [raft]\nbugs: [none, raft.vote-twice]\nnemeses: [all]\nseeds: 2\n"))
	require.NoError(t, err)
	runs, err := Expand(m, "20260102", "store")
	require.NoError(t, err)
	require.Len(t, runs, 4) // faithful s1 s2, vote-twice s1 s2

	type res struct {
		verdicts map[string]checker.Verdict
		err      error // could not run
		noResult bool  // the directory has no results.json
	}
	ok := res{}
	inv := func(c string) res { return res{verdicts: map[string]checker.Verdict{c: I}} }
	unk := res{verdicts: map[string]checker.Verdict{"linearizable": U}}
	tests := []struct {
		name         string
		got          [4]res
		requireFound bool
		exit         int
		outcomes     [4]string
		results      [4]string
		bug          string // the bug table's outcome
	}{
		{name: "all as expected", got: [4]res{ok, ok, inv("election-safety"), ok},
			exit: 0, outcomes: [4]string{"pass", "pass", "found", "not found"}, results: [4]string{"pass", "pass", "pass", "skip"}, bug: "found"},
		{name: "found in one seed is enough under --require-found", got: [4]res{ok, ok, ok, inv("election-safety")}, requireFound: true,
			exit: 0, outcomes: [4]string{"pass", "pass", "not found", "found"}, results: [4]string{"pass", "pass", "skip", "pass"}, bug: "found"},
		{name: "regression", got: [4]res{ok, inv("linearizable"), inv("election-safety"), inv("election-safety")},
			exit: 1, outcomes: [4]string{"pass", "regression", "found", "found"}, results: [4]string{"pass", "fail", "pass", "pass"}, bug: "found"},
		{name: "faithful unknown", got: [4]res{unk, ok, inv("election-safety"), ok},
			exit: 2, outcomes: [4]string{"unknown", "pass", "found", "not found"}, results: [4]string{"fail", "pass", "pass", "skip"}, bug: "found"},
		{name: "could not run", got: [4]res{ok, {err: errors.New("no Docker engine answers")}, inv("election-safety"), ok},
			exit: 3, outcomes: [4]string{"pass", "could not run", "found", "not found"}, results: [4]string{"pass", "error", "pass", "skip"}, bug: "found"},
		{name: "no results.json", got: [4]res{ok, ok, {noResult: true}, inv("election-safety")},
			exit: 3, outcomes: [4]string{"pass", "pass", "could not run", "found"}, results: [4]string{"pass", "pass", "error", "pass"}, bug: "found"},
		{name: "regression outranks could not run", got: [4]res{inv("liveness"), {err: errors.New("boom")}, ok, ok},
			exit: 1, outcomes: [4]string{"regression", "could not run", "not found", "not found"}, results: [4]string{"fail", "error", "skip", "skip"}, bug: "not found"},
		{name: "not found is a warning", got: [4]res{ok, ok, ok, unk},
			exit: 0, outcomes: [4]string{"pass", "pass", "not found", "unknown"}, results: [4]string{"pass", "pass", "skip", "skip"}, bug: "not found"},
		{name: "not found fails under --require-found", got: [4]res{ok, ok, ok, unk}, requireFound: true,
			exit: 1, outcomes: [4]string{"pass", "pass", "not found", "unknown"}, results: [4]string{"pass", "pass", "fail", "fail"}, bug: "not found"},
		{name: "found by another checker", got: [4]res{ok, ok, inv("liveness"), ok},
			exit: 0, outcomes: [4]string{"pass", "pass", "found", "not found"}, results: [4]string{"pass", "pass", "pass", "skip"}, bug: "found by another checker"},
		{name: "bug runs that could not run", got: [4]res{ok, ok, {err: errors.New("x")}, {err: errors.New("y")}}, requireFound: true,
			exit: 3, outcomes: [4]string{"pass", "pass", "could not run", "could not run"}, results: [4]string{"pass", "pass", "error", "error"}, bug: "not run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := t.TempDir()
			var done []Done
			for i, r := range runs {
				d := Done{Run: r, Duration: time.Duration(i+1) * time.Second}
				switch g := tt.got[i]; {
				case g.err != nil:
					d.Err = g.err
				case g.noResult:
					require.NoError(t, os.MkdirAll(filepath.Join(store, r.Name), 0o755))
				default:
					writeRun(t, store, r.Name, r.Config, report(g.verdicts))
				}
				done = append(done, d)
			}
			sum := Summarize(m, store, done, tt.requireFound, nil)
			assert.Equal(t, tt.exit, sum.ExitCode, sum.Status)
			for i, r := range sum.Runs {
				assert.Equal(t, tt.outcomes[i], r.Outcome, "run %d: %s", i, r.Message)
				assert.Equal(t, tt.results[i], r.Result, "run %d: %s", i, r.Message)
			}
			require.Len(t, sum.Bugs, 1)
			assert.Equal(t, tt.bug, sum.Bugs[0].Outcome)

			// The JUnit file says the same: failures, errors and skips.
			b, err := JUnit(sum)
			require.NoError(t, err)
			var j junitDoc
			require.NoError(t, xml.Unmarshal(b, &j))
			for i, c := range j.Suites[0].Cases {
				assert.Equal(t, runs[i].Name, c.Name)
				assert.Equal(t, tt.results[i] == ResultFail, c.Failure != nil, "case %d", i)
				assert.Equal(t, tt.results[i] == ResultError, c.Error != nil, "case %d", i)
				assert.Equal(t, tt.results[i] == ResultSkip, c.Skipped != nil, "case %d", i)
				if c.Failure != nil {
					assert.Equal(t, tt.outcomes[i], c.Failure.Type)
				}
			}
			// Unknown never passes silently: it fails, or is a skip saying so.
			for i, r := range sum.Runs {
				if r.Outcome == OutcomeUnknown {
					assert.NotEqual(t, ResultPass, r.Result)
					c := j.Suites[0].Cases[i]
					if c.Skipped != nil {
						assert.Contains(t, c.Skipped.Message, "unknown")
					}
				}
			}
		})
	}
}

// TestScriptedNotFound: a bug no fault is known to reach (bugs.Scripted)
// missed by every seed is reported apart and does not fail the nightly
// under --require-found; a reachable bug missed beside it still does.
func TestScriptedNotFound(t *testing.T) {
	tests := []struct {
		bugs, status, outcome string
		exit                  int
	}{
		{"zab.ackepoch-twice", "1 of 1 faithful runs valid; 0 of 1 planted bugs found (1 scripted-only bug not found, as expected)", "not found (scripted only)", 0},
		{"zab.no-stepdown", "1 of 1 faithful runs valid; 0 of 1 planted bugs found (1 planted bug not found)", "not found", 1},
	}
	for _, tt := range tests {
		t.Run(tt.bugs, func(t *testing.T) {
			m, err := Parse("o.yaml", []byte("systems: [electd]\nalgos: [zab]\nbugs: [none, "+tt.bugs+"]\nnemeses: [all]\nseeds: 1\n"))
			require.NoError(t, err)
			runs, err := Expand(m, "20260102", "store")
			require.NoError(t, err)
			require.Len(t, runs, 2)
			store := t.TempDir()
			var done []Done
			for _, r := range runs {
				writeRun(t, store, r.Name, r.Config, report(nil))
				done = append(done, Done{Run: r})
			}
			sum := Summarize(m, store, done, true, nil)
			assert.Equal(t, tt.exit, sum.ExitCode, sum.Status)
			assert.Equal(t, tt.status, sum.Status)
			require.Len(t, sum.Bugs, 1)
			assert.Equal(t, tt.outcome, sum.Bugs[0].Outcome)
		})
	}
}

func TestSummaryStatus(t *testing.T) {
	m, err := Parse("o.yaml", []byte("systems: [electd]\nalgos: [raft]\nbugs: [none, raft.vote-twice]\nnemeses: [all]\nseeds: 1\n"))
	require.NoError(t, err)
	runs, err := Expand(m, "20260102", "store")
	require.NoError(t, err)
	store := t.TempDir()
	writeRun(t, store, runs[0].Name, runs[0].Config, report(map[string]checker.Verdict{"election-safety": checker.Invalid}))
	writeRun(t, store, runs[1].Name, runs[1].Config, report(nil))
	sum := Summarize(m, store, []Done{{Run: runs[0]}, {Run: runs[1]}}, false, nil)
	assert.Equal(t, "0 of 1 faithful runs valid; 0 of 1 planted bugs found (1 regression, 1 planted bug not found)", sum.Status)
	assert.Equal(t, ResultFail, sum.Result)
	assert.Equal(t, "a faithful build is invalid by election-safety", sum.Runs[0].Message)
}

// TestSkippedChecker: a checker that did not apply (skipped) neither
// fails a faithful run nor is named as why a run proved nothing.
func TestSkippedChecker(t *testing.T) {
	m, err := Parse("s.yaml", []byte("systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 2\n"))
	require.NoError(t, err)
	runs, err := Expand(m, "20260102", "store")
	require.NoError(t, err)
	store := t.TempDir()
	writeRun(t, store, runs[0].Name, runs[0].Config, report(map[string]checker.Verdict{"lease-safety": checker.Skipped}))
	writeRun(t, store, runs[1].Name, runs[1].Config, report(map[string]checker.Verdict{
		"lease-safety": checker.Skipped, "linearizable": checker.Unknown}))
	sum := Summarize(m, store, []Done{{Run: runs[0]}, {Run: runs[1]}}, false, nil)
	assert.Equal(t, OutcomePass, sum.Runs[0].Outcome)
	assert.Equal(t, string(checker.Skipped), sum.Runs[0].Checkers["lease-safety"].Verdict, "shown as skipped")
	assert.Equal(t, OutcomeUnknown, sum.Runs[1].Outcome)
	assert.Equal(t, "the run proved nothing: unknown by linearizable", sum.Runs[1].Message)
}

// TestSummaryEscapes: text from a run directory (a checker's summary) is
// escaped on the page and keeps the JUnit file well-formed.
func TestSummaryEscapes(t *testing.T) {
	const evil = `<script>alert(1)</script>]]>&`
	m, err := Parse("e.yaml", []byte("systems: [electd]\nalgos: [raft]\nbugs: [none]\nnemeses: [all]\nseeds: 1\n"))
	require.NoError(t, err)
	store := t.TempDir()
	fr := &fakeRunner{t: t, verdicts: func(runner.Config) (map[string]checker.Verdict, error) {
		return map[string]checker.Verdict{"liveness": checker.Invalid}, nil
	}}
	// The fake writes plain summaries; one is rewritten with markup.
	sum, err := Execute(context.Background(), m, Options{Store: store, Runner: runnerFunc(func(ctx context.Context, cfg runner.Config) (runner.Result, error) {
		res, err := fr.Run(ctx, cfg)
		rep := report(map[string]checker.Verdict{"liveness": checker.Invalid})
		rep.Checkers[4].Summary = evil
		require.NoError(t, checker.WriteReport(res.Dir, rep))
		return res, err
	})})
	require.NoError(t, err)
	assert.Equal(t, evil, sum.Runs[0].Checkers["liveness"].Summary)
	page, err := os.ReadFile(filepath.Join(store, SummaryFile))
	require.NoError(t, err)
	assert.NotContains(t, string(page), "<script>")
	assert.Contains(t, string(page), "&lt;script&gt;")
	b, err := os.ReadFile(filepath.Join(store, JUnitFile))
	require.NoError(t, err)
	var j junitDoc
	require.NoError(t, xml.Unmarshal(b, &j))
	require.NotNil(t, j.Suites[0].Cases[0].Failure)
	assert.Contains(t, j.Suites[0].Cases[0].Out, "liveness: invalid: "+evil)
}

// runnerFunc is a Runner made of a function.
type runnerFunc func(ctx context.Context, cfg runner.Config) (runner.Result, error)

func (f runnerFunc) Run(ctx context.Context, cfg runner.Config) (runner.Result, error) {
	return f(ctx, cfg)
}

func TestBugTableTimeToFind(t *testing.T) {
	// The scoreboard's figures: the runs of a bug, in the matrix's order,
	// up to the first that found it, and their time together.
	run := func(bug, outcome string, d time.Duration) JudgedRun {
		r := JudgedRun{Bug: bug, Algo: "raft", System: "electd", Nemesis: "all", Outcome: outcome, Duration: d}
		if outcome == OutcomeFound {
			r.FoundBy = []string{"linearizable"}
		}
		return r
	}
	bs := bugTable([]JudgedRun{
		run("raft.a", OutcomeNotFound, 10*time.Second),
		run("raft.b", OutcomeNotFound, 7*time.Second),
		run("raft.a", OutcomeFound, 20400*time.Millisecond),
		run("raft.b", OutcomeNotFound, 7*time.Second),
		run("raft.a", OutcomeFound, 5*time.Second),
	}, false)
	require.Len(t, bs, 2)
	assert.Equal(t, 2, bs[0].Tries)
	assert.Equal(t, 30*time.Second, bs[0].TimeToFind, "the runs up to the first that found it, rounded")
	assert.Equal(t, 2, bs[0].Found)
	assert.Zero(t, bs[1].Tries, "not found")
	assert.Zero(t, bs[1].TimeToFind)
}
