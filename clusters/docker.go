package clusters

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/client"
)

// Labels on everything splitbrain creates on the engine.
const (
	// LabelRun carries the run id on containers and networks.
	LabelRun = "io.splitbrain.run"
	// LabelOwner says which process created the thing:
	// "host/bootid/pid/starttime"; Clean removes what dead owners left.
	LabelOwner = "io.splitbrain.owner"
	// LabelNode carries the node id on containers.
	LabelNode = "io.splitbrain.node"
	// LabelImage marks node images (kept as a cache; value: system name).
	LabelImage = "io.splitbrain.image"
)

// ErrNoEngine means no Docker engine answered.
var ErrNoEngine = errors.New("no Docker engine answers")

var (
	dockerOnce sync.Once
	dockerCli  *client.Client
	dockerErr  error
)

// Docker returns the process's shared Docker client (DOCKER_HOST and
// friends from the environment; the API version is negotiated on first
// use, so old engines such as 20.10/API 1.41 work).
func Docker() (*client.Client, error) {
	dockerOnce.Do(func() {
		dockerCli, dockerErr = client.New(client.FromEnv)
		if dockerErr != nil {
			dockerErr = fmt.Errorf("docker client: %w", dockerErr)
		}
	})
	return dockerCli, dockerErr
}

// Ping checks that an engine answers; the error wraps ErrNoEngine when none
// does. It returns the negotiated API version.
func Ping(ctx context.Context) (apiVersion string, err error) {
	cli, err := Docker()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoEngine, err)
	}
	p, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoEngine, err)
	}
	_ = p
	return cli.ClientVersion(), nil
}

// owner identifies this process: host, boot, pid, start time.
var owner = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	pid := os.Getpid()
	return fmt.Sprintf("%s/%s/%d/%s", host, strings.TrimSpace(string(boot)), pid, procStart(pid))
})

// procStart is the start time of pid in clock ticks since boot ("" when
// unknown).
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 of stat; f[0] is field 3
}

// ownerAlive reports whether the owner label o names a live process on
// this host. known is false when o is from another host (or unreadable).
func ownerAlive(o string) (alive, known bool) {
	parts := strings.Split(o, "/")
	if len(parts) != 4 {
		return false, false
	}
	me := strings.Split(owner(), "/")
	if parts[0] != me[0] {
		return false, false
	}
	if parts[1] != me[1] {
		return false, true // this host rebooted since
	}
	pid, err := strconv.Atoi(parts[2])
	if err != nil {
		return false, false
	}
	st := procStart(pid)
	return st != "" && st == parts[3], true
}
