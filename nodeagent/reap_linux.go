package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ReapOrphans waits for zombie processes reparented to the agent (it is
// PID 1 in its container), every interval until ctx ends. It only reaps
// zombies whose pid it names, so it never takes the exit status of the
// server, which the supervisor waits for itself.
func ReapOrphans(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	self := os.Getpid()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range stats {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...
			s := string(b)
			i := strings.LastIndexByte(s, ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(s[i+1:])
			if len(f) < 2 || f[0] != "Z" {
				continue
			}
			ppid, _ := strconv.Atoi(f[1])
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if ppid != self || pid == 0 || isProcessGroupLeader(pid) {
				continue
			}
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}

// isProcessGroupLeader: the supervisor's servers lead their own groups; a
// zombie leader is one the supervisor is about to wait for.
func isProcessGroupLeader(pid int) bool {
	pg, err := syscall.Getpgid(pid)
	return err == nil && pg == pid
}
