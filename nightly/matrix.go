// Package nightly runs a matrix of tests: systems x algorithms x planted
// bugs x nemeses x seeds, one run after another into one store, and judges
// the whole against what each run is expected to show. A faithful build
// must be valid; a planted bug should be found (the run invalid), ideally by
// the checker the bug registry names. It writes one summary page, one JUnit
// file and the store's index. docs/nightly.md describes the matrix file and
// the outcome rules.
package nightly

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/splitbrain/splitbrain/election/bugs"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/regress"
	"github.com/splitbrain/splitbrain/runner"
)

// Faithful is the bug label of a run with no planted bug.
const Faithful = "none"

// maxSeeds bounds "seeds: N" so that a typo cannot plan a week of runs.
const maxSeeds = 1000

// System is one system of the matrix.
type System struct {
	Name     string // the label in run names: "electd", or the contract system's name
	Kind     string // runner's --system: electd, zookeeper, etcd or contract
	Binary   string // contract: the node binary
	Args     string // contract: its arguments
	ReadMode string // --read-mode (runner checks it against the system)
	Image    string // zookeeper, etcd: --image
}

// Nemesis is one fault set of the matrix.
type Nemesis struct {
	Label string   // as written, for names and the page: "all", "partition+kill", "none"
	Kinds []string // what runner.Config.Nemesis gets
}

// Matrix is a parsed matrix file.
type Matrix struct {
	Name    string // the suite name: the file's name: key, else its base name
	File    string
	Systems []System
	Algos   []string
	Bugs    []bugEntry
	Nemeses []Nemesis
	Seeds   []int64
	// Base is the per-run settings every run starts from: runner.Defaults
	// with the file's settings applied.
	Base runner.Config
	// Corpus is the regression corpus the nightly replays before the
	// matrix's runs (corpus: FOLDER), each entry up to CorpusReplays times.
	CorpusDir     string
	Corpus        []regress.Entry
	CorpusReplays int
}

// bugEntry is one item of bugs:, kept with its line for errors found when
// it is combined with the algorithms.
type bugEntry struct {
	Value string
	Line  int
}

// matrixKeys are the keys the matrix itself owns; every other key must be a
// per-run setting (a runner field not in runOwned).
var matrixKeys = []string{"name", "systems", "algos", "bugs", "nemeses", "seeds", "corpus", "corpus_replays"}

// runOwned are runner fields the matrix sets per run (or the command sets),
// so a matrix file may not set them as a per-run setting.
var runOwned = []string{"system", "algo", "bug", "nemesis", "seed", "store", "name", "binary", "args"}

// labelRE is what a system's name may be: it becomes part of a run
// directory's name.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$`)

// errAt formats an error at a line of the matrix file.
func errAt(file string, line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...))
}

