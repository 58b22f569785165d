package etcd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/systems/debian"
)

// What goes into a node image (BuildBinaries), in either of two ways:
//
//   - the default, Debian's etcd-server package (3.4.23 in bookworm): its
//     /usr/bin/etcd is built with cgo, so the C library and the loader it
//     needs (found in its ELF headers, as ldd would) go in beside it. Only
//     apt-get download and dpkg -x are used: nothing is installed, no
//     service starts, no registry is asked;
//   - a Version from the Go module proxy: a throwaway module in the cache
//     that requires go.etcd.io/etcd/server/v3 at that version, built with
//     CGO_ENABLED=0 into one static binary. (go install pkg@version refuses
//     the server module: its go.mod has replace lines.)
//
// Either is made once per machine and kept in the user's cache directory
// (os.UserCacheDir()/splitbrain/etcd); the node image is then made by
// package clusters from these files FROM scratch and tagged by their
// content, like every node image.

// recipe names this file's way of making the files; bump it when the
// layout changes so caches are not reused across recipes.
const recipe = "splitbrain etcd binaries v1"

// DebianPackage is the Debian package of the default etcd.
const DebianPackage = "etcd-server"

// debianPackages are the packages the default image's files come from.
var debianPackages = []string{DebianPackage, "libc6"}

// ServerModule is the Go module the other versions are built from.
const ServerModule = "go.etcd.io/etcd/server/v3"

// Binaries are the files of one etcd build, ready for a System.
type Binaries struct {
	// Version is the version built: Debian's package version for the
	// default ("3.4.23-4+b4"), else the module version ("v3.5.35").
	Version string
	// Source says where it came from: "debian etcd-server=3.4.23-4+b4",
	// "go.etcd.io/etcd/server/v3@v3.5.35".
	Source string
	// Files go into the node image: etcd at EtcdPath and, for Debian's
	// build, its C library and loader.
	Files []systems.Binary
	// Size is the files' total size in bytes.
	Size int64
	// Cached is true when nothing had to be made.
	Cached bool
	// Build is the time spent making (or finding) them.
	Build time.Duration
}

// BinaryOptions tune BuildBinaries; the zero value gives Debian's etcd.
type BinaryOptions struct {
	// Version is a version of ServerModule to build ("v3.5.35", "3.6.16");
	// empty means Debian's package.
	Version string
	// CacheDir holds the builds; os.UserCacheDir()/splitbrain/etcd when empty.
	CacheDir string
	// Logf gets progress messages.
	Logf func(format string, args ...any)
}

func (o BinaryOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

var (
	binMu    sync.Mutex
	binCache = map[[2]string]Binaries{} // by version and cache directory
)

// BuildBinaries makes (or finds in the cache) the files of the etcd that
// opts names. Within one process the result is remembered.
func BuildBinaries(ctx context.Context, opts BinaryOptions) (Binaries, error) {
	key := [2]string{opts.Version, opts.CacheDir}
	binMu.Lock()
	defer binMu.Unlock()
	if b, ok := binCache[key]; ok && debian.FilesExist(b.Files) {
		b.Cached, b.Build = true, 0
		return b, nil
	}
	start := time.Now()
	dir := opts.CacheDir
	if dir == "" {
		ucd, err := os.UserCacheDir()
		if err != nil {
			return Binaries{}, fmt.Errorf("etcd: cache directory: %w", err)
		}
		dir = filepath.Join(ucd, "splitbrain", "etcd")
	}
	var b Binaries
	var err error
	if opts.Version == "" {
		b, err = debianBinaries(ctx, dir, opts)
	} else {
		b, err = moduleBinaries(ctx, dir, opts)
	}
	if err != nil {
		return Binaries{}, fmt.Errorf("etcd binaries: %w", err)
	}
	b.Build = time.Since(start)
	binCache[key] = b
	return b, nil
}

// readEntry reads a finished cache entry (debian.ReadEntry) as Binaries.
func readEntry(dir string) (Binaries, bool) {
	e, ok := debian.ReadEntry(dir)
	return binariesOf(e), ok
}

// commitEntry finishes a cache entry (debian.CommitEntry).
func commitEntry(work, dir string, m debian.Manifest) (Binaries, error) {
	e, err := debian.CommitEntry(work, dir, m)
	return binariesOf(e), err
}

func binariesOf(e debian.Entry) Binaries {
	return Binaries{Files: e.Files, Version: e.Version, Source: e.Source, Size: e.Size, Cached: e.Cached}
}

// debianBinaries takes etcd and what it links against out of Debian's
// packages.
func debianBinaries(ctx context.Context, dir string, opts BinaryOptions) (Binaries, error) {
	arch, err := debian.Arch(ctx)
	if err != nil {
		return Binaries{}, err
	}
	ma, err := debian.MultiarchOf(arch)
	if err != nil {
		return Binaries{}, err
	}
	return debian.AfterUpdate(ctx, "etcd", opts.Logf, func() (Binaries, error) {
		versions, err := debian.CachedVersions(ctx, dir, debianPackages, opts.Logf)
		if err != nil {
			return Binaries{}, err
		}
		h := sha256.New()
		fmt.Fprintf(h, "%s\ndebian %s\n", recipe, arch)
		for _, p := range debianPackages {
			fmt.Fprintf(h, "%s=%s\n", p, versions[p])
		}
		entry := filepath.Join(dir, "debian-"+hex.EncodeToString(h.Sum(nil))[:20])
		if b, ok := readEntry(entry); ok {
			return b, nil
		}
		opts.logf("etcd: taking %s %s out of Debian's package", DebianPackage, versions[DebianPackage])
		return debianMake(ctx, dir, entry, ma, versions, opts)
	})
}

func debianMake(ctx context.Context, dir, entry string, ma debian.Multiarch, versions map[string]string, opts BinaryOptions) (Binaries, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, err
	}
	work, err := os.MkdirTemp(dir, "tmp-")
	if err != nil {
		return Binaries{}, err
	}
	defer os.RemoveAll(work)
	t0 := time.Now()
	x, err := debian.Fetch(ctx, filepath.Join(work, "pkgs"), debianPackages, versions)
	if err != nil {
		return Binaries{}, err
	}
	opts.logf("etcd: %d packages downloaded and unpacked in %v", len(debianPackages), time.Since(t0).Round(time.Millisecond))
	libs, interp, err := debian.Needed(x, EtcdPath, ma)
	if err != nil {
		return Binaries{}, err
	}
	if interp == "" {
		interp = ma.LoaderPath
	}
	out := filepath.Join(work, "entry")
	var dests []string
	put := func(src, dest string) error {
		r, err := debian.Resolve(x, src)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		dests = append(dests, dest)
		return debian.CopyFile(r, filepath.Join(out, "files", strings.TrimPrefix(dest, "/")))
	}
	// The libraries go where the loader looks first, the loader where the
	// binary names it.
	if err := put(EtcdPath, EtcdPath); err != nil {
		return Binaries{}, err
	}
	for _, l := range libs {
		if err := put(l, ma.LibDir()+"/"+filepath.Base(l)); err != nil {
			return Binaries{}, err
		}
	}
	if err := put(interp, interp); err != nil {
		return Binaries{}, err
	}
	slices.Sort(dests)
	dests = slices.Compact(dests)
	return commitEntry(out, entry, debian.Manifest{
		Version: versions[DebianPackage],
		Source:  "debian " + DebianPackage + "=" + versions[DebianPackage],
		Dests:   dests,
	})
}

