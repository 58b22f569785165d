package redis

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/splitbrain/splitbrain/systems"
	"github.com/splitbrain/splitbrain/systems/debian"
)

// What goes into a node image (BuildFiles): Debian's redis-server, taken
// out of the packages with apt-get download and dpkg -x only (nothing is
// installed, no service starts, no registry is asked), with the libraries
// its ELF headers name, found in the unpacked packages as ldd would. The
// server binary is redis-tools' redis-check-rdb (Debian's redis-server is
// a symlink to it: the program picks its part by the name it is run as),
// copied to ServerPath under the server's name.
//
// With clock control (the default), two more files go in: libfaketime,
// which zkclock preloads, and a stand-in for libjemalloc.so.2. Debian's
// Redis links the system jemalloc, and jemalloc and libfaketime hang each
// other at start ("Unexpected recursive calls to clock_gettime()"):
// jemalloc reads the clock while initialising, and libfaketime allocates
// while initialising. The stand-in (standinSource) is a library of that
// name with the three functions Redis calls that glibc lacks (mallctl,
// malloc_stats_print, nallocx), so malloc, free, calloc, realloc and
// malloc_usable_size resolve to glibc's: Redis runs on glibc's allocator,
// unmodified otherwise. It is compiled here with the C compiler (cc, or
// $CC); without one, BuildFiles leaves the clock out (Files.Clock false)
// and says so, and the real jemalloc goes in.
//
// The files are made once per machine and kept in the user's cache
// directory (os.UserCacheDir()/splitbrain/redis); package clusters then
// puts them with the agent into a node image FROM scratch, tagged by
// content.

// recipe names this file's way of making the files; bump it when the
// layout changes so caches are not reused across recipes.
const recipe = "splitbrain redis files v1"

// DebianPackage is the package whose version is Redis's: it holds the
// server binary.
const DebianPackage = "redis-tools"

// basePackages hold the server and the libraries it links, and theirs
// (libsystemd's compression and crypto libraries).
var basePackages = []string{
	DebianPackage, "libatomic1", "liblzf1", "libssl3", "libsystemd0",
	"libcap2", "libgcrypt20", "libgpg-error0", "liblzma5", "libzstd1", "liblz4-1", "libc6",
}

// jemallocPackages are the real allocator and what it links, for images
// without clock control.
var jemallocPackages = []string{"libjemalloc2", "libstdc++6", "libgcc-s1"}

// FaketimePackage holds libfaketime.
const FaketimePackage = "libfaketime"

// Paths in the image.
const (
	// ServerPath is redis-server in images made by BuildFiles (Debian's path).
	ServerPath = "/usr/bin/redis-server"
	// FaketimeLib is libfaketime, which zkclock preloads.
	FaketimeLib = "/usr/lib/faketime/libfaketime.so.1"
	// jemallocSoname is the library Redis links its allocator by.
	jemallocSoname = "libjemalloc.so.2"
	// checkRDB is the file in redis-tools that redis-server links to.
	checkRDB = "/usr/bin/redis-check-rdb"
	// debianFaketime is where libfaketime sits in its package.
	debianFaketimeDir = "faketime/libfaketime.so.1"
)

// standinSource is the stand-in libjemalloc.so.2 (see above). It needs no
// headers and no C library (-nostdlib): the few types are spelled out.
// mallctl answers ENOENT (2, "no such control"), which Redis takes as
// "statistic not available" (INFO's allocator_* fields are then glibc
// estimates); malloc_stats_print prints nothing (MEMORY MALLOC-STATS is
// empty); nallocx says an allocation of n bytes takes n, which is what
// Redis then asks glibc for.
const standinSource = `/* splitbrain: a stand-in libjemalloc.so.2 for Debian's redis-server under
 * libfaketime; malloc and the rest come from glibc. */
typedef unsigned long size_t;
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) { return 2; }
void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts) {}
size_t nallocx(size_t size, int flags) { return size; }
`

// standinSymbols are the functions the stand-in must export.
var standinSymbols = []string{"mallctl", "malloc_stats_print", "nallocx"}

