// Package runner runs one test end to end: from the settings it starts an
// ensemble, runs the workload's clients and the nemesis for the time limit,
// heals everything and reads every key in a final phase, then judges what
// was recorded and stores the run directory (docs/run-format.md).
package runner

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/splitbrain/splitbrain/election/bugs"
	"github.com/splitbrain/splitbrain/nemesis"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/systems/redis"
)

// Config is the settings of a run: the flags of splitbrain run, or the
// keys of a -f file (the same names). The embedded rundir.Config is what
// run.json stores; the rest only steers this harness.
type Config struct {
	rundir.Config
	SeedSet bool // Seed was given (else drawn at random)
	// NodesSet: Nodes was given (a flag, -f, a replayed run); else the
	// system's default applies (SystemDefaults).
	NodesSet bool
	// NemesisAll: --nemesis all, to which SystemDefaults adds the fault
	// kinds of the system's own (takeover for Redis Cluster).
	NemesisAll bool
	Store      string // where run directories go
	Name       string // the run directory's name; drawn when empty
	Replay     string // a stored run whose fault schedule to re-run
}

// Defaults returns the settings a run has when nothing is said.
func Defaults() Config {
	c := Config{}
	for _, f := range Fields {
		if err := f.set(&c, f.Default); err != nil {
			panic(fmt.Sprintf("runner: default of %s: %v", f.Name, err))
		}
	}
	c.NodesSet = false // the default is the system's
	return c
}

// SystemDefaults fills in what depends on the system, once the settings
// are assembled: a node count not given is the system's (6 for Redis
// Cluster: three masters and a replica each; 5 for the others), and
// --nemesis all adds the fault kinds only this system has. Run calls it;
// calling it again changes nothing.
func (c *Config) SystemDefaults() {
	c.Nodes = c.nodes()
	if c.NemesisAll {
		for _, k := range systemKinds[c.System] {
			if !slices.Contains(c.Nemesis, k) {
				c.Nemesis = append(c.Nemesis, k)
			}
		}
	}
}

// defaultNodes is the system's node count when none is given.
func (c Config) defaultNodes() int {
	if c.System == SystemRedis {
		return redisNodes
	}
	return defaultNodes
}

// nodes is the node count the run will have: the system's when the count
// was not given and is still the generic default (a caller that sets
// Nodes itself, as hunt does, keeps its count).
func (c Config) nodes() int {
	if !c.NodesSet && c.Nodes == defaultNodes {
		return c.defaultNodes()
	}
	return c.Nodes
}

// Field is one setting: a flag of splitbrain run and a key of its -f file.
type Field struct {
	Name    string
	Default string
	Usage   string
	Type    string                          // what the value is, for --help: int, duration, ...
	parse   func(c *Config, v string) error // reads the text into c
	check   func(c *Config) error           // whether c's value is allowed; nil: any
	get     func(c *Config) string
}

// Set parses v into c's setting; c is unchanged when v is not allowed.
func (f Field) Set(c *Config, v string) error { return f.set(c, v) }

// Get returns c's setting as text.
func (f Field) Get(c *Config) string { return f.get(c) }

func (f Field) set(c *Config, v string) error {
	next := *c
	if err := f.parse(&next, v); err != nil {
		return err
	}
	if f.check != nil {
		if err := f.check(&next); err != nil {
			return err
		}
	}
	*c = next
	return nil
}

func intField(name, def, usage string, lo, hi int, p func(*Config) *int) Field {
	return Field{Name: name, Default: def, Usage: usage, Type: "int",
		parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want an integer, got %q", v)
			}
			*p(c) = n
			return nil
		},
		check: func(c *Config) error {
			if n := *p(c); n < lo || n > hi {
				return fmt.Errorf("want %d to %d, got %d", lo, hi, n)
			}
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*p(c)) }}
}

// given makes f note, when set, that its value was given (set: what to
// note), so that a system's default does not replace it.
func given(f Field, set func(c *Config)) Field {
	parse := f.parse
	f.parse = func(c *Config, v string) error {
		if err := parse(c, v); err != nil {
			return err
		}
		set(c)
		return nil
	}
	return f
}

func durField(name, def, usage string, lo time.Duration, p func(*Config) *rundir.Duration) Field {
	return Field{Name: name, Default: def, Usage: usage, Type: "duration",
		parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want a duration like 5s or 1m30s, got %q", v)
			}
			*p(c) = rundir.Duration(d)
			return nil
		},
		check: func(c *Config) error {
			if d := time.Duration(*p(c)); d < lo {
				return fmt.Errorf("want at least %v, got %v", lo, d)
			}
			return nil
		},
		get: func(c *Config) string { return p(c).String() }}
}