// versionRE is what a module version may look like (v3 only: the server
// module's path ends in /v3).
var versionRE = regexp.MustCompile(`^v3\.[0-9]+\.[0-9]+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// ModuleVersion checks and normalises a version of ServerModule: "3.5.35"
// and "v3.5.35" are both "v3.5.35".
func ModuleVersion(v string) (string, error) {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !versionRE.MatchString(v) || len(v) > 64 {
		return "", fmt.Errorf("etcd version %q: want v3.MINOR.PATCH, e.g. v3.5.35", strings.TrimPrefix(v, "v"))
	}
	return v, nil
}

// moduleBinaries builds a static etcd from the Go module proxy.
func moduleBinaries(ctx context.Context, dir string, opts BinaryOptions) (Binaries, error) {
	v, err := ModuleVersion(opts.Version)
	if err != nil {
		return Binaries{}, err
	}
	goarch := runtime.GOARCH
	if arch, err := debian.Arch(ctx); err == nil {
		switch arch {
		case "amd64", "arm64":
			goarch = arch
		}
	}
	goVersion, err := goEnv(ctx, "GOVERSION")
	if err != nil {
		return Binaries{}, err
	}
	// The Go toolchain is part of the name: a newer one builds another binary.
	entry := filepath.Join(dir, "module-"+v+"-linux-"+goarch+"-"+goVersion)
	if b, ok := readEntry(entry); ok {
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, err
	}
	work, err := os.MkdirTemp(dir, "tmp-")
	if err != nil {
		return Binaries{}, err
	}
	defer os.RemoveAll(work)
	mod := filepath.Join(work, "mod")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		return Binaries{}, err
	}
	// A throwaway module whose only requirement is the server; the blank
	// import behind a build tag keeps go get from dropping it.
	files := map[string]string{
		"go.mod":   "module splitbrain.invalid/etcd-build\n\ngo 1.22\n",
		"tools.go": "//go:build tools\n\npackage tools\n\nimport _ \"" + ServerModule + "\"\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(mod, n), []byte(c), 0o644); err != nil {
			return Binaries{}, err
		}
	}
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch,
		"GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	t0 := time.Now()
	opts.logf("etcd: fetching %s@%s from the Go module proxy", ServerModule, v)
	if err := goCmd(ctx, mod, env, "get", ServerModule+"@"+v); err != nil {
		return Binaries{}, err
	}
	t1 := time.Now()
	opts.logf("etcd: modules fetched in %v; building (CGO_ENABLED=0)", t1.Sub(t0).Round(time.Millisecond))
	out := filepath.Join(work, "entry")
	bin := filepath.Join(out, "files", strings.TrimPrefix(EtcdPath, "/"))
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return Binaries{}, err
	}
	if err := goCmd(ctx, mod, env, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ServerModule); err != nil {
		return Binaries{}, err
	}
	opts.logf("etcd: %s@%s built in %v", ServerModule, v, time.Since(t1).Round(time.Millisecond))
	return commitEntry(out, entry, debian.Manifest{Version: v, Source: ServerModule + "@" + v, Dests: []string{EtcdPath}})
}

func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func goCmd(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 1500 {
			msg = "..." + msg[len(msg)-1500:]
		}
		return fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return nil
}
