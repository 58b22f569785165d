package regress

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// scripted is a Runner whose n-th replay (from 1) says what its script
// says: a verdict ("valid", "unknown", or the checkers that say invalid,
// e.g. "linearizable"), or "error" (could not run).
type scripted struct {
	script []string
	cfgs   []runner.Config
}

func (s *scripted) Run(ctx context.Context, cfg runner.Config, sched nemesis.Schedule, label string) (runner.Result, error) {
	s.cfgs = append(s.cfgs, cfg)
	say := s.script[min(len(s.cfgs), len(s.script))-1]
	dir := filepath.Join(cfg.Store, cfg.Name)
	res := runner.Result{Dir: dir, Replay: "splitbrain run --replay " + dir}
	switch say {
	case "error":
		return res, fmt.Errorf("%w: no Docker engine answers", runner.ErrCannotRun)
	case "valid":
		res.Report = checker.Report{Verdict: checker.Valid, Checkers: []checker.Result{{Name: "linearizable", Verdict: checker.Valid}}}
	case "unknown":
		res.Report = checker.Report{Verdict: checker.Unknown, Checkers: []checker.Result{{Name: "linearizable", Verdict: checker.Unknown}}}
	default:
		res.Report = checker.Report{Verdict: checker.Invalid, Checkers: []checker.Result{{Name: say, Verdict: checker.Invalid}}}
	}
	return res, nil
}

func TestReplayOutcomes(t *testing.T) {
	base, err := FromRun(testRun, ExpectInvalid) // checkers: linearizable
	require.NoError(t, err)
	base.Name = "qob"
	fixed := base
	fixed.Expect = ExpectValid
	tests := []struct {
		name     string
		entry    Entry
		script   []string
		faithful bool
		outcome  string
		class    string
		replays  int
		exit     int
	}{
		{"shows at once", base, []string{"linearizable"}, false, Shows, ClassPass, 1, 0},
		{"shows on the third", base, []string{"valid", "unknown", "linearizable"}, false, Shows, ClassPass, 3, 0},
		{"no longer shows", base, []string{"valid"}, false, NoLongerShows, ClassFail, 3, 1},
		{"shows by another checker only", base, []string{"election-safety", "valid", "valid"}, false, ShowsDifferently, ClassFail, 3, 1},
		{"another checker, then its own", base, []string{"election-safety", "linearizable"}, false, Shows, ClassPass, 2, 0},
		{"proved nothing", base, []string{"valid", "unknown", "valid"}, false, Unknown, ClassUnknown, 3, 2},
		{"could not run", base, []string{"error"}, false, CouldNotRun, ClassError, 1, 3},
		{"stays fixed", fixed, []string{"valid"}, false, StaysFixed, ClassPass, 3, 0},
		{"fixed, but back", fixed, []string{"valid", "election-safety"}, false, Regressed, ClassFail, 2, 1},
		{"fixed, unknown", fixed, []string{"valid", "unknown", "valid"}, false, Unknown, ClassUnknown, 3, 2},
		{"faithful build valid", base, []string{"valid"}, true, StaysFixed, ClassPass, 3, 0},
		{"faithful build fails: a false alarm", base, []string{"valid", "linearizable"}, true, Regressed, ClassFail, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := t.TempDir()
			sr := &scripted{script: tt.script}
			sum := Replay(context.Background(), []Entry{tt.entry}, Options{Store: store, Prefix: "c-", Runner: sr, Faithful: tt.faithful})
			require.Len(t, sum.Results, 1)
			r := sum.Results[0]
			assert.Equal(t, tt.outcome, r.Outcome, r.Message)
			assert.Equal(t, tt.class, r.Class)
			assert.Equal(t, tt.replays, r.Replays)
			assert.Len(t, sr.cfgs, tt.replays)
			assert.Equal(t, 3, r.Of)
			assert.Equal(t, tt.exit, sum.ExitCode, sum.Status)
			for i, c := range sr.cfgs {
				want := fmt.Sprintf("c-qob-r%d", i+1)
				if tt.faithful {
					want = fmt.Sprintf("c-qob-faithful-r%d", i+1)
					assert.Empty(t, c.Bug, "the faithful build")
				} else {
					assert.Equal(t, tt.entry.Bug, c.Bug)
				}
				assert.Equal(t, want, c.Name)
				assert.Equal(t, store, c.Store)
				assert.Equal(t, 3, c.Nodes)
			}
			if r.Class == ClassFail || r.Outcome == Shows {
				assert.NotEmpty(t, r.Decided, "the run that decided it is named")
				assert.Equal(t, filepath.Join(store, r.Decided, "report.html"), r.ReportOf(store))
			}
		})
	}
}

