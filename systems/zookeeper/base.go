package zookeeper

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/splitbrain/splitbrain/clusters"
	"github.com/splitbrain/splitbrain/systems/debian"
)

// The base image is made from Debian's packages with nothing but apt-get
// download and dpkg -x (no maintainer scripts, no service, no registry):
// the jars, libfaketime, the C libraries the JVM links against, and a Java
// runtime cut to the modules ZooKeeper uses with jlink. The root file
// system is kept as a tar in the user's cache directory under a hash of
// the package versions, so it is made once per machine, and imported as
// an image FROM nothing, tagged by the tar's content.
//
// What it needs on the machine: Debian's apt-get, apt-cache and dpkg (as
// root it runs apt-get update when the package lists lack a package), and
// a JDK 17 with jmods for jlink: the host's Debian openjdk-17-jdk-headless
// when installed, otherwise that package and its JRE are downloaded too
// (about 110 MB, once) and their jlink is used.

// serverPackages are the Debian packages the image's files come from.
var serverPackages = []string{
	"libzookeeper-java",
	"libcommons-cli-java", "libcommons-io-java", "libfindbugs-annotations-java",
	"libjackson2-annotations-java", "libjackson2-core-java", "libjackson2-databind-java",
	"libjetty9-java", "libdropwizard-metrics-java", "libnetty-java", "libslf4j-java",
	"libsnappy-java", "libservlet-api-java",
	"libfaketime",
	"libc6", "libstdc++6", "libgcc-s1", "zlib1g",
}

// jdkPackages give jlink and the jmods when the host has no JDK 17.
var jdkPackages = []string{"openjdk-17-jdk-headless", "openjdk-17-jre-headless"}

// jlinkModules are the Java modules ZooKeeper's server uses.
var jlinkModules = []string{
	"java.base", "java.management", "java.naming", "java.security.jgss", "java.security.sasl",
	"java.sql", "java.xml", "jdk.management", "jdk.unsupported", "jdk.crypto.ec",
}

// recipe names this file's way of making the image; bump it when the
// layout changes so caches are not reused across recipes.
const recipe = "splitbrain zookeeper base v1"

// BaseRepo is the repository of the base image's tags.
const BaseRepo = "splitbrain/zookeeper-base"

// LabelBase marks base images (value: "zookeeper"). It is not
// clusters.LabelImage: clusters.CleanImages would remove an older base
// that a node image is still built on.
const LabelBase = "io.splitbrain.base"

// Base is the base image on the engine.
type Base struct {
	Tag    string        // "splitbrain/zookeeper-base:0123456789abcdef"
	Cached bool          // the image was already on the engine
	Rootfs string        // the root file system's tar in the cache
	Size   int64         // its size in bytes
	Build  time.Duration // time spent making (or finding) it
}

// BaseOptions tune BuildBase; the zero value is fine.
type BaseOptions struct {
	// CacheDir holds the root file systems; os.UserCacheDir()/splitbrain/zookeeper
	// when empty.
	CacheDir string
	// DownloadJDK uses Debian's JDK package even when the host has a JDK.
	DownloadJDK bool
	// Logf gets progress messages.
	Logf func(format string, args ...any)
}

type baseKey struct {
	cacheDir string
	download bool
}

var (
	baseMu    sync.Mutex
	baseCache = map[baseKey]Base{}
)

// BuildBase makes (or finds) the base image and returns its tag. Within
// one process the result is remembered.
func BuildBase(ctx context.Context, opts BaseOptions) (Base, error) {
	key := baseKey{opts.CacheDir, opts.DownloadJDK}
	baseMu.Lock()
	defer baseMu.Unlock()
	if b, ok := baseCache[key]; ok {
		if cli, err := clusters.Docker(); err == nil {
			if _, err := cli.ImageInspect(ctx, b.Tag); err == nil {
				b.Cached, b.Build = true, 0
				return b, nil
			}
		}
	}
	b, err := buildBase(ctx, opts)
	if err != nil {
		return Base{}, fmt.Errorf("zookeeper base image: %w", err)
	}
	baseCache[key] = b
	return b, nil
}

