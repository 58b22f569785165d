package main

import (
	"github.com/splitbrain/splitbrain/election"
)

// protocols maps each --algo to its constructor. An algorithm whose package
// has not landed yet has no entry, and --algo names it as unavailable.
var protocols = map[string]func(election.Config) (election.Protocol, error){}
