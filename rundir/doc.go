// Package rundir owns the run directory (docs/run-format.md): the names of
// its files, the settings a run was made with (run.json), the names written
// into its files (faults, roles, sources), and how a file in it is replaced
// whole. It imports nothing of splitbrain's, so every other package can use
// it.
package rundir