// Files are the files of one Redis build, ready for a System.
type Files struct {
	// Version is Debian's version of DebianPackage ("5:7.0.15-1~deb12u10").
	Version string
	// Source says where they came from ("debian redis-tools=5:7.0.15-1~deb12u10",
	// "+ libfaketime, jemalloc stand-in").
	Source string
	// Files go into the node image.
	Files []systems.Binary
	// Clock is true when libfaketime and the jemalloc stand-in are in:
	// the system has clock control.
	Clock bool
	// Size is the files' total size in bytes.
	Size int64
	// Cached is true when nothing had to be made.
	Cached bool
	// Build is the time spent making (or finding) them.
	Build time.Duration
}

// FileOptions tune BuildFiles; the zero value gives Redis with clock
// control.
type FileOptions struct {
	// NoClock leaves libfaketime and the stand-in out: Debian's files as
	// they are, jemalloc included.
	NoClock bool
	// CacheDir holds the builds; os.UserCacheDir()/splitbrain/redis when empty.
	CacheDir string
	// Logf gets progress messages.
	Logf func(format string, args ...any)
}

func (o FileOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

var (
	filesMu    sync.Mutex
	filesCache = map[[2]string]Files{} // by variant and cache directory
)

// BuildFiles makes (or finds in the cache) the files of a Redis node
// image. Within one process the result is remembered.
func BuildFiles(ctx context.Context, opts FileOptions) (Files, error) {
	key := [2]string{fmt.Sprint(opts.NoClock), opts.CacheDir}
	filesMu.Lock()
	defer filesMu.Unlock()
	if f, ok := filesCache[key]; ok && debian.FilesExist(f.Files) {
		f.Cached, f.Build = true, 0
		return f, nil
	}
	start := time.Now()
	dir := opts.CacheDir
	if dir == "" {
		ucd, err := os.UserCacheDir()
		if err != nil {
			return Files{}, fmt.Errorf("redis: cache directory: %w", err)
		}
		dir = filepath.Join(ucd, "splitbrain", "redis")
	}
	clock := !opts.NoClock
	if clock {
		if _, err := exec.LookPath(compiler()); err != nil {
			opts.logf("redis: no C compiler (%s: %v) for the jemalloc stand-in that lets libfaketime run Redis: no clock faults on this machine", compiler(), err)
			clock = false
		}
	}
	f, err := debianFiles(ctx, dir, clock, opts)
	if err != nil {
		return Files{}, fmt.Errorf("redis files: %w", err)
	}
	f.Build = time.Since(start)
	filesCache[key] = f
	return f, nil
}

// compiler is the C compiler the stand-in is built with.
func compiler() string {
	if cc := os.Getenv("CC"); cc != "" {
		return cc
	}
	return "cc"
}

// readEntry reads a finished cache entry (debian.ReadEntry) as Files.
func readEntry(dir string) (Files, bool) {
	e, ok := debian.ReadEntry(dir)
	return filesOf(e), ok
}

// commitEntry finishes a cache entry (debian.CommitEntry).
func commitEntry(work, dir string, m debian.Manifest) (Files, error) {
	e, err := debian.CommitEntry(work, dir, m)
	return filesOf(e), err
}

func filesOf(e debian.Entry) Files {
	return Files{Files: e.Files, Version: e.Version, Source: e.Source, Clock: e.Clock, Size: e.Size, Cached: e.Cached}
}

// packages are the Debian packages of a variant.
func packages(clock bool) []string {
	if clock {
		return append(slices.Clone(basePackages), FaketimePackage)
	}
	return append(slices.Clone(basePackages), jemallocPackages...)
}

// debianFiles takes Redis and what it links out of Debian's packages.
func debianFiles(ctx context.Context, dir string, clock bool, opts FileOptions) (Files, error) {
	arch, err := debian.Arch(ctx)
	if err != nil {
		return Files{}, err
	}
	ma, err := debian.MultiarchOf(arch)
	if err != nil {
		return Files{}, err
	}
	pkgs := packages(clock)
	return debian.AfterUpdate(ctx, "redis", opts.Logf, func() (Files, error) {
		versions, err := debian.CachedVersions(ctx, dir, pkgs, opts.Logf)
		if err != nil {
			return Files{}, err
		}
		entry := filepath.Join(dir, entryName(arch, clock, pkgs, versions))
		if f, ok := readEntry(entry); ok {
			return f, nil
		}
		opts.logf("redis: taking %s %s out of Debian's packages (clock control %v)", DebianPackage, versions[DebianPackage], clock)
		return debianMake(ctx, dir, entry, ma, clock, pkgs, versions, opts)
	})
}

// entryName names a cache entry by everything that goes into it.
func entryName(arch string, clock bool, pkgs []string, versions map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ndebian %s\nclock %v\n", recipe, arch, clock)
	for _, p := range pkgs {
		fmt.Fprintf(h, "%s=%s\n", p, versions[p])
	}
	if clock {
		h.Write([]byte(standinSource))
	}
	return "debian-" + hex.EncodeToString(h.Sum(nil))[:20]
}

func debianMake(ctx context.Context, dir, entry string, ma debian.Multiarch, clock bool, pkgs []string, versions map[string]string, opts FileOptions) (Files, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, err
	}
	work, err := os.MkdirTemp(dir, "tmp-")
	if err != nil {
		return Files{}, err
	}
	defer os.RemoveAll(work)
	t0 := time.Now()
	x, err := debian.Fetch(ctx, filepath.Join(work, "pkgs"), pkgs, versions)
	if err != nil {
		return Files{}, err
	}
	opts.logf("redis: %d packages downloaded and unpacked in %v", len(pkgs), time.Since(t0).Round(time.Millisecond))
	if clock {
		// The stand-in goes where the loader would find jemalloc, in the
		// unpacked tree, so that Needed resolves the server's libraries
		// to it (and needs none of jemalloc's own).
		if err := buildStandin(ctx, filepath.Join(work, "standin"), filepath.Join(x, "usr/lib", ma.Triplet, jemallocSoname)); err != nil {
			return Files{}, err
		}
	}
	libs, interp, err := debian.Needed(x, checkRDB, ma)
	if err != nil {
		return Files{}, err
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
	if err := put(checkRDB, ServerPath); err != nil {
		return Files{}, err
	}
	source := "debian " + DebianPackage + "=" + versions[DebianPackage]
	if clock {
		ft := "/usr/lib/" + ma.Triplet + "/" + debianFaketimeDir
		ftLibs, _, err := debian.Needed(x, ft, ma)
		if err != nil {
			return Files{}, err
		}
		libs = append(libs, ftLibs...)
		if err := put(ft, FaketimeLib); err != nil {
			return Files{}, err
		}
		source += ", " + FaketimePackage + "=" + versions[FaketimePackage] + ", jemalloc stand-in"
	}
	// The libraries go where the loader looks first, the loader where the
	// binary names it.
	for _, l := range libs {
		if err := put(l, ma.LibDir()+"/"+filepath.Base(l)); err != nil {
			return Files{}, err
		}
	}
	if err := put(interp, interp); err != nil {
		return Files{}, err
	}
	slices.Sort(dests)
	dests = slices.Compact(dests)
	return commitEntry(out, entry, debian.Manifest{Version: versions[DebianPackage], Source: source, Clock: clock, Dests: dests})
}

// buildStandin compiles standinSource in dir into the shared library out
// and checks that it exports what Redis needs and links nothing.
func buildStandin(ctx context.Context, dir, out string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := filepath.Join(dir, "jemalloc-standin.c")
	if err := os.WriteFile(src, []byte(standinSource), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	os.Remove(out) // the unpacked real one, if any
	if _, err := debian.Run(ctx, dir, compiler(), "-O2", "-shared", "-fPIC", "-nostdlib",
		"-Wl,-soname,"+jemallocSoname, "-o", out, src); err != nil {
		return fmt.Errorf("jemalloc stand-in: %w", err)
	}
	return checkStandin(out)
}

// checkStandin checks the stand-in library at p.
func checkStandin(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("jemalloc stand-in: %w", err)
	}
	defer f.Close()
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		return fmt.Errorf("jemalloc stand-in links %v (%v): want nothing", libs, err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return fmt.Errorf("jemalloc stand-in: symbols: %w", err)
	}
	for _, want := range standinSymbols {
		if !slices.ContainsFunc(syms, func(s elf.Symbol) bool {
			return s.Name == want && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF
		}) {
			return fmt.Errorf("jemalloc stand-in does not export %s", want)
		}
	}
	return nil
}
