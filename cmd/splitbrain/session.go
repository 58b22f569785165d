package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// session is what a command that drives ensembles sets up: its logger, the
// live progress line when stderr is a terminal, and an interrupt context.
type session struct {
	log     *slog.Logger
	live    bool   // stderr is a terminal: draw a progress line
	program string // how the user called us, for replay commands
}

// newSession builds the logger and a context that the first SIGINT or
// SIGTERM cancels (the command winds down and stores what it recorded); a
// second signal kills the process as usual.
func newSession(cmd *cobra.Command, verbose bool) (context.Context, context.CancelFunc, session) {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	s := session{program: programName()}
	// A terminal, not any character device (/dev/null is one too).
	if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.live = true
	}
	logTo := cmd.ErrOrStderr()
	if s.live {
		logTo = clearLine{logTo}
	}
	s.log = slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// Restore the default handling once the first signal arrived, so
		// that a second one kills.
		<-ctx.Done()
		stop()
	}()
	return ctx, stop, s
}

// programName is how the user called splitbrain, for the commands we print.
func programName() string {
	if len(os.Args) > 0 && strings.Contains(os.Args[0], "/") {
		return os.Args[0]
	}
	return "splitbrain"
}

// clearLine clears the live progress line before each log line.
type clearLine struct{ w io.Writer }

func (c clearLine) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.w, "\r\033[K"); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