// Parse reads a matrix file. file names it in errors, which all carry the
// line they are about. It checks everything that can be checked without
// running: names, settings, and that every bug combines with an algorithm
// of the matrix (Expand then cannot fail on a parsed matrix).
func Parse(file string, data []byte) (Matrix, error) {
	m := Matrix{File: file, Name: suiteName(file), Base: runner.Defaults()}
	root, err := runner.YAMLRoot(file, data)
	if err != nil {
		return m, err
	}
	if root == nil {
		return m, fmt.Errorf("%s: empty matrix; want at least systems, algos, bugs, nemeses and seeds", file)
	}
	if root.Kind != yaml.MappingNode {
		return m, errAt(file, root.Line, "want a mapping (systems: ..., algos: ..., bugs: ..., nemeses: ..., seeds: ...)")
	}
	seen := map[string]int{}
	var bugsLine int
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return m, errAt(file, k.Line, "want a key name")
		}
		key := strings.ReplaceAll(k.Value, "_", "-")
		if prev, dup := seen[key]; dup {
			return m, errAt(file, k.Line, "%s is set twice (first on line %d)", k.Value, prev)
		}
		seen[key] = k.Line
		var err error
		switch key {
		case "name":
			if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
				return m, errAt(file, v.Line, "name: want a single value")
			}
			m.Name = strings.TrimSpace(v.Value)
		case "systems":
			m.Systems, err = parseSystems(file, v)
		case "algos":
			m.Algos, err = parseAlgos(file, v)
		case "bugs":
			bugsLine = v.Line
			m.Bugs, err = parseBugs(file, v)
		case "nemeses":
			m.Nemeses, err = parseNemeses(file, v)
		case "seeds":
			m.Seeds, err = parseSeeds(file, v)
		case "corpus":
			if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
				return m, errAt(file, v.Line, "corpus: want the corpus folder (corpus/README.md)")
			}
			m.CorpusDir = strings.TrimSpace(v.Value)
			if m.Corpus, err = regress.Load(m.CorpusDir); err != nil {
				err = errAt(file, v.Line, "corpus: %v", err)
			}
		case "corpus-replays":
			n, perr := strconv.Atoi(strings.TrimSpace(v.Value))
			if v.Kind != yaml.ScalarNode || perr != nil || n < 1 || n > 100 {
				return m, errAt(file, v.Line, "corpus_replays: want 1 to 100 replays of each entry, got %q", v.Value)
			}
			m.CorpusReplays = n
		default:
			err = setting(file, k, v, &m.Base)
		}
		if err != nil {
			return m, err
		}
	}
	if _, ok := seen["corpus-replays"]; ok && m.CorpusDir == "" {
		return m, errAt(file, seen["corpus-replays"], "corpus_replays: no corpus: to replay")
	}
	if m.CorpusReplays == 0 {
		m.CorpusReplays = regress.DefaultReplays
	}
	for _, want := range []string{"systems", "bugs", "nemeses", "seeds"} {
		if _, ok := seen[want]; !ok {
			return m, fmt.Errorf("%s: %s is missing", file, want)
		}
	}
	hasElectd := slices.ContainsFunc(m.Systems, func(s System) bool { return s.Kind == runner.SystemElectd })
	if _, ok := seen["algos"]; !ok {
		if hasElectd {
			return m, fmt.Errorf("%s: algos is missing (electd needs raft, zab or both)", file)
		}
	}
	if err := checkBugs(file, bugsLine, m); err != nil {
		return m, err
	}
	if err := m.Base.Validate(); err != nil {
		// Only the combination of settings is left to check here: the
		// matrix fills system, algo and bug per run.
		return m, fmt.Errorf("%s: %w", file, err)
	}
	for _, s := range m.Systems {
		// Each system with the settings it brings (a read mode it has?).
		c := m.Base
		c.System, c.ReadMode, c.Image, c.Binary, c.Args = s.Kind, s.ReadMode, s.Image, s.Binary, s.Args
		if err := c.Validate(); err != nil {
			return m, fmt.Errorf("%s: systems: %s: %w", file, s.Name, err)
		}
	}
	return m, nil
}

