// Package debian gets files out of Debian's packages for the images of real
// systems, with nothing but Debian's own clients and no registry: it asks
// apt-cache which version apt would fetch (Versions), downloads the .deb
// files with apt-get download and unpacks them with dpkg -x (Fetch: no
// maintainer scripts run, no service starts), and then finds files in the
// unpacked tree (Resolve, Needed) to copy into an image's root (CopyFile).
//
// What it needs on the machine: Debian's apt-get, apt-cache and dpkg. As
// root it runs apt-get update when the package lists lack a package or
// name versions the mirror no longer has (a fresh machine's lists are
// empty or old).
package debian

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// ErrDownload marks a failed apt-get download: stale package lists name
// versions the mirror no longer has, which an apt-get update cures.
var ErrDownload = errors.New("apt-get download failed")

// AfterUpdate calls build, and when it fails with ErrDownload as root,
// runs apt-get update and calls it once more: build must look the
// versions up itself (CachedVersions sees the new lists). what names the
// build in the log line.
func AfterUpdate[T any](ctx context.Context, what string, logf func(string, ...any), build func() (T, error)) (T, error) {
	v, err := build()
	if !errors.Is(err, ErrDownload) || os.Geteuid() != 0 {
		return v, err
	}
	if logf != nil {
		logf("%s: %v; apt-get update and again", what, err)
	}
	if uerr := update(ctx); uerr != nil {
		var zero T
		return zero, errors.Join(err, uerr)
	}
	return build()
}

// Arch is Debian's name of the machine's architecture ("amd64").
func Arch(ctx context.Context) (string, error) {
	out, err := Run(ctx, "", "dpkg", "--print-architecture")
	if err != nil {
		return "", fmt.Errorf("needs Debian's dpkg: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// Multiarch is where an architecture keeps its C libraries and loader.
type Multiarch struct {
	Triplet string // library directory name: "x86_64-linux-gnu"
	Loader  string // the dynamic loader's file name: "ld-linux-x86-64.so.2"
	// LoaderPath is the loader's path as binaries name it (their ELF
	// interpreter): "/lib64/ld-linux-x86-64.so.2".
	LoaderPath string
}

// LibDir is the directory of the architecture's libraries: "/lib/" + Triplet.
func (m Multiarch) LibDir() string { return "/lib/" + m.Triplet }

// MultiarchOf returns arch's Multiarch.
func MultiarchOf(arch string) (Multiarch, error) {
	switch arch {
	case "amd64":
		return Multiarch{"x86_64-linux-gnu", "ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"}, nil
	case "arm64":
		return Multiarch{"aarch64-linux-gnu", "ld-linux-aarch64.so.1", "/lib/ld-linux-aarch64.so.1"}, nil
	}
	return Multiarch{}, fmt.Errorf("architecture %s is not supported", arch)
}

// Versions returns the version apt would download of each package,
// running apt-get update once (as root) when some package is unknown.
// logf, if not nil, hears of the update.
func Versions(ctx context.Context, pkgs []string, logf func(string, ...any)) (map[string]string, error) {
	for attempt := 0; ; attempt++ {
		v, missing, err := aptVersions(ctx, pkgs)
		if err == nil && len(missing) == 0 {
			return v, nil
		}
		if attempt > 0 || os.Geteuid() != 0 {
			if err == nil {
				err = fmt.Errorf("no candidate for %s", strings.Join(missing, ", "))
			}
			return nil, fmt.Errorf("Debian packages: %w (as root, apt-get update)", err)
		}
		if logf != nil {
			logf("debian: apt-get update (missing: %s)", strings.Join(missing, ", "))
		}
		if err := update(ctx); err != nil {
			return nil, err
		}
	}
}

// aptState names the package lists and apt's settings as they are now
// (names, sizes, times), or "" when they can't be read: while it is the
// same, so are the candidates.
func aptState(pkgs []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", strings.Join(pkgs, " "))
	n := 0
	for _, d := range []string{"/var/lib/apt/lists", "/etc/apt", "/etc/apt/sources.list.d", "/etc/apt/preferences.d"} {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
				fmt.Fprintf(h, "%s/%s %d %d\n", d, e.Name(), fi.Size(), fi.ModTime().UnixNano())
				n++
			}
		}
	}
	if n == 0 {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CachedVersions is Versions, remembered in dir (candidates.json) while
// the package lists stay as they are: apt-cache takes a second or more per
// call on a machine without apt's binary cache.
func CachedVersions(ctx context.Context, dir string, pkgs []string, logf func(string, ...any)) (map[string]string, error) {
	memo := filepath.Join(dir, "candidates.json")
	var m struct {
		State    string
		Versions map[string]string
	}
	state := aptState(pkgs)
	if b, err := os.ReadFile(memo); err == nil && state != "" && json.Unmarshal(b, &m) == nil && m.State == state {
		complete := true
		for _, p := range pkgs {
			complete = complete && m.Versions[p] != ""
		}
		if complete {
			return m.Versions, nil
		}
	}
	v, err := Versions(ctx, pkgs, logf)
	if err != nil {
		return nil, err
	}
	if state = aptState(pkgs); state != "" { // (apt-get update may have run)
		m.State, m.Versions = state, v
		if b, err := json.Marshal(m); err == nil && os.MkdirAll(dir, 0o755) == nil {
			tmp := memo + ".tmp"
			if os.WriteFile(tmp, b, 0o644) == nil {
				os.Rename(tmp, memo)
			}
		}
	}
	return v, nil
}

// update runs apt-get update; the tests swap it.
var update = func(ctx context.Context) error {
	_, err := Run(ctx, "", "apt-get", "update", "-q")
	return err
}

// aptVersions asks apt-cache for the candidate versions.
func aptVersions(ctx context.Context, pkgs []string) (map[string]string, []string, error) {
	out, err := Run(ctx, "", "apt-cache", append([]string{"show", "--no-all-versions"}, pkgs...)...)
	v := ParseAptShow(out)
	var missing []string
	for _, p := range pkgs {
		if v[p] == "" {
			missing = append(missing, p)
		}
	}
	if err != nil && len(missing) == 0 {
		return nil, nil, err
	}
	return v, missing, nil
}

// ParseAptShow maps Package to Version in apt-cache show's records (the
// first record of a package wins).
func ParseAptShow(out string) map[string]string {
	v := map[string]string{}
	var pkg string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			pkg = ""
		case strings.HasPrefix(l, "Package: "):
			pkg = strings.TrimSpace(strings.TrimPrefix(l, "Package: "))
		case strings.HasPrefix(l, "Version: ") && pkg != "":
			if _, ok := v[pkg]; !ok {
				v[pkg] = strings.TrimSpace(strings.TrimPrefix(l, "Version: "))
			}
		}
	}
	return v
}

// Fetch downloads the packages at the given versions into dir/debs and
// unpacks them all into dir/x, which it returns. A failed download
// matches ErrDownload.
func Fetch(ctx context.Context, dir string, pkgs []string, versions map[string]string) (string, error) {
	debs, x := filepath.Join(dir, "debs"), filepath.Join(dir, "x")
	for _, d := range []string{debs, x} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	// As root apt drops to the _apt user for downloads, which cannot
	// write to a directory of ours.
	args := []string{"download", "-q", "-o", "APT::Sandbox::User=root"}
	for _, p := range pkgs {
		args = append(args, p+"="+versions[p])
	}
	if _, err := Run(ctx, debs, "apt-get", args...); err != nil {
		return "", fmt.Errorf("download the packages: %w: %w", ErrDownload, err)
	}
	files, err := filepath.Glob(filepath.Join(debs, "*.deb"))
	if err != nil || len(files) < len(pkgs) {
		return "", fmt.Errorf("download the packages: %d of %d .deb files", len(files), len(pkgs))
	}
	for _, f := range files {
		if _, err := Run(ctx, "", "dpkg", "-x", f, x); err != nil {
			return "", err
		}
	}
	return x, nil
}

// Resolve follows p's symlinks inside the unpacked tree root (absolute
// targets are read as paths in root) and returns the host path of the
// file p names.
func Resolve(root, p string) (string, error) {
	for range 16 {
		full := filepath.Join(root, p)
		fi, err := os.Lstat(full)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return full, nil
		}
		t, err := os.Readlink(full)
		if err != nil {
			return "", err
		}
		if path.IsAbs(t) {
			p = t
		} else {
			p = path.Join(path.Dir(p), t)
		}
	}
	return "", fmt.Errorf("%s: too many symlinks", p)
}