func oneOf(name, def, usage string, allowed []string, p func(*Config) *string) Field {
	return Field{Name: name, Default: def, Usage: usage, Type: "string",
		parse: func(c *Config, v string) error { *p(c) = strings.TrimSpace(v); return nil },
		check: func(c *Config) error {
			if v := *p(c); !slices.Contains(allowed, v) {
				return fmt.Errorf("want one of %s, got %q", strings.Join(allowed, ", "), v)
			}
			return nil
		},
		get: func(c *Config) string { return *p(c) }}
}

func strField(name, def, usage string, p func(*Config) *string) Field {
	return Field{Name: name, Default: def, Usage: usage, Type: "string",
		parse: func(c *Config, v string) error { *p(c) = v; return nil },
		get:   func(c *Config) string { return *p(c) }}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// Fields are every setting, in the order --help shows them.
var Fields = []Field{
	oneOf("system", SystemElectd, "the system under test: electd; zookeeper, etcd or redis (real servers, from Debian's packages or --image; redis: Redis Cluster); or contract for your own binary (--binary)",
		[]string{SystemElectd, SystemZooKeeper, SystemEtcd, SystemRedis, SystemContract}, func(c *Config) *string { return &c.System }),
	oneOf("algo", "raft", "electd's protocol: raft or zab", []string{"raft", "zab"}, func(c *Config) *string { return &c.Algo }),
	{Name: "bug", Default: "", Type: "names", Usage: "electd's planted bugs, comma-separated (electd --list-bugs)",
		parse: func(c *Config, v string) error { c.Bug = strings.TrimSpace(v); return nil },
		check: func(c *Config) error {
			_, err := bugs.Parse(c.Bug, "")
			return err
		},
		get: func(c *Config) string { return c.Bug }},
	{Name: "read-mode", Default: "", Type: "string",
		Usage: "how reads are served (empty: the system's default): electd quorum or lease; zookeeper quorum (a fence write, then read: linearizable, the default), sync (sync, then read: not linearizable) or local (the connected server's copy); etcd linearizable or serializable (the member's own copy)",
		parse: func(c *Config, v string) error { c.ReadMode = strings.TrimSpace(v); return nil },
		get:   func(c *Config) string { return c.ReadMode }},
	strField("image", "", "with --system zookeeper, etcd or redis: your own image of the server to build the node image on (never pulled: it must be on the engine)",
		func(c *Config) *string { return &c.Image }),
	strField("etcd-version", "", "with --system etcd: a version built from the Go module proxy, e.g. v3.5.35 (empty: Debian's etcd 3.4)",
		func(c *Config) *string { return &c.EtcdVersion }),
	strField("binary", "", "with --system contract: your node's static linux binary", func(c *Config) *string { return &c.Binary }),
	strField("args", "", "with --system contract: its arguments; {id} {listen} {peers} {data} are filled in per node, {seed} with the run's seed",
		func(c *Config) *string { return &c.Args }),
	given(intField("nodes", "5", "nodes in the ensemble (redis: 6, a multiple of 2 with at least 3 masters)", 3, 9, func(c *Config) *int { return &c.Nodes }),
		func(c *Config) { c.NodesSet = true }),
	oneOf("workload", "register", "the workload: register", []string{"register"}, func(c *Config) *string { return &c.Workload }),
	{Name: "nemesis", Default: "all", Type: "kinds",
		Usage: "fault kinds, comma-separated: partition,kill,pause,clock,netem, and takeover (redis: a replica promoted without the vote while its master is cut off); or all (with the system's own), or none",
		parse: func(c *Config, v string) error {
			k, err := nemesis.ParseKinds(v)
			if err != nil {
				return err
			}
			c.Nemesis, c.NemesisAll = k, strings.TrimSpace(v) == "all"
			return nil
		},
		check: func(c *Config) error {
			for _, k := range c.Nemesis {
				if !nemesis.KnownKind(k) {
					return fmt.Errorf("unknown fault kind %q: want some of %s", k, strings.Join(append(slices.Clone(rundir.Kinds), rundir.SystemKinds...), ", "))
				}
			}
			return nil
		},
		get: func(c *Config) string {
			if len(c.Nemesis) == 0 {
				return "none"
			}
			return strings.Join(c.Nemesis, ",")
		}},
	durField("nemesis-interval", "5s", "about how long each fault lasts, and the calm after it", 100*time.Millisecond,
		func(c *Config) *rundir.Duration { return &c.NemesisInterval }),
	durField("time-limit", "60s", "how long the clients run (the final phase comes after)", time.Second,
		func(c *Config) *rundir.Duration { return &c.TimeLimit }),
	intField("concurrency", "10", "client processes at a time, bound to the nodes round robin", 1, 1000,
		func(c *Config) *int { return &c.Concurrency }),
	{Name: "rate", Default: "0", Type: "float", Usage: "operations per second over all clients; 0 for as fast as they go",
		parse: func(c *Config, v string) error {
			r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return fmt.Errorf("want a number of operations per second, 0 or more, got %q", v)
			}
			c.Rate = r
			return nil
		},
		check: func(c *Config) error {
			if c.Rate < 0 || math.IsNaN(c.Rate) {
				return fmt.Errorf("want a number of operations per second, 0 or more, got %g", c.Rate)
			}
			return nil
		},
		get: func(c *Config) string { return strconv.FormatFloat(c.Rate, 'g', -1, 64) }},
	intField("keys", "5", "register keys", 1, 1000, func(c *Config) *int { return &c.Keys }),
	durField("op-timeout", "1s", "client operation timeout; a timeout is an indeterminate (info) outcome", 10*time.Millisecond,
		func(c *Config) *rundir.Duration { return &c.OpTimeout }),
	{Name: "expect", Default: "", Type: "string",
		Usage: "what the register must be beyond what the system promises: linearizable (for redis, whose linearizability is otherwise reported as information)",
		parse: func(c *Config, v string) error { c.Expect = strings.TrimSpace(v); return nil },
		check: func(c *Config) error {
			if c.Expect != "" && c.Expect != rundir.ExpectLinearizable {
				return fmt.Errorf("want %s, or nothing for what the system promises; got %q", rundir.ExpectLinearizable, c.Expect)
			}
			return nil
		},
		get: func(c *Config) string { return c.Expect }},
	{Name: "seed", Default: "", Type: "int", Usage: "seed of the fault schedule and the clients' choices (default: random, and printed)",
		parse: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v == "" {
				c.Seed, c.SeedSet = 0, false
				return nil
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("want an integer, got %q", v)
			}
			c.Seed, c.SeedSet = n, true
			return nil
		},
		get: func(c *Config) string {
			if !c.SeedSet {
				return ""
			}
			return strconv.FormatInt(c.Seed, 10)
		}},
	strField("store", "./store", "where run directories go", func(c *Config) *string { return &c.Store }),
	{Name: "name", Default: "", Type: "string", Usage: "the run directory's name under the store (default: system-algo-bug-time)",
		parse: func(c *Config, v string) error { c.Name = strings.TrimSpace(v); return nil },
		check: func(c *Config) error {
			if c.Name != "" && !nameRE.MatchString(c.Name) {
				return fmt.Errorf("want letters, digits, '.', '_' and '-' only, got %q", c.Name)
			}
			return nil
		},
		get: func(c *Config) string { return c.Name }},
}