// suiteName is a matrix's default name: its file's base name.
func suiteName(file string) string {
	b := file[strings.LastIndexAny(file, `/\`)+1:]
	if i := strings.LastIndex(b, "."); i > 0 {
		b = b[:i]
	}
	if b == "" {
		return "matrix"
	}
	return b
}

// setting applies one per-run setting (a runner field) to base.
func setting(file string, k, v *yaml.Node, base *runner.Config) error {
	f, ok := runner.FieldByName(k.Value)
	if !ok || slices.Contains(runOwned, f.Name) {
		var allowed []string
		for _, f := range runner.Fields {
			if !slices.Contains(runOwned, f.Name) {
				allowed = append(allowed, strings.ReplaceAll(f.Name, "-", "_"))
			}
		}
		return errAt(file, k.Line, "unknown key %q; want %s, or a per-run setting: %s",
			k.Value, strings.Join(matrixKeys, ", "), strings.Join(allowed, ", "))
	}
	if v.Kind != yaml.ScalarNode {
		return errAt(file, v.Line, "%s: want a single value", k.Value)
	}
	if err := f.Set(base, v.Value); err != nil {
		return errAt(file, v.Line, "%s: %v", k.Value, err)
	}
	return nil
}

// scalars returns the items of a list (a single scalar counts as a list of
// one), failing on anything nested.
func scalars(file, key string, v *yaml.Node) ([]*yaml.Node, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil, errAt(file, v.Line, "%s: want a list", key)
		}
		return []*yaml.Node{v}, nil
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, errAt(file, v.Line, "%s: the list is empty: the matrix would have no run", key)
		}
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return nil, errAt(file, it.Line, "%s: want a list of single values", key)
			}
		}
		return v.Content, nil
	default:
		return nil, errAt(file, v.Line, "%s: want a list", key)
	}
}

func parseSystems(file string, v *yaml.Node) ([]System, error) {
	items := []*yaml.Node{v}
	switch v.Kind {
	case yaml.SequenceNode:
		items = v.Content
		if len(items) == 0 {
			return nil, errAt(file, v.Line, "systems: the list is empty: the matrix would have no run")
		}
	case yaml.ScalarNode:
	default:
		return nil, errAt(file, v.Line, "systems: want a list: electd, or {name, binary, args} for your own node")
	}
	var out []System
	names := map[string]int{}
	for _, it := range items {
		s, err := parseSystem(file, it)
		if err != nil {
			return nil, err
		}
		if prev, dup := names[s.Name]; dup {
			return nil, errAt(file, it.Line, "systems: %q is listed twice (first on line %d); give one a name:", s.Name, prev)
		}
		names[s.Name] = it.Line
		out = append(out, s)
	}
	return out, nil
}

// parseSystem reads "electd", or a mapping: {system: electd, read_mode: ...}
// or {name: mynode, binary: ./mynode, args: '...'} (system: contract is
// implied by binary).
func parseSystem(file string, it *yaml.Node) (System, error) {
	switch it.Kind {
	case yaml.ScalarNode:
		switch it.Value {
		case runner.SystemElectd, runner.SystemZooKeeper, runner.SystemEtcd, runner.SystemRedis:
			return System{Name: it.Value, Kind: it.Value}, nil
		case "contract":
			return System{}, errAt(file, it.Line, "systems: contract needs binary and args: {name: mynode, binary: ./mynode, args: '--id {id} ...'}")
		default:
			return System{}, errAt(file, it.Line, "systems: unknown system %q; want electd, zookeeper, etcd, redis, or {name, binary, args} for your own node", it.Value)
		}
	case yaml.MappingNode:
	default:
		return System{}, errAt(file, it.Line, "systems: want electd, or {name, binary, args}")
	}
	var s System
	kindLine := it.Line
	seen := map[string]bool{}
	for i := 0; i+1 < len(it.Content); i += 2 {
		k, v := it.Content[i], it.Content[i+1]
		key := strings.ReplaceAll(k.Value, "_", "-")
		if seen[key] {
			return s, errAt(file, k.Line, "systems: %s is set twice", k.Value)
		}
		seen[key] = true
		if v.Kind != yaml.ScalarNode {
			return s, errAt(file, v.Line, "systems: %s: want a single value", k.Value)
		}
		switch key {
		case "system":
			if !slices.Contains([]string{runner.SystemElectd, runner.SystemZooKeeper, runner.SystemEtcd, runner.SystemRedis, runner.SystemContract}, v.Value) {
				return s, errAt(file, v.Line, "systems: system: want electd, zookeeper, etcd, redis or contract, got %q", v.Value)
			}
			s.Kind, kindLine = v.Value, v.Line
		case "name":
			if !labelRE.MatchString(v.Value) {
				return s, errAt(file, v.Line, "systems: name: want up to 31 letters, digits, '.', '_' and '-', got %q", v.Value)
			}
			s.Name = v.Value
		case "binary":
			s.Binary = v.Value
		case "args":
			s.Args = v.Value
		case "read-mode":
			s.ReadMode = v.Value // checked against the system with the run's settings
		case "image":
			s.Image = v.Value
		default:
			return s, errAt(file, k.Line, "systems: unknown key %q; want system, name, binary, args, read_mode or image", k.Value)
		}
	}
	if s.Kind == "" {
		s.Kind = "electd"
		if s.Binary != "" || s.Args != "" {
			s.Kind = "contract"
		}
	}
	switch s.Kind {
	case "contract":
		if s.Binary == "" || s.Args == "" {
			return s, errAt(file, kindLine, "systems: a contract system needs binary and args ('--id {id} --listen {listen} --peers {peers} --data {data}')")
		}
		if s.ReadMode != "" {
			return s, errAt(file, kindLine, "systems: read_mode applies to electd only")
		}
		if s.Name == "" {
			base := s.Binary[strings.LastIndexAny(s.Binary, `/\`)+1:]
			if !labelRE.MatchString(base) {
				return s, errAt(file, kindLine, "systems: give this system a name: (the binary's name %q cannot be part of a run name)", base)
			}
			s.Name = base
		}
	default:
		if s.Binary != "" || s.Args != "" {
			return s, errAt(file, kindLine, "systems: binary and args apply to a contract system only")
		}
		if s.Name == "" {
			s.Name = s.Kind
			if s.ReadMode != "" {
				s.Name += "-" + s.ReadMode
			}
		}
	}
	return s, nil
}

func parseAlgos(file string, v *yaml.Node) ([]string, error) {
	items, err := scalars(file, "algos", v)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		a := strings.TrimSpace(it.Value)
		if a != "raft" && a != "zab" {
			return nil, errAt(file, it.Line, "algos: want raft or zab, got %q", it.Value)
		}
		if slices.Contains(out, a) {
			return nil, errAt(file, it.Line, "algos: %s is listed twice", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// parseBugs reads bugs: items are "none", "all" or planted bug names (a
// comma-separated combination counts as one bug). Which algorithm each goes
// with is checked once the algorithms are known (checkBugs).
func parseBugs(file string, v *yaml.Node) ([]bugEntry, error) {
	items, err := scalars(file, "bugs", v)
	if err != nil {
		return nil, err
	}
	var out []bugEntry
	for _, it := range items {
		val := strings.TrimSpace(it.Value)
		switch val {
		case Faithful, "all":
		default:
			set, err := bugs.Parse(val, "")
			if err != nil {
				return nil, errAt(file, it.Line, "bugs: %v; or none (faithful), or all", err)
			}
			if len(set) == 0 {
				return nil, errAt(file, it.Line, "bugs: empty item; want none, all or a bug name")
			}
			val = strings.Join(bugs.Names(set), ",")
			var algo string
			for _, n := range bugs.Names(set) {
				b, _ := bugs.Lookup(n)
				if algo != "" && b.Algo != algo {
					return nil, errAt(file, it.Line, "bugs: %q mixes bugs of raft and zab; one run has one algorithm", it.Value)
				}
				algo = b.Algo
			}
		}
		if slices.ContainsFunc(out, func(e bugEntry) bool { return e.Value == val }) {
			return nil, errAt(file, it.Line, "bugs: %s is listed twice", val)
		}
		out = append(out, bugEntry{Value: val, Line: it.Line})
	}
	return out, nil
}

// checkBugs makes sure every named bug belongs to an algorithm of the
// matrix, and every algorithm has at least one bug entry (faithful or
// planted) to run with: either mistake would silently run less than the
// file seems to say.
func checkBugs(file string, line int, m Matrix) error {
	for _, e := range m.Bugs {
		if e.Value == Faithful || e.Value == "all" {
			continue
		}
		algo := bugAlgo(e.Value)
		if !slices.Contains(m.Algos, algo) {
			return errAt(file, e.Line, "bugs: %s is a bug of algo %s, which algos does not list (%s)", e.Value, algo, strings.Join(m.Algos, ", "))
		}
	}
	for _, a := range m.Algos {
		if len(bugsFor(m.Bugs, a)) == 0 {
			return errAt(file, line, "bugs: no bug for algo %s; add none (its faithful build) or one of its bugs", a)
		}
	}
	if !slices.ContainsFunc(m.Bugs, func(e bugEntry) bool { return e.Value == Faithful }) &&
		slices.ContainsFunc(m.Systems, func(s System) bool { return s.Kind != runner.SystemElectd }) {
		return errAt(file, line, "bugs: only electd has planted bugs: add none so that the other systems run")
	}
	return nil
}

// bugAlgo is the algorithm of a bug entry (a name or a combination).
func bugAlgo(entry string) string {
	b, _ := bugs.Lookup(strings.Split(entry, ",")[0])
	return b.Algo
}

// bugsFor lists the bug labels an algorithm runs with, in order: "none",
// every planted bug of the algorithm for "all", and the named ones of it.
func bugsFor(entries []bugEntry, algo string) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, e := range entries {
		switch e.Value {
		case Faithful:
			add(Faithful)
		case "all":
			for _, b := range bugs.All {
				if b.Algo == algo {
					add(b.Name)
				}
			}
		default:
			if bugAlgo(e.Value) == algo {
				add(e.Value)
			}
		}
	}
	return out
}

// parseNemeses reads nemeses: a list whose items are each a fault set: a
// list of kinds ([partition, kill]), a comma-separated string, all or none.
// A single list of kinds (nemeses: [partition, kill]) is read as one set
// per kind, the way a list reads.
func parseNemeses(file string, v *yaml.Node) ([]Nemesis, error) {
	var items []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{v}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, errAt(file, v.Line, "nemeses: the list is empty: the matrix would have no run; use [none] for no faults")
		}
		items = v.Content
	default:
		return nil, errAt(file, v.Line, "nemeses: want a list of fault sets, e.g. [[partition], [all]]")
	}
	var out []Nemesis
	for _, it := range items {
		var parts []string
		switch it.Kind {
		case yaml.ScalarNode:
			parts = []string{it.Value}
		case yaml.SequenceNode:
			if len(it.Content) == 0 {
				return nil, errAt(file, it.Line, "nemeses: empty fault set; write none for no faults")
			}
			for _, k := range it.Content {
				if k.Kind != yaml.ScalarNode {
					return nil, errAt(file, k.Line, "nemeses: want fault kinds")
				}
				parts = append(parts, k.Value)
			}
		default:
			return nil, errAt(file, it.Line, "nemeses: want a fault set: a list of kinds, all or none")
		}
		joined := strings.Join(parts, ",")
		if strings.TrimSpace(joined) == "" {
			return nil, errAt(file, it.Line, "nemeses: empty fault set; write none for no faults")
		}
		var kinds []string
		for _, p := range strings.Split(joined, ",") {
			k, err := nemesis.ParseKinds(p)
			if err != nil {
				return nil, errAt(file, it.Line, "nemeses: %v", err)
			}
			if (strings.TrimSpace(p) == "all" || strings.TrimSpace(p) == "none") && len(parts) > 1 {
				return nil, errAt(file, it.Line, "nemeses: %s stands alone in a fault set", strings.TrimSpace(p))
			}
			for _, x := range k {
				if !slices.Contains(kinds, x) {
					kinds = append(kinds, x)
				}
			}
		}
		label := "none"
		switch {
		case strings.TrimSpace(joined) == "all":
			label = "all"
		case len(kinds) > 0:
			label = strings.Join(kinds, "+")
		}
		if slices.ContainsFunc(out, func(n Nemesis) bool { return n.Label == label }) {
			return nil, errAt(file, it.Line, "nemeses: %s is listed twice", label)
		}
		out = append(out, Nemesis{Label: label, Kinds: kinds})
	}
	return out, nil
}

// parseSeeds reads seeds: a count N (seeds 1..N, the same every night, so
// that a night's result can be compared with the last) or a list.
func parseSeeds(file string, v *yaml.Node) ([]int64, error) {
	if v.Kind == yaml.ScalarNode {
		n, err := strconv.Atoi(strings.TrimSpace(v.Value))
		if err != nil || n < 1 || n > maxSeeds {
			return nil, errAt(file, v.Line, "seeds: want a count from 1 to %d, or a list of seeds, got %q", maxSeeds, v.Value)
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i + 1)
		}
		return out, nil
	}
	items, err := scalars(file, "seeds", v)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, it := range items {
		s, err := strconv.ParseInt(strings.TrimSpace(it.Value), 10, 64)
		if err != nil || s < 0 {
			return nil, errAt(file, it.Line, "seeds: want a seed (an integer, 0 or more), got %q", it.Value)
		}
		if slices.Contains(out, s) {
			return nil, errAt(file, it.Line, "seeds: %d is listed twice", s)
		}
		out = append(out, s)
	}
	return out, nil
}