func (o BaseOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

func buildBase(ctx context.Context, opts BaseOptions) (Base, error) {
	return debian.AfterUpdate(ctx, "zookeeper base", opts.Logf, func() (Base, error) { return buildBaseOnce(ctx, opts) })
}

func buildBaseOnce(ctx context.Context, opts BaseOptions) (Base, error) {
	start := time.Now()
	cli, err := clusters.Docker()
	if err != nil {
		return Base{}, err
	}
	dir := opts.CacheDir
	if dir == "" {
		ucd, err := os.UserCacheDir()
		if err != nil {
			return Base{}, fmt.Errorf("cache directory: %w", err)
		}
		dir = filepath.Join(ucd, "splitbrain", "zookeeper")
	}
	arch, err := debian.Arch(ctx)
	if err != nil {
		return Base{}, err
	}
	jdk, err := findJDK(ctx, opts.DownloadJDK)
	if err != nil {
		return Base{}, err
	}
	pkgs := serverPackages
	if jdk.home == "" {
		pkgs = append(slicesClone(pkgs), jdkPackages...)
	}
	versions, err := debian.CachedVersions(ctx, dir, pkgs, opts.Logf)
	if err != nil {
		return Base{}, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", recipe, arch, jdk.id)
	for _, p := range pkgs {
		fmt.Fprintf(h, "%s=%s\n", p, versions[p])
	}
	fmt.Fprintf(h, "modules %s\njars %s\n", strings.Join(jlinkModules, ","), strings.Join(Jars, ","))
	keyDir := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:24])
	rootfs := filepath.Join(keyDir, "rootfs.tar")
	tagFile := filepath.Join(keyDir, "tag")

	tagB, terr := os.ReadFile(tagFile)
	st, serr := os.Stat(rootfs)
	if terr != nil || serr != nil {
		opts.logf("zookeeper base: making the root file system from Debian's packages (%s)", versions["libzookeeper-java"])
		if err := makeRootfs(ctx, keyDir, arch, jdk, pkgs, versions, opts); err != nil {
			return Base{}, err
		}
		if tagB, terr = os.ReadFile(tagFile); terr != nil {
			return Base{}, terr
		}
		if st, serr = os.Stat(rootfs); serr != nil {
			return Base{}, serr
		}
	}
	now := time.Now()
	os.Chtimes(keyDir, now, now) // in use
	tag := strings.TrimSpace(string(tagB))
	b := Base{Tag: tag, Rootfs: rootfs, Size: st.Size()}
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		b.Cached, b.Build = true, time.Since(start)
		return b, nil
	} else if !errdefs.IsNotFound(err) {
		return Base{}, fmt.Errorf("inspect %s: %w", tag, err)
	}
	opts.logf("zookeeper base: importing %s (%d MB)", tag, st.Size()>>20)
	if err := importImage(ctx, cli, rootfs, tag); err != nil {
		return Base{}, err
	}
	b.Build = time.Since(start)
	return b, nil
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// importImage imports the tar at rootfs as image tag.
func importImage(ctx context.Context, cli *client.Client, rootfs, tag string) error {
	f, err := os.Open(rootfs)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: f, SourceName: "-"}, tag, client.ImageImportOptions{
		Message: recipe,
		Changes: []string{
			"LABEL " + LabelBase + "=zookeeper",
			"ENV JAVA_HOME=" + JavaHome,
		},
	})
	if err != nil {
		return fmt.Errorf("import %s: %w", tag, err)
	}
	defer res.Close()
	d := json.NewDecoder(res)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := d.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("import %s: %w", tag, err)
		}
		if m.Error != "" {
			return fmt.Errorf("import %s: %s", tag, m.Error)
		}
	}
}

// jdk is the JDK whose jlink makes the runtime.
type jdk struct {
	home string // the host's JDK; "" when it is downloaded
	id   string // what the cache key says about it
}

// findJDK looks for the host's JDK 17 with jmods.
func findJDK(ctx context.Context, download bool) (jdk, error) {
	if download {
		return jdk{id: "debian jdk"}, nil
	}
	var homes []string
	if p, err := exec.LookPath("jlink"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			homes = append(homes, filepath.Dir(filepath.Dir(r)))
		}
	}
	m, _ := filepath.Glob("/usr/lib/jvm/java-17-openjdk-*")
	homes = append(homes, m...)
	for _, home := range homes {
		rel, err := os.ReadFile(filepath.Join(home, "release"))
		if err != nil {
			continue
		}
		v := releaseField(string(rel), "JAVA_VERSION")
		if !strings.HasPrefix(v, "17") {
			continue
		}
		if _, err := os.Stat(filepath.Join(home, "jmods", "java.base.jmod")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(home, "bin", "jlink")); err != nil {
			continue
		}
		return jdk{home: home, id: "host jdk " + releaseField(string(rel), "JAVA_RUNTIME_VERSION") + " " + home}, nil
	}
	return jdk{id: "debian jdk"}, nil
}

