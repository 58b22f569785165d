//go:build race

package zab

// raceEnabled trims the heaviest simulations under the race detector,
// which slows them about fifteenfold; they still run, just shorter.
const raceEnabled = true
