package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("1m30s"); a number is read as nanoseconds.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"5s\", got %s", b)
		}
		*d = Duration(n)
		return nil
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// String is the Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// Config is what a run was asked to do: the settings that, with the
// schedule, make it again. It is the run part of run.json.
type Config struct {
	System          string   `json:"system"`                 // "electd", "contract", ...
	Algo            string   `json:"algo,omitempty"`         // electd: "raft" or "zab"
	Bug             string   `json:"bug"`                    // electd: planted bugs, comma-separated
	ReadMode        string   `json:"read_mode,omitempty"`    // how reads are served; "" is the system's default
	Image           string   `json:"image,omitempty"`        // zookeeper, etcd: the user's image to build the node image on
	EtcdVersion     string   `json:"etcd_version,omitempty"` // etcd: a version built from the Go module proxy; "" is Debian's
	Binary          string   `json:"binary,omitempty"`       // contract: the node binary
	Args            string   `json:"args,omitempty"`         // contract: its arguments
	Nodes           int      `json:"nodes"`
	Workload        string   `json:"workload"`
	Nemesis         []string `json:"nemesis"` // fault kinds
	NemesisInterval Duration `json:"nemesis_interval"`
	TimeLimit       Duration `json:"time_limit"`
	Concurrency     int      `json:"concurrency"`
	Rate            float64  `json:"rate"` // operations per second; 0 for as fast as clients go
	Keys            int      `json:"keys"`
	OpTimeout       Duration `json:"op_timeout"`
	Seed            int64    `json:"seed"`
	// Expect is what the register must be beyond what the system
	// promises: ExpectLinearizable, or "" for the system's own promise
	// (linearizable for electd, ZooKeeper, etcd and contract nodes; none
	// for Redis Cluster, whose linearizability is then information).
	Expect string `json:"expect,omitempty"`
}

// Settings is run.json: the Config, and what made this run of it.
type Settings struct {
	Name    string `json:"name"`
	Started string `json:"started"` // RFC 3339, UTC
	Config
	Command  string `json:"command"`             // the command line that ran it
	Replay   string `json:"replay"`              // the command that replays it
	ReplayOf string `json:"replay_of,omitempty"` // the run whose schedule it re-ran
	Ensemble string `json:"ensemble,omitempty"`  // the containers' run label
	// Unsupported are the fault kinds asked for that this system or machine
	// cannot have (clock faults on a Go binary, netem without sch_netem):
	// never injected, so the run says nothing about them.
	Unsupported []string `json:"unsupported,omitempty"`
	// ShrunkFrom is the failing run whose schedule splitbrain shrink
	// reduced to this run's, and FaultsBefore that schedule's episodes.
	ShrunkFrom   string `json:"shrunk_from,omitempty"`
	FaultsBefore int    `json:"faults_before,omitempty"`
}

// ErrNoSettings is returned by ReadSettings for a directory without run.json.
var ErrNoSettings = errors.New("no " + SettingsFile + " in the run directory")

// ReadSettings reads dir/run.json.
func ReadSettings(dir string) (Settings, error) {
	path := filepath.Join(dir, SettingsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Settings{}, fmt.Errorf("%s: %w", dir, ErrNoSettings)
	}
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	var s Settings
	if err := json.Unmarshal(b, &s); err != nil {
		return Settings{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// WriteSettings writes s as dir/run.json.
func WriteSettings(dir string, s Settings) error {
	if s.Nemesis == nil {
		s.Nemesis = []string{} // "no faults" reads as [], not null
	}
	return WriteJSON(filepath.Join(dir, SettingsFile), s)
}

// Field is one setting of run.json as text, for a person or a CI system.
type Field struct {
	Name  string // its run.json key
	Value string
}

// Fields lists s's settings in run.json order, each as text; empty ones
// are left out.
func (s Settings) Fields() []Field {
	var out []Field
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			if sf.Anonymous {
				walk(f)
				continue
			}
			name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if strings.Contains(opts, "omitempty") && f.IsZero() {
				continue // as run.json leaves it out
			}
			if text := fieldText(f); name != "" && text != "" {
				out = append(out, Field{Name: name, Value: text})
			}
		}
	}
	walk(reflect.ValueOf(s))
	return out
}

func fieldText(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case Duration:
		if x == 0 {
			return ""
		}
		return x.String()
	case []string:
		return strings.Join(x, ",")
	case string:
		return x
	}
	return fmt.Sprint(v.Interface())
}
