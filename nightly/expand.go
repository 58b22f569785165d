package nightly

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/splitbrain/splitbrain/election/bugs"
	"github.com/splitbrain/splitbrain/runner"
)

// Run is one run of an expanded matrix.
type Run struct {
	Index   int    // its place in the whole expansion, from 0 (what --shard deals by)
	Name    string // the run directory's name under the store
	System  string // the system's label
	Algo    string // "" for a contract system
	Bug     string // "none" (faithful) or the planted bug(s), comma-separated
	Nemesis string // the fault set's label
	Seed    int64
	Config  runner.Config // what runner.Run gets
}

// Faithful reports whether the run has no planted bug: it must be valid.
func (r Run) Faithful() bool { return r.Bug == Faithful }

// ExpectedCheckers are the checkers the bug registry says should see the
// run's planted bug(s); none for a faithful run.
func (r Run) ExpectedCheckers() []string {
	if r.Faithful() {
		return nil
	}
	var out []string
	for _, n := range strings.Split(r.Bug, ",") {
		b, _ := bugs.Lookup(n)
		for _, c := range CheckerNames(b.Checker) {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// CheckerNames reads the registry's Checker text ("election-safety,
// linearizable", "linearizable (stale read)") as checker names.
func CheckerNames(text string) []string {
	var out []string
	for _, part := range strings.Split(text, ",") {
		if i := strings.IndexByte(part, '('); i >= 0 {
			part = part[:i]
		}
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Expand lists the runs of m, named nightly-<stamp>-<system>-<algo>-<bug>-
// <nemesis>-s<seed> under store, in the file's order: systems, then algos,
// then bugs, then nemeses, then seeds (so a night's runs of one build sit
// together). Bugs combine only with their own algorithm; the other systems
// have no algorithm and run faithful only.
func Expand(m Matrix, stamp, store string) ([]Run, error) {
	var out []Run
	for _, s := range m.Systems {
		algos := m.Algos
		if s.Kind != runner.SystemElectd {
			algos = []string{""} // only electd has algorithms and planted bugs
		}
		for _, a := range algos {
			bs := []string{Faithful}
			if s.Kind == runner.SystemElectd {
				bs = bugsFor(m.Bugs, a)
			}
			for _, b := range bs {
				for _, n := range m.Nemeses {
					for _, seed := range m.Seeds {
						r := Run{Index: len(out), System: s.Name, Algo: a, Bug: b, Nemesis: n.Label, Seed: seed}
						r.Name = runName(stamp, r)
						c := m.Base
						c.System, c.Binary, c.Args, c.ReadMode, c.Image = s.Kind, s.Binary, s.Args, s.ReadMode, s.Image
						c.Algo = a // "" but for electd
						if !r.Faithful() {
							c.Bug = b
						}
						c.Nemesis = slices.Clone(n.Kinds)
						c.Seed, c.SeedSet = seed, true
						c.Store, c.Name = store, r.Name
						if err := c.Validate(); err != nil {
							return nil, fmt.Errorf("%s: run %s: %w", m.File, r.Name, err)
						}
						if !validName(r.Name) {
							return nil, fmt.Errorf("%s: run name %s is too long or has odd characters; shorten the system's name", m.File, r.Name)
						}
						r.Config = c
						out = append(out, r)
					}
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: the matrix has no run", m.File)
	}
	return out, nil
}

// runName is a run's directory name, e.g.
// nightly-20260102-electd-raft-vote-twice-all-s1. Separators that a run name may not
// hold ("+" between fault kinds, "," between bugs) become "_".
func runName(stamp string, r Run) string {
	parts := []string{"nightly", stamp, r.System}
	if r.Algo != "" {
		parts = append(parts, r.Algo)
	}
	// The algorithm is in the name already: "raft-vote-twice", not
	// "raft-raft.vote-twice".
	bug := r.Bug
	if r.Algo != "" {
		bug = strings.ReplaceAll(bug, r.Algo+".", "")
	}
	parts = append(parts, bug, r.Nemesis, fmt.Sprintf("s%d", r.Seed))
	return strings.NewReplacer("+", "_", ",", "_").Replace(strings.Join(parts, "-"))
}

// validName is what runner accepts as --name.
func validName(name string) bool {
	f, _ := runner.FieldByName("name")
	c := runner.Defaults()
	return f.Set(&c, name) == nil
}

// Print writes the runs, one a line: the name, then the splitbrain run
// command that makes the same run by hand (program names splitbrain).
func Print(w io.Writer, runs []Run, program string) error {
	for i, r := range runs {
		args := append(r.Config.Flags(), "--store", r.Config.Store, "--name", r.Name)
		if _, err := fmt.Fprintf(w, "%3d  %s\n     %s run %s\n", i+1, r.Name, program, runner.ShellQuote(args)); err != nil {
			return err
		}
	}
	return nil
}