// FieldByName returns the setting name (a -f key may use _ for -).
func FieldByName(name string) (Field, bool) {
	name = strings.ReplaceAll(strings.TrimSpace(name), "_", "-")
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Validate checks every setting's range, and what single settings can't:
// combinations. A Config read from run.json gets the same checks as flags.
func (c Config) Validate() error {
	var errs []error
	for _, f := range Fields {
		if f.check == nil || (f.Name == "algo" && c.System != SystemElectd) {
			continue // only electd has an algorithm
		}
		if err := f.check(&c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
		}
	}
	switch c.System {
	case SystemContract:
		if c.Binary == "" {
			errs = append(errs, errors.New("--system contract needs --binary, your node's static linux binary"))
		}
		if c.Args == "" {
			errs = append(errs, errors.New("--system contract needs --args, e.g. '--id {id} --listen {listen} --peers {peers} --data {data}'"))
		}
	case SystemElectd:
		if _, err := bugs.Parse(c.Bug, c.Algo); err != nil {
			errs = append(errs, fmt.Errorf("--bug: %w", err))
		}
	}
	if modes, ok := readModes[c.System]; ok && !slices.Contains(modes, c.ReadMode) {
		if len(modes) == 1 {
			errs = append(errs, fmt.Errorf("--read-mode: --system %s has no read modes, got %q", c.System, c.ReadMode))
		} else {
			named := modes[1:]
			list := strings.Join(named[:len(named)-1], ", ") + " or " + named[len(named)-1]
			errs = append(errs, fmt.Errorf("--read-mode: --system %s reads %s, not %q", c.System, list, c.ReadMode))
		}
	}
	if c.System != SystemContract && (c.Binary != "" || c.Args != "") {
		errs = append(errs, errors.New("--binary and --args apply to --system contract only"))
	}
	if c.System != SystemElectd && c.Bug != "" {
		errs = append(errs, fmt.Errorf("--bug applies to --system electd only (%s runs as it is)", c.System))
	}
	if c.Image != "" && c.System != SystemZooKeeper && c.System != SystemEtcd && c.System != SystemRedis {
		errs = append(errs, errors.New("--image applies to --system zookeeper, etcd and redis"))
	}
	if c.System == SystemRedis {
		if _, err := redis.NewLayout(c.nodes(), redisReplicas); err != nil {
			errs = append(errs, fmt.Errorf("--nodes: %w", err))
		}
	}
	if c.EtcdVersion != "" && c.System != SystemEtcd {
		errs = append(errs, errors.New("--etcd-version applies to --system etcd only"))
	}
	if c.EtcdVersion != "" && c.Image != "" {
		errs = append(errs, errors.New("--etcd-version and --image: give one (the image brings its own etcd)"))
	}
	if c.NemesisInterval > c.TimeLimit && len(c.Nemesis) > 0 {
		errs = append(errs, fmt.Errorf("--nemesis-interval %v is longer than --time-limit %v: no fault would fit", c.NemesisInterval, c.TimeLimit))
	}
	return errors.Join(errs...)
}

// yamlLine finds "line N" in a yaml error.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// YAMLRoot parses a settings file (a -f file, a nightly matrix, a corpus
// entry) into its top node, nil when the file holds nothing; a syntax
// error names the file and the line.
func YAMLRoot(file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s:%s: %s", file, m[1], m[2])
		}
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// LoadYAML applies the settings of a -f file to c. Keys are the flag names
// (nemesis may be a list); keep(name) false skips a key (a flag given on
// the command line overrides the file). Errors name the file and line.
func LoadYAML(file string, data []byte, c *Config, keep func(name string) bool) error {
	root, err := YAMLRoot(file, data)
	if err != nil || root == nil {
		return err // nil for an empty file
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of settings (nodes: 5, time-limit: 60s, ...)", file, root.Line)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		f, ok := FieldByName(k.Value)
		if !ok || k.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s:%d: unknown setting %q; want one of %s", file, k.Line, k.Value, fieldNames())
		}
		if prev, dup := seen[f.Name]; dup {
			return fmt.Errorf("%s:%d: %s is set twice (first on line %d)", file, k.Line, f.Name, prev)
		}
		seen[f.Name] = k.Line
		var val string
		switch {
		case v.Kind == yaml.ScalarNode:
			val = v.Value
		case v.Kind == yaml.SequenceNode && f.Name == "nemesis":
			var items []string
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return fmt.Errorf("%s:%d: nemesis: want a list of fault kinds", file, it.Line)
				}
				items = append(items, it.Value)
			}
			val = strings.Join(items, ",")
			if len(items) == 0 {
				val = "none"
			}
		default:
			return fmt.Errorf("%s:%d: %s: want a single value", file, v.Line, f.Name)
		}
		if keep != nil && !keep(f.Name) {
			continue
		}
		if err := f.set(c, val); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", file, v.Line, f.Name, err)
		}
	}
	return nil
}

func fieldNames() string {
	var names []string
	for _, f := range Fields {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

// Flags returns the command-line flags that give c, in Fields order, leaving
// out the ones at their default: the replay command and run.json's
// "command" are made of them.
func (c Config) Flags() []string {
	d := Defaults()
	var out []string
	for _, f := range Fields {
		v := f.get(&c)
		if f.Name == "store" || f.Name == "name" || f.Name == "seed" || (f.Name == "algo" && c.System != SystemElectd) {
			continue
		}
		if v == f.get(&d) {
			continue
		}
		out = append(out, "--"+f.Name, v)
	}
	if c.SeedSet {
		out = append(out, "--seed", strconv.FormatInt(c.Seed, 10))
	}
	return out
}

// ShellQuote quotes args for a POSIX shell where needed.
func ShellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/:=+@%") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
