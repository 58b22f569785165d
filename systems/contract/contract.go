// Package contract is splitbrain's node contract as a system: a user's own
// binary that speaks the contract (docs/node-contract.md), packed into a
// node image like electd. (The contract's client is package workloads.)
package contract

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/splitbrain/splitbrain/systems"
)

// DefaultPort is the port a contract node listens on unless told otherwise.
const DefaultPort = 7101

// System packs the static binary at path into the image as /<base name> and
// starts it with args, split on spaces, templates as in package systems
// ({id} {listen} {peers} {data} ...). port is the client port ({listen}
// is 0.0.0.0:port); 0 means DefaultPort.
func System(path, args string, port int) (systems.System, error) {
	if path == "" {
		return systems.System{}, errors.New("contract system: no binary")
	}
	if port == 0 {
		port = DefaultPort
	}
	dest := "/" + filepath.Base(path)
	s := systems.System{
		Name:       "contract-" + strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)),
		Binaries:   []systems.Binary{{Dest: dest, File: path}},
		Args:       append([]string{dest}, strings.Fields(args)...),
		ClientPort: port,
		Client:     systems.ClientContract,
		Clock:      systems.ClockContract,
	}
	return s, s.Validate()
}
