// Package regress is the regression corpus: failing runs kept, each as a
// small file (an entry) holding its fault schedule and what it found, and
// replayed against their systems to show that a planted bug is still
// caught, or that a fixed bug stays fixed. The entries live in a folder,
// corpus/ at the repo's root for splitbrain's own (corpus/README.md
// describes the file); `splitbrain corpus add` writes one from a run
// directory and `splitbrain corpus run` replays them.
package regress

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/runner"
)

// Ext is the file name extension of an entry.
const Ext = ".yaml"

// What an entry expects of its replays.
const (
	// ExpectInvalid: the bug must still show: some replay is invalid by
	// one of the entry's checkers (a planted bug, or one not fixed yet).
	ExpectInvalid = checker.Invalid
	// ExpectValid: the bug was fixed and must stay fixed: every replay is
	// valid.
	ExpectValid = checker.Valid
)

// Entry is one kept failing run: what ran, what it found, where it came
// from, and its fault schedule.
type Entry struct {
	Name     string // the file's base name without Ext
	File     string // the file, as read or written
	System   string
	Algo     string // electd only
	Bug      string // electd's planted bugs, comma-separated; "" none
	ReadMode string
	Nodes    int
	Seed     int64
	// Expect is ExpectInvalid or ExpectValid.
	Expect checker.Verdict
	// Checkers are the checkers that said invalid when it was found.
	Checkers []string
	// Replays is how many replays the entry gets at least (0: the
	// default): a schedule that fails in only some replays needs more to
	// show. corpus add sets it from the shrink's confirmations.
	Replays int
	// Where it came from: the run directory it was added from, the run
	// that run was shrunk from (and how many faults it had), when it was
	// found, and a free note.
	Source       string
	ShrunkFrom   string
	FaultsBefore int
	Found        string
	Note         string
	// Settings are the run's other settings (splitbrain run's flag names,
	// those not at their default), in Fields order.
	Settings []Setting
	// Schedule is the fault schedule; its Nodes are n1..nN and its Seed
	// the entry's.
	Schedule nemesis.Schedule
}

// Setting is one run setting by its flag name.
type Setting struct{ Key, Value string }

// owned are the run settings an entry holds itself (or its schedule does),
// so they are no Setting.
var owned = []string{"system", "algo", "bug", "read-mode", "nodes", "seed", "nemesis", "nemesis-interval", "time-limit", "store", "name"}