func releaseField(release, name string) string {
	for _, l := range strings.Split(release, "\n") {
		if v, ok := strings.CutPrefix(l, name+"="); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// makeRootfs downloads and unpacks the packages, links the Java runtime,
// writes the root file system's tar and its tag into keyDir (atomically:
// a concurrent maker's result is as good).
func makeRootfs(ctx context.Context, keyDir, arch string, j jdk, pkgs []string, versions map[string]string, opts BaseOptions) error {
	ma, err := debian.MultiarchOf(arch)
	if err != nil {
		return err
	}
	triplet, loader, loaderLink := ma.Triplet, ma.Loader, ma.LoaderPath
	if err := os.MkdirAll(filepath.Dir(keyDir), 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(keyDir), "tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	stage := filepath.Join(work, "root")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return err
	}
	t0 := time.Now()
	x, err := debian.Fetch(ctx, work, pkgs, versions)
	if err != nil {
		return err
	}
	opts.logf("zookeeper base: %d packages downloaded and unpacked in %v", len(pkgs), time.Since(t0).Round(time.Millisecond))

	// The Java runtime.
	t1 := time.Now()
	home := j.home
	if home == "" {
		m, _ := filepath.Glob(filepath.Join(x, "usr/lib/jvm/java-17-openjdk-*"))
		if len(m) != 1 {
			return fmt.Errorf("the JDK package has no single java-17-openjdk directory: %v", m)
		}
		home = m[0]
		// Its absolute symlinks (conf, security) point into /etc: into
		// the unpacked tree instead.
		if err := rebaseSymlinks(x, home); err != nil {
			return err
		}
	}
	jre := filepath.Join(stage, strings.TrimPrefix(JavaHome, "/"))
	if err := os.MkdirAll(filepath.Dir(jre), 0o755); err != nil {
		return err
	}
	if _, err := debian.Run(ctx, "", filepath.Join(home, "bin", "jlink"),
		"--module-path", filepath.Join(home, "jmods"),
		"--add-modules", strings.Join(jlinkModules, ","),
		"--strip-debug", "--no-man-pages", "--no-header-files", "--compress=2",
		"--output", jre); err != nil {
		return fmt.Errorf("jlink: %w", err)
	}
	opts.logf("zookeeper base: Java runtime linked in %v", time.Since(t1).Round(time.Millisecond))

	// The jars, libfaketime and the C libraries.
	put := func(src, dest string) error {
		r, err := debian.Resolve(x, src)
		if err != nil {
			return err
		}
		return debian.CopyFile(r, filepath.Join(stage, strings.TrimPrefix(dest, "/")))
	}
	for _, jar := range Jars {
		if err := put("/usr/share/java/"+jar, JarDir+"/"+jar); err != nil {
			return fmt.Errorf("jar %s: %w", jar, err)
		}
	}
	if err := put("/usr/lib/"+triplet+"/faketime/libfaketime.so.1", FaketimeLib); err != nil {
		return fmt.Errorf("libfaketime: %w", err)
	}
	libs := []string{loader, "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
		"libgcc_s.so.1", "libstdc++.so.6", "libz.so.1"}
	for _, l := range libs {
		var err error
		for _, d := range []string{"/lib/", "/usr/lib/"} {
			if err = put(d+triplet+"/"+l, "/lib/"+triplet+"/"+l); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("library %s: %w", l, err)
		}
	}
	links := map[string]string{loaderLink: "/lib/" + triplet + "/" + loader}
	if loaderLink == "/lib/"+triplet+"/"+loader {
		delete(links, loaderLink)
	}
	small := map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n",
		"/etc/group":  "root:x:0:\n",
	}
	for p, c := range small {
		if err := writeFile(filepath.Join(stage, p), []byte(c)); err != nil {
			return err
		}
	}
	for _, d := range []string{"/tmp", "/root", "/data", "/conf", DataDir} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(stage, "tmp"), 0o777|fs.ModeSticky); err != nil {
		return err
	}
	for l, target := range links {
		p := filepath.Join(stage, l)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(target, p); err != nil {
			return err
		}
	}

	// The tar, in a fixed order with fixed owners and times, so its hash
	// names its content.
	tmpTar := filepath.Join(work, "rootfs.tar")
	sum, err := writeTar(stage, tmpTar)
	if err != nil {
		return err
	}
	tag := BaseRepo + ":" + sum[:16]
	if err := writeFile(filepath.Join(work, "tag"), []byte(tag+"\n")); err != nil {
		return err
	}
	final := filepath.Join(work, "final")
	if err := os.Mkdir(final, 0o755); err != nil {
		return err
	}
	for _, n := range []string{"rootfs.tar", "tag"} {
		if err := os.Rename(filepath.Join(work, n), filepath.Join(final, n)); err != nil {
			return err
		}
	}
	if err := os.Rename(final, keyDir); err != nil {
		if _, serr := os.Stat(filepath.Join(keyDir, "tag")); serr == nil {
			return nil // made concurrently
		}
		return err
	}
	pruneCache(filepath.Dir(keyDir), 30*24*time.Hour)
	return nil
}

// pruneCache removes root file systems not used for maxAge.
func pruneCache(dir string, maxAge time.Duration) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && e.IsDir() && !strings.HasPrefix(e.Name(), "tmp-") && time.Since(info.ModTime()) > maxAge {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// rebaseSymlinks makes the absolute symlinks under dir point into root.
func rebaseSymlinks(root, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		t, err := os.Readlink(p)
		if err != nil || !filepath.IsAbs(t) {
			return err
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		return os.Symlink(filepath.Join(root, t), p)
	})
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

// writeTar writes the tree at dir to file dest and returns the SHA-256 of
// the tar.
func writeTar(dir, dest string) (string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	f, err := os.Create(dest)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	tw := tar.NewWriter(bw)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return "", err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		hdr.PAXRecords = nil
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if fi.Mode().IsRegular() {
			in, err := os.Open(p)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(tw, in)
			in.Close()
			if err != nil {
				return "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