// Needed returns the shared libraries the ELF file bin (a path in the
// unpacked tree root) needs, transitively, as paths in root, and its
// interpreter (the dynamic loader; "" for a static binary): what ldd would
// list, found without running anything. Libraries are looked up in the
// multiarch and plain lib directories, as the loader would.
func Needed(root, bin string, m Multiarch) (libs []string, interp string, err error) {
	dirs := []string{"/lib/" + m.Triplet, "/usr/lib/" + m.Triplet, "/lib", "/usr/lib"}
	seen := map[string]bool{}
	var visit func(p string, top bool) error
	visit = func(p string, top bool) error {
		host, err := Resolve(root, p)
		if err != nil {
			return err
		}
		f, err := elf.Open(host)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		defer f.Close()
		if top {
			if s := f.Section(".interp"); s != nil {
				b, err := s.Data()
				if err != nil {
					return fmt.Errorf("%s: interpreter: %w", p, err)
				}
				interp = strings.TrimRight(string(b), "\x00")
			}
		}
		names, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: needed libraries: %w", p, err)
		}
		for _, n := range names {
			if seen[n] || strings.Contains(n, "/") {
				continue
			}
			seen[n] = true
			found := ""
			for _, d := range dirs {
				if _, err := Resolve(root, d+"/"+n); err == nil {
					found = d + "/" + n
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, which no unpacked package has", p, n)
			}
			libs = append(libs, found)
			if err := visit(found, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(bin, true); err != nil {
		return nil, "", err
	}
	return libs, interp, nil
}

// CopyFile copies src to dest (making dest's parents), keeping src's
// permission bits.
func CopyFile(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Run runs a command and returns its stdout; the error has the end of its
// stderr. It runs in the C locale and without questions from Debian's tools.
func Run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 600 {
			msg = "..." + msg[len(msg)-600:]
		}
		if errors.Is(err, exec.ErrNotFound) {
			return stdout.String(), fmt.Errorf("%s: %w", name, err)
		}
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}
