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
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
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

// ryukEnv is the environment variable that must read exactly "true"
// before testcontainers-go reads its configuration (once per process, on
// its first call). Its reaper, Ryuk, runs from an image that would have to
// be pulled, and splitbrain never pulls: there may be no registry at all.
// Start sets it when it is unset and refuses any other value. (The
// testcontainers parser treats "1" or "TRUE" as booleans yet leaves Ryuk
// enabled, so only the literal "true" works.)
const ryukEnv = "TESTCONTAINERS_RYUK_DISABLED"

// hubPrefixEnv would make testcontainers rewrite our local image tags to a
// registry's, find them missing and pull.
const hubPrefixEnv = "TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX"

// testcontainersReady prepares testcontainers-go; every use of it in this
// package goes through here first, since its configuration is read once
// and for good by its first call. We set ryukEnv ourselves rather than
// refuse when it is unset: the splitbrain command runs ensembles outside
// make and go test, and its users need not know about testcontainers. A
// value that says otherwise is an explicit wish we can't honour, so that
// is an error, as is a configuration already read without it (some other
// code called testcontainers first) or a hub image prefix. Its own log
// (a connection banner, per-container lifecycle lines) is muted: Start
// reports progress through Options.Logf as before.
var testcontainersReady = sync.OnceValue(setupTestcontainers)

func setupTestcontainers() error {
	switch v := os.Getenv(ryukEnv); v {
	case "":
		if err := os.Setenv(ryukEnv, "true"); err != nil {
			return fmt.Errorf("set %s=true: %w", ryukEnv, err)
		}
	case "true":
	default:
		return fmt.Errorf("%s=%q: it must be \"true\" (or unset): testcontainers' reaper image would have to be pulled, and splitbrain never pulls", ryukEnv, v)
	}
	cfg := testcontainers.ReadConfig().Config
	if !cfg.RyukDisabled {
		return fmt.Errorf("testcontainers read its configuration before %s=true was set: set it in the environment of the process", ryukEnv)
	}
	if cfg.HubImageNamePrefix != "" {
		return fmt.Errorf("testcontainers hub image prefix %q (%s or hub.image.name.prefix): it would rename the local node images and pull them; unset it", cfg.HubImageNamePrefix, hubPrefixEnv)
	}
	tclog.SetDefault(tclog.NewNoopLogger())
	return nil
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