// nameRE is what an entry may be named: it is part of its replays' run
// names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidName reports whether name can name an entry.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Config is the run the entry replays, as splitbrain run would be given
// it, and the schedule for runner.Options.Schedule.
func (e Entry) Config() (runner.Config, error) {
	c := runner.Defaults()
	set := func(name, v string) error {
		f, ok := runner.FieldByName(name)
		if !ok {
			return fmt.Errorf("%s: not a setting of splitbrain run", name)
		}
		if err := f.Set(&c, v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	nem := strings.Join(e.Schedule.Kinds, ",")
	if nem == "" {
		nem = "none"
	}
	fields := []Setting{{"system", e.System}, {"read-mode", e.ReadMode}, {"nodes", strconv.Itoa(e.Nodes)},
		{"seed", strconv.FormatInt(e.Seed, 10)}, {"nemesis", nem},
		{"nemesis-interval", e.Schedule.Interval.String()}, {"time-limit", e.Schedule.TimeLimit.String()}}
	if e.System == runner.SystemElectd {
		fields = append(fields, Setting{"algo", e.Algo}, Setting{"bug", e.Bug})
	}
	for _, s := range append(fields, e.Settings...) {
		if err := set(s.Key, s.Value); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}

// errAt formats an error at a line of an entry file.
func errAt(file string, line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...))
}

// topKeys are an entry file's keys, in the order Format writes them.
var topKeys = []string{"system", "algo", "bug", "read_mode", "nodes", "seed", "expect", "checkers", "replays",
	"source", "shrunk_from", "faults_before", "found", "note", "settings", "schedule"}

// Parse reads an entry file; file names it in errors (and gives the
// entry's name), and every error carries the line it is about.
func Parse(file string, data []byte) (Entry, error) {
	e := Entry{File: file, Name: strings.TrimSuffix(filepath.Base(file), Ext)}
	if !ValidName(e.Name) {
		return e, fmt.Errorf("%s: an entry's file name must be up to 64 letters, digits, '.', '_' and '-', then %s", file, Ext)
	}
	root, err := runner.YAMLRoot(file, data)
	if err != nil {
		return e, err
	}
	if root == nil {
		return e, fmt.Errorf("%s: empty entry; want system, nodes, seed, expect, checkers and schedule", file)
	}
	if root.Kind != yaml.MappingNode {
		return e, errAt(file, root.Line, "want a mapping (system: ..., nodes: ..., schedule: ...)")
	}
	seen := map[string]int{}
	var schedNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return e, errAt(file, k.Line, "want a key name")
		}
		key := k.Value
		if prev, dup := seen[key]; dup {
			return e, errAt(file, k.Line, "%s is set twice (first on line %d)", key, prev)
		}
		seen[key] = k.Line
		if !slices.Contains(topKeys, key) {
			return e, errAt(file, k.Line, "unknown key %q; want %s", key, strings.Join(topKeys, ", "))
		}
		if key != "checkers" && key != "settings" && key != "schedule" && v.Kind != yaml.ScalarNode {
			return e, errAt(file, v.Line, "%s: want a single value", key)
		}
		var err error
		switch key {
		case "system":
			e.System = v.Value
		case "algo":
			e.Algo = v.Value
		case "bug":
			e.Bug = v.Value
		case "read_mode":
			e.ReadMode = v.Value
		case "nodes":
			e.Nodes, err = strconv.Atoi(v.Value)
			if err != nil || e.Nodes < 3 || e.Nodes > 9 {
				err = errAt(file, v.Line, "nodes: want 3 to 9, got %q", v.Value)
			}
		case "seed":
			e.Seed, err = strconv.ParseInt(v.Value, 10, 64)
			if err != nil {
				err = errAt(file, v.Line, "seed: want an integer, got %q", v.Value)
			}
		case "expect":
			switch checker.Verdict(v.Value) {
			case ExpectInvalid, ExpectValid:
				e.Expect = checker.Verdict(v.Value)
			default:
				err = errAt(file, v.Line, "expect: want invalid (the bug must still show) or valid (it was fixed and must stay fixed), got %q", v.Value)
			}
		case "checkers":
			e.Checkers, err = parseCheckers(file, v)
		case "replays":
			e.Replays, err = strconv.Atoi(v.Value)
			if err != nil || e.Replays < 1 || e.Replays > MaxReplays {
				err = errAt(file, v.Line, "replays: want 1 to %d, got %q", MaxReplays, v.Value)
			}
		case "source":
			e.Source = v.Value
		case "shrunk_from":
			e.ShrunkFrom = v.Value
		case "faults_before":
			e.FaultsBefore, err = strconv.Atoi(v.Value)
			if err != nil || e.FaultsBefore < 0 {
				err = errAt(file, v.Line, "faults_before: want a count, got %q", v.Value)
			}
		case "found":
			e.Found = v.Value
		case "note":
			e.Note = v.Value
		case "settings":
			e.Settings, err = parseSettings(file, v)
		case "schedule":
			schedNode = v
		}
		if err != nil {
			return e, err
		}
	}
	for _, want := range []string{"system", "nodes", "seed", "expect", "checkers", "schedule"} {
		if _, ok := seen[want]; !ok {
			return e, fmt.Errorf("%s: %s is missing", file, want)
		}
	}
	if e.Schedule, err = parseSchedule(file, schedNode, e.Nodes); err != nil {
		return e, err
	}
	e.Schedule.Seed = e.Seed
	if e.System == runner.SystemElectd && e.Algo == "" {
		return e, errAt(file, seen["system"], "algo: electd needs raft or zab")
	}
	if _, err := e.Config(); err != nil {
		// A combination no single line shows (a bug of the other algo, a
		// read mode the system lacks): at the system's line.
		return e, errAt(file, seen["system"], "%v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return e, nil
}

func parseCheckers(file string, v *yaml.Node) ([]string, error) {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	} else if v.Kind != yaml.ScalarNode {
		return nil, errAt(file, v.Line, "checkers: want a list of checker names")
	}
	var out []string
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || !slices.Contains(checker.Names, it.Value) {
			return nil, errAt(file, it.Line, "checkers: want some of %s, got %q", strings.Join(checker.Names, ", "), it.Value)
		}
		if slices.Contains(out, it.Value) {
			return nil, errAt(file, it.Line, "checkers: %s is listed twice", it.Value)
		}
		out = append(out, it.Value)
	}
	if len(out) == 0 {
		return nil, errAt(file, v.Line, "checkers: want the checkers that said invalid when the run was found")
	}
	return out, nil
}