func TestReplaySkipsAndInterrupts(t *testing.T) {
	e, err := Parse("corpus/vote-twice.yaml", []byte(goodEntry))
	require.NoError(t, err)
	contract := e
	contract.Name, contract.System, contract.Algo, contract.Bug = "mine", "contract", "", ""
	contract.Settings = []Setting{{"binary", "./mynode"}, {"args", "--id {id}"}}
	sum := Replay(context.Background(), []Entry{contract, e}, Options{Store: t.TempDir(), Runner: &scripted{script: []string{"valid"}}, Faithful: true})
	assert.Equal(t, Skipped, sum.Results[0].Outcome)
	assert.Equal(t, StaysFixed, sum.Results[1].Outcome)
	assert.Equal(t, 0, sum.ExitCode)
	assert.Equal(t, "1 of 1 entries as expected (1 skipped)", sum.Status)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum = Replay(ctx, []Entry{e}, Options{Store: t.TempDir(), Runner: &scripted{script: []string{"valid"}}})
	assert.Equal(t, CouldNotRun, sum.Results[0].Outcome)
	assert.Equal(t, "interrupted after 0 of 3 replays", sum.Results[0].Message)
	assert.Equal(t, 3, sum.ExitCode)
}

func TestJudgeOrder(t *testing.T) {
	r := func(o string) Result { return Result{}.Set(o, "") }
	code, status := Judge([]Result{r(Shows), r(CouldNotRun), r(Unknown), r(NoLongerShows)})
	assert.Equal(t, 1, code, "an entry not as expected outranks the rest")
	assert.Equal(t, "1 of 4 entries as expected (1 no longer shows, 1 could not run, 1 unknown)", status)
	code, _ = Judge([]Result{r(Shows), r(CouldNotRun), r(Unknown)})
	assert.Equal(t, 3, code)
	code, _ = Judge([]Result{r(StaysFixed), r(Unknown)})
	assert.Equal(t, 2, code)
	code, _ = Judge(nil)
	assert.Equal(t, 0, code, "an empty corpus")
}

func TestReplayFlakyEntry(t *testing.T) {
	// An entry whose schedule fails in some replays only gets the
	// replays it says it needs; one that expects valid gets the default.
	e, err := FromRun(testRun, ExpectInvalid)
	require.NoError(t, err)
	e.Name, e.Replays = "flaky", 6
	sr := &scripted{script: []string{"valid", "valid", "valid", "valid", "valid", "linearizable"}}
	sum := Replay(context.Background(), []Entry{e}, Options{Store: t.TempDir(), Runner: sr})
	require.Len(t, sum.Results, 1)
	assert.Equal(t, Shows, sum.Results[0].Outcome)
	assert.Equal(t, 6, sum.Results[0].Of)
	assert.Len(t, sr.cfgs, 6)

	e.Expect = ExpectValid
	sr = &scripted{script: []string{"valid"}}
	sum = Replay(context.Background(), []Entry{e}, Options{Store: t.TempDir(), Runner: sr})
	assert.Equal(t, StaysFixed, sum.Results[0].Outcome)
	assert.Len(t, sr.cfgs, DefaultReplays)
}

func TestReplaysFor(t *testing.T) {
	for _, tt := range []struct{ k, n, want int }{
		{4, 4, 0},              // always failed again: the default is plenty
		{0, 0, 0},              // nothing known
		{3, 4, DefaultReplays}, // 1 - 0.25^3 > 95%
		{2, 4, 5},              // 1 - 0.5^5 > 95%
		{1, 4, MaxReplays},     // 11 would be needed
		{0, 4, MaxReplays},
	} {
		assert.Equal(t, tt.want, ReplaysFor(tt.k, tt.n), "%d of %d", tt.k, tt.n)
	}
}

func TestFromShrunkRun(t *testing.T) {
	// A shrunk run's confirmations set how many replays its entry gets.
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(testRun)))
	e, err := FromRun(dir, ExpectInvalid)
	require.NoError(t, err)
	assert.Zero(t, e.Replays, "no shrink.json: the default")
	require.NoError(t, rundir.WriteShrink(dir, rundir.Shrink{Confirmations: 4, Confirmed: 2}))
	e, err = FromRun(dir, ExpectInvalid)
	require.NoError(t, err)
	assert.Equal(t, 5, e.Replays)
	e, err = FromRun(dir, ExpectValid)
	require.NoError(t, err)
	assert.Zero(t, e.Replays, "a fixed bug's entry replays every time anyway")
}
