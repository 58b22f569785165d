// Command splitbrain runs Jepsen-style fault-injection tests against
// leader-election implementations and judges what they recorded.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	exitValid     = 0
	exitInvalid   = 1
	exitUnknown   = 2
	exitCannotRun = 3
)

// exitError carries an exit code out of a subcommand; a plain error exits 3.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "splitbrain",
		Short:         "Fault-injection tests for leader election: split brains, stale reads, lost writes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands is filled by each subcommand's file in its init, so that a
// command lives in one file.
var subcommands []func() *cobra.Command

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitValid
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "splitbrain:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "splitbrain:", err)
	return exitCannotRun
}
