package main

import (
	"log/slog"

	"github.com/splitbrain/splitbrain/election"
	"github.com/splitbrain/splitbrain/election/raft"
	"github.com/splitbrain/splitbrain/election/zab"
)

// protocolFunc builds one --algo's protocol; the logger carries the node id.
type protocolFunc func(election.Config, *slog.Logger) (election.Protocol, error)

// protocols maps each --algo to its constructor. An algorithm whose package
// has not landed yet has no entry, and --algo names it as unavailable.
var protocols = map[string]protocolFunc{
	"raft": func(c election.Config, l *slog.Logger) (election.Protocol, error) {
		return raft.New(c, raft.WithLogger(l))
	},
	"zab": func(c election.Config, _ *slog.Logger) (election.Protocol, error) {
		return zab.New(c)
	},
}
