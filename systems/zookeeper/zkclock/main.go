// Command zkclock starts a server (a JVM) under libfaketime and keeps its
// clock at the skew the node agent asks for.
//
//	zkclock --clock-file /tmp/splitbrain.clock --faketime-file /tmp/splitbrain.faketime --lib /usr/lib/faketime/libfaketime.so.1 -- java ...
//
// The agent writes skews as one line "<at_unix_ns> <offset_ns> <rate>"
// (local(t) = at + offset + rate*(t-at)); libfaketime reads a spec of its
// own, "+<seconds>s x<rate>", whose rate counts from the process's start
// t0: fake(t) = t + X + (rate-1)*(t-t0). zkclock, the server's parent,
// knows t0 and translates: X = offset - (rate-1)*(at-t0). libfaketime
// rereads the file every second (FAKETIME_CACHE_DURATION; without a cache
// each clock read costs a file read, 150 times the plain cost), so a new
// skew takes hold within a second.
//
// libfaketime shifts CLOCK_MONOTONIC too: an offset steps the JVM's
// System.nanoTime, on which ZooKeeper's timeouts run, and a rate speeds
// them up or slows them down.
//
// zkclock runs in the server's process group (the agent signals the
// group: kill, pause and resume reach both) and exits as the server does.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("zkclock: ")
	clockFile := flag.String("clock-file", "/tmp/splitbrain.clock", "the agent's skew file")
	ftFile := flag.String("faketime-file", "/tmp/splitbrain.faketime", "libfaketime's spec file (FAKETIME_TIMESTAMP_FILE)")
	lib := flag.String("lib", "/usr/lib/faketime/libfaketime.so.1", "libfaketime")
	flag.Parse()
	argv := flag.Args()
	if len(argv) == 0 {
		log.Print("no server command after --")
		os.Exit(2)
	}
	os.Exit(run(*clockFile, *ftFile, *lib, argv))
}

func run(clockFile, ftFile, lib string, argv []string) int {
	t0 := time.Now()
	w := &watcher{clockFile: clockFile, ftFile: ftFile, t0: t0}
	if err := w.update(); err != nil {
		log.Print(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"LD_PRELOAD="+strings.TrimPrefix(os.Getenv("LD_PRELOAD")+":"+lib, ":"),
		"FAKETIME_TIMESTAMP_FILE="+ftFile,
		"FAKETIME_CACHE_DURATION=1",
	)
	if err := cmd.Start(); err != nil {
		log.Printf("start %s: %v", argv[0], err)
		return 1
	}
	// A stop signal for us is one for the server (the agent signals the
	// whole group anyway).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := w.update(); err != nil {
					log.Print(err)
				}
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// Die the same way, so the agent sees the server's signal.
			signal.Reset(ws.Signal())
			syscall.Kill(os.Getpid(), ws.Signal())
			time.Sleep(time.Second)
		}
		return ee.ExitCode()
	}
	if err != nil {
		log.Print(err)
		return 1
	}
	return 0
}

// watcher rewrites libfaketime's file when the agent's changes.
type watcher struct {
	clockFile, ftFile string
	t0                time.Time
	last              string // the agent's line last translated
	wrote             bool
}

func (w *watcher) update() error {
	b, err := os.ReadFile(w.clockFile)
	if errors.Is(err, os.ErrNotExist) {
		b, err = nil, nil
	}
	if err != nil {
		return err
	}
	line := strings.TrimSpace(string(b))
	if w.wrote && line == w.last {
		return nil
	}
	spec := "+0s x1"
	if line != "" {
		if spec, err = Spec(line, w.t0); err != nil {
			// Keep the clock as it was; say so once.
			w.last, w.wrote = line, true
			return fmt.Errorf("clock file %s: %w", w.clockFile, err)
		}
	}
	tmp := w.ftFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(spec+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, w.ftFile); err != nil {
		return err
	}
	w.last, w.wrote = line, true
	return nil
}

// Spec translates the agent's skew line for a process started at t0 into
// libfaketime's spec.
func Spec(line string, t0 time.Time) (string, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return "", fmt.Errorf("skew %q: want \"<at_unix_ns> <offset_ns> <rate>\"", line)
	}
	at, err1 := strconv.ParseInt(f[0], 10, 64)
	off, err2 := strconv.ParseInt(f[1], 10, 64)
	rate, err3 := strconv.ParseFloat(f[2], 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return "", fmt.Errorf("skew %q: %w", line, err)
	}
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 || rate > 100 {
		return "", fmt.Errorf("skew %q: rate out of [0, 100]", line)
	}
	x := float64(off)/1e9 - (rate-1)*float64(at-t0.UnixNano())/1e9
	sign := "+"
	if x < 0 {
		sign, x = "-", -x
	}
	return sign + strconv.FormatFloat(x, 'f', 6, 64) + "s x" + strconv.FormatFloat(rate, 'f', -1, 64), nil
}
