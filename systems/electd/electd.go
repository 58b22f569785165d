// Package electd describes electd, splitbrain's own leader-election server
// (cmd/electd), as a system: built from this module, packed FROM scratch,
// spoken to with the node contract (systems/contract).
package electd

import (
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/systems"
)

// Package is electd's Go package.
const Package = "github.com/splitbrain/splitbrain/cmd/electd"

// Port is the port electd serves clients and peers on.
const Port = 7101

// Options are electd's flags beyond the ensemble's shape.
type Options struct {
	Algo            string        // "raft" (default) or "zab"
	Bugs            []string      // --bug values
	ElectionTimeout time.Duration // 0: electd's default
	Heartbeat       time.Duration // 0: electd's default
	ReadMode        string        // "quorum", "lease"; "": electd's default
	Extra           []string      // more flags, appended as given
}

// System is electd with opts.
func System(opts Options) systems.System {
	algo := opts.Algo
	if algo == "" {
		algo = "raft"
	}
	args := []string{"/electd", "--id", "{id}", "--listen", "{listen}", "--peers", "{peers}",
		"--data", "{data}", "--algo", algo, "--seed", "{seed}"}
	if len(opts.Bugs) > 0 {
		args = append(args, "--bug", strings.Join(opts.Bugs, ","))
	}
	if opts.ElectionTimeout > 0 {
		args = append(args, "--election-timeout", opts.ElectionTimeout.String())
	}
	if opts.Heartbeat > 0 {
		args = append(args, "--heartbeat", opts.Heartbeat.String())
	}
	if opts.ReadMode != "" {
		args = append(args, "--read-mode", opts.ReadMode)
	}
	args = append(args, opts.Extra...)
	return systems.System{
		Name:       "electd",
		Binaries:   []systems.Binary{{Dest: "/electd", Package: Package}},
		Args:       args,
		ClientPort: Port,
		Client:     systems.ClientContract,
		Clock:      systems.ClockContract,
	}
}