func parseSettings(file string, v *yaml.Node) ([]Setting, error) {
	if v.Kind != yaml.MappingNode {
		return nil, errAt(file, v.Line, "settings: want a mapping of splitbrain run settings (concurrency: 6, ...)")
	}
	var out []Setting
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		f, ok := runner.FieldByName(k.Value)
		if !ok || k.Kind != yaml.ScalarNode || slices.Contains(owned, f.Name) {
			return nil, errAt(file, k.Line, "settings: %q is not a setting an entry's settings may hold (the entry and its schedule hold %s)",
				k.Value, strings.Join(owned, ", "))
		}
		if val.Kind != yaml.ScalarNode {
			return nil, errAt(file, val.Line, "settings: %s: want a single value", k.Value)
		}
		if slices.ContainsFunc(out, func(s Setting) bool { return s.Key == f.Name }) {
			return nil, errAt(file, k.Line, "settings: %s is set twice", k.Value)
		}
		scratch := runner.Defaults()
		if err := f.Set(&scratch, val.Value); err != nil {
			return nil, errAt(file, val.Line, "settings: %s: %v", k.Value, err)
		}
		out = append(out, Setting{Key: f.Name, Value: val.Value})
	}
	return out, nil
}

// parseSchedule reads the schedule: interval, time_limit, kinds, episodes
// (and what it was drawn with: patterns, compose, drift_bound). Episodes
// are schedule.json's episodes, each a mapping of its keys.
func parseSchedule(file string, v *yaml.Node, nodes int) (nemesis.Schedule, error) {
	var s nemesis.Schedule
	if v.Kind != yaml.MappingNode {
		return s, errAt(file, v.Line, "schedule: want a mapping: interval, time_limit, kinds, episodes")
	}
	for i := range nodes {
		s.Nodes = append(s.Nodes, fmt.Sprintf("n%d", i+1))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if seen[k.Value] {
			return s, errAt(file, k.Line, "schedule: %s is set twice", k.Value)
		}
		seen[k.Value] = true
		scalar := func() error {
			if val.Kind != yaml.ScalarNode {
				return errAt(file, val.Line, "schedule: %s: want a single value", k.Value)
			}
			return nil
		}
		switch k.Value {
		case "interval", "time_limit":
			if err := scalar(); err != nil {
				return s, err
			}
			d, err := time.ParseDuration(val.Value)
			if err != nil || d <= 0 {
				return s, errAt(file, val.Line, "schedule: %s: want a duration like 5s, got %q", k.Value, val.Value)
			}
			if k.Value == "interval" {
				s.Interval = rundir.Duration(d)
			} else {
				s.TimeLimit = rundir.Duration(d)
			}
		case "kinds":
			items := val.Content
			if val.Kind != yaml.SequenceNode {
				return s, errAt(file, val.Line, "schedule: kinds: want a list of fault kinds")
			}
			s.Kinds = []string{}
			for _, it := range items {
				if it.Kind != yaml.ScalarNode || !nemesis.KnownKind(it.Value) {
					return s, errAt(file, it.Line, "schedule: kinds: unknown fault kind %q", it.Value)
				}
				s.Kinds = append(s.Kinds, it.Value)
			}
		case "compose":
			if err := scalar(); err != nil {
				return s, err
			}
			b, err := strconv.ParseBool(val.Value)
			if err != nil {
				return s, errAt(file, val.Line, "schedule: compose: want true or false, got %q", val.Value)
			}
			s.Compose = b
		case "drift_bound":
			if err := scalar(); err != nil {
				return s, err
			}
			f, err := strconv.ParseFloat(val.Value, 64)
			if err != nil || f < 0 {
				return s, errAt(file, val.Line, "schedule: drift_bound: want a number, got %q", val.Value)
			}
			s.DriftBound = f
		case "patterns":
			if val.Kind != yaml.MappingNode {
				return s, errAt(file, val.Line, "schedule: patterns: want a mapping of pattern names to weights")
			}
			s.Patterns = map[string]float64{}
			for j := 0; j+1 < len(val.Content); j += 2 {
				pk, pv := val.Content[j], val.Content[j+1]
				w, err := strconv.ParseFloat(pv.Value, 64)
				if pk.Kind != yaml.ScalarNode || pv.Kind != yaml.ScalarNode || err != nil || w < 0 {
					return s, errAt(file, pk.Line, "schedule: patterns: want name: weight, got %q", pk.Value)
				}
				if pk.Value != nemesis.PlainDraw && !slices.Contains(nemesis.Patterns, pk.Value) {
					return s, errAt(file, pk.Line, "schedule: patterns: unknown pattern %q", pk.Value)
				}
				s.Patterns[pk.Value] = w
			}
		case "episodes":
			if val.Kind != yaml.SequenceNode {
				return s, errAt(file, val.Line, "schedule: episodes: want a list of faults")
			}
			s.Episodes = []nemesis.Episode{}
			for _, it := range val.Content {
				ep, err := parseEpisode(file, it, s.Nodes)
				if err != nil {
					return s, err
				}
				s.Episodes = append(s.Episodes, ep)
			}
		default:
			return s, errAt(file, k.Line, "schedule: unknown key %q; want interval, time_limit, kinds, episodes, patterns, compose or drift_bound", k.Value)
		}
	}
	for _, want := range []string{"interval", "time_limit", "kinds", "episodes"} {
		if !seen[want] {
			return s, errAt(file, v.Line, "schedule: %s is missing", want)
		}
	}
	return s, nil
}

// parseEpisode reads one fault of the schedule: a mapping of
// schedule.json's episode keys (at, duration, kind, variant, order, ...).
func parseEpisode(file string, it *yaml.Node, nodes []string) (nemesis.Episode, error) {
	var ep nemesis.Episode
	if it.Kind != yaml.MappingNode {
		return ep, errAt(file, it.Line, "schedule: episodes: want a fault: {at: 1s, duration: 2s, kind: partition, ...}")
	}
	var raw map[string]any
	if err := it.Decode(&raw); err != nil {
		return ep, errAt(file, it.Line, "schedule: episode: %v", err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return ep, errAt(file, it.Line, "schedule: episode: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ep); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return ep, errAt(file, it.Line, "schedule: episode: %s: want a %s", ute.Field, ute.Type)
		}
		return ep, errAt(file, it.Line, "schedule: episode: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := ep.Validate(nodes); err != nil {
		return ep, errAt(file, it.Line, "schedule: episode: %v", err)
	}
	return ep, nil
}

// Format writes e as an entry file: a comment saying what it is, then its
// keys in a fixed order, the episodes one a line. Parse reads it back the
// same.
func Format(e Entry) ([]byte, error) {
	var b bytes.Buffer
	what := "a faithful build"
	if e.Bug != "" {
		what = "planted bug " + e.Bug
	}
	if e.System != runner.SystemElectd {
		what = e.System
	}
	fmt.Fprintf(&b, "# splitbrain regression corpus entry (corpus/README.md): %s, %d nodes, %d fault(s).\n", what, e.Nodes, len(e.Schedule.Episodes))
	switch e.Expect {
	case ExpectInvalid:
		fmt.Fprintf(&b, "# expect invalid: a replay must still be invalid by %s.\n", strings.Join(e.Checkers, " or "))
	case ExpectValid:
		b.WriteString("# expect valid: the bug was fixed; every replay must be valid.\n")
	}
	kv := func(k, v string) {
		fmt.Fprintf(&b, "%s: %s\n", k, quote(v))
	}
	kv("system", e.System)
	if e.Algo != "" {
		kv("algo", e.Algo)
	}
	if e.Bug != "" {
		kv("bug", e.Bug)
	}
	if e.ReadMode != "" {
		kv("read_mode", e.ReadMode)
	}
	fmt.Fprintf(&b, "nodes: %d\nseed: %d\nexpect: %s\n", e.Nodes, e.Seed, e.Expect)
	fmt.Fprintf(&b, "checkers: [%s]\n", strings.Join(e.Checkers, ", "))
	if e.Replays > 0 {
		fmt.Fprintf(&b, "replays: %d\n", e.Replays)
	}
	for _, f := range []struct{ k, v string }{{"source", e.Source}, {"shrunk_from", e.ShrunkFrom}} {
		if f.v != "" {
			kv(f.k, f.v)
		}
	}
	if e.FaultsBefore > 0 {
		fmt.Fprintf(&b, "faults_before: %d\n", e.FaultsBefore)
	}
	for _, f := range []struct{ k, v string }{{"found", e.Found}, {"note", e.Note}} {
		if f.v != "" {
			kv(f.k, f.v)
		}
	}
	if len(e.Settings) > 0 {
		b.WriteString("settings:\n")
		for _, s := range e.Settings {
			fmt.Fprintf(&b, "  %s: %s\n", strings.ReplaceAll(s.Key, "-", "_"), quote(s.Value))
		}
	}
	s := e.Schedule
	b.WriteString("schedule:\n")
	fmt.Fprintf(&b, "  interval: %s\n  time_limit: %s\n", s.Interval, s.TimeLimit)
	var kinds []string
	for _, k := range s.Kinds {
		kinds = append(kinds, quote(k))
	}
	fmt.Fprintf(&b, "  kinds: [%s]\n", strings.Join(kinds, ", "))
	if len(s.Patterns) > 0 {
		p, err := json.Marshal(s.Patterns)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  patterns: %s\n", p)
	}
	if s.Compose {
		b.WriteString("  compose: true\n")
	}
	if s.DriftBound != 0 {
		fmt.Fprintf(&b, "  drift_bound: %s\n", strconv.FormatFloat(s.DriftBound, 'g', -1, 64))
	}
	b.WriteString("  episodes:\n")
	if len(s.Episodes) == 0 {
		b.Truncate(b.Len() - 1)
		b.WriteString(" []\n")
	}
	for _, ep := range s.Episodes {
		j, err := json.Marshal(ep)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "    - %s\n", j)
	}
	return b.Bytes(), nil
}

// quote writes a scalar so that YAML reads it back as the same string.
func quote(s string) string {
	b, err := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
	if err != nil {
		return `""`
	}
	if plainRE.MatchString(s) {
		return s
	}
	return string(b)
}

// plainRE is a scalar safe to write unquoted: Parse reads scalars as the
// text they are (a plain 6 or true is the text "6" or "true").
var plainRE = regexp.MustCompile(`^[A-Za-z0-9/.][A-Za-z0-9._/+-]*$`)
