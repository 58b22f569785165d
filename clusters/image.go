package clusters

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/splitbrain/splitbrain/systems"
)

// SourceEnv names the environment variable with the directory go build
// runs in (the splitbrain source tree); empty means the current directory,
// which must then be inside the module.
const SourceEnv = "SPLITBRAIN_SRC"

// AgentPackage is the node agent's Go package, built into every image.
const AgentPackage = "github.com/splitbrain/splitbrain/cmd/nodeagent"

// agentPath is where the agent sits in the image.
const agentPath = "/nodeagent"

// Image is a node image ready on the engine.
type Image struct {
	Tag    string        // "splitbrain/electd:0123456789abcdef"
	Cached bool          // it was already there
	Build  time.Duration // time spent building binaries and the image
}

var (
	imageMu    sync.Mutex
	imageCache = map[string]Image{} // by build spec, for this process
)

// BuildImage makes the node image of sys: it builds the agent and the
// system's Go binaries (CGO_ENABLED=0, GOOS=linux), puts them with the
// system's prebuilt files into a FROM-scratch (or FROM sys.BaseImage)
// context and builds it on the engine, tagged by a hash of the content so
// later runs reuse it. Nothing is ever pulled. Within one process the
// result is remembered per system, so call it once per run and start
// ensembles with it. Go packages are built from the splitbrain module: run
// inside its source tree, or point SourceEnv at it.
func BuildImage(ctx context.Context, sys systems.System) (Image, error) {
	if err := sys.Validate(); err != nil {
		return Image{}, err
	}
	spec, _ := json.Marshal(struct {
		Base string
		Bins []systems.Binary
	}{sys.BaseImage, sys.Binaries})
	key := sys.Name + "\x00" + string(spec)
	imageMu.Lock()
	defer imageMu.Unlock()
	if img, ok := imageCache[key]; ok {
		// Still there? (splitbrain clean may have removed it since.)
		if cli, err := Docker(); err == nil {
			if _, err := cli.ImageInspect(ctx, img.Tag); err == nil {
				img.Cached = true
				img.Build = 0
				return img, nil
			}
		}
		delete(imageCache, key)
	}
	img, err := buildImage(ctx, sys)
	if err != nil {
		return Image{}, err
	}
	imageCache[key] = img
	return img, nil
}

type ctxFile struct {
	dest string // in the image
	data []byte
	mode int64
}

// buildImage stays on the moby client rather than testcontainers'
// FromDockerfile: we tag by a hash of the content and skip the build when
// the engine has that tag, from an in-memory context whose entries carry a
// fixed mtime; FromDockerfile builds on every call (a GenericContainer
// with it even builds per container) and would buy us nothing but its
// logging. Neither pulls: PullParent is off, and the base is scratch or an
// image checked to be on the engine.
func buildImage(ctx context.Context, sys systems.System) (Image, error) {
	start := time.Now()
	cli, err := Docker()
	if err != nil {
		return Image{}, err
	}
	arch := runtime.GOARCH
	if info, err := cli.Info(ctx, client.InfoOptions{}); err == nil && info.Info.Architecture != "" {
		arch = goArch(info.Info.Architecture)
	}
	pkgs := []string{AgentPackage}
	dests := []string{agentPath}
	var files []ctxFile
	for _, b := range sys.Binaries {
		if b.Package != "" {
			pkgs = append(pkgs, b.Package)
			dests = append(dests, b.Dest)
			continue
		}
		data, err := os.ReadFile(b.File)
		if err != nil {
			return Image{}, fmt.Errorf("image %s: %w", sys.Name, err)
		}
		files = append(files, ctxFile{dest: b.Dest, data: data, mode: 0o755})
	}
	built, err := goBuild(ctx, arch, pkgs)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", sys.Name, err)
	}
	for i := range pkgs {
		files = append(files, ctxFile{dest: dests[i], data: built[i], mode: 0o755})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].dest < files[j].dest })

	base, baseID := sys.BaseImage, ""
	if base == "" {
		base = "scratch"
	} else if bi, err := cli.ImageInspect(ctx, base); err != nil {
		return Image{}, fmt.Errorf("image %s: base image %s must exist on the engine (it is never pulled): %w", sys.Name, base, err)
	} else {
		// The tag is a name: a user's image under it may change, and the
		// node image with it.
		baseID = bi.ID
	}
	// One COPY of a whole tree: one layer, the fastest build.
	var df strings.Builder
	// (The entrypoint is set per container: each instruction costs the
	// classic builder a commit.)
	fmt.Fprintf(&df, "FROM %s\nCOPY root/ /\n", base)
	labels := map[string]string{LabelImage: sys.Name}
	if imageSalt != "" {
		labels["io.splitbrain.salt"] = imageSalt
	}

	// The tree: /tmp (1777), the data dir, the files, and their parents.
	dirMode := map[string]int64{"tmp": 0o1777}
	addParents := func(p string) {
		for d := path.Dir(p); d != "." && d != "/" && d != ""; d = path.Dir(d) {
			if _, ok := dirMode[d]; !ok {
				dirMode[d] = 0o755
			}
		}
	}
	dirMode[strings.Trim(sys.Data(), "/")] = 0o755
	addParents(strings.Trim(sys.Data(), "/"))
	for _, f := range files {
		addParents(strings.TrimPrefix(f.dest, "/"))
	}
	dirs := make([]string, 0, len(dirMode))
	for d := range dirMode {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs) // parents first

	h := sha256.New()
	io.WriteString(h, df.String())
	if baseID != "" {
		fmt.Fprintf(h, "base %s\n", baseID)
	}
	fmt.Fprintf(h, "labels %q %q\n", labels[LabelImage], labels["io.splitbrain.salt"])
	for _, d := range dirs {
		fmt.Fprintf(h, "dir %s %o\n", d, dirMode[d])
	}
	for _, f := range files {
		fmt.Fprintf(h, "%s %o %d\n", f.dest, f.mode, len(f.data))
		h.Write(f.data)
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	tag := fmt.Sprintf("splitbrain/%s:%s", imageName(sys.Name), sum)
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return Image{Tag: tag, Cached: true, Build: time.Since(start)}, nil
	} else if !errdefs.IsNotFound(err) {
		return Image{}, fmt.Errorf("image %s: inspect %s: %w", sys.Name, tag, err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	add := func(hdr *tar.Header, data []byte) error {
		hdr.ModTime = epoch
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(df.Len())}, []byte(df.String())); err != nil {
		return Image{}, err
	}
	if err := add(&tar.Header{Name: "root/", Typeflag: tar.TypeDir, Mode: 0o755}, nil); err != nil {
		return Image{}, err
	}
	for _, d := range dirs {
		if err := add(&tar.Header{Name: "root/" + d + "/", Typeflag: tar.TypeDir, Mode: dirMode[d]}, nil); err != nil {
			return Image{}, err
		}
	}
	for _, f := range files {
		if err := add(&tar.Header{Name: "root/" + strings.TrimPrefix(f.dest, "/"), Mode: f.mode, Size: int64(len(f.data))}, f.data); err != nil {
			return Image{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Image{}, err
	}
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		Labels:      labels,
	})
	if err != nil {
		return Image{}, fmt.Errorf("image %s: build: %w", sys.Name, err)
	}
	defer res.Body.Close()
	if err := readBuildStream(res.Body); err != nil {
		return Image{}, fmt.Errorf("image %s: build: %w", sys.Name, err)
	}
	return Image{Tag: tag, Build: time.Since(start)}, nil
}

// readBuildStream drains the build's JSON message stream and returns the
// first error in it.
func readBuildStream(r io.Reader) error {
	d := json.NewDecoder(r)
	var last string
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := d.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return fmt.Errorf("%s (after %q)", m.Error, strings.TrimSpace(last))
		}
		if m.Stream != "" {
			last = m.Stream
		}
	}
}

// imageSalt, when set (by benchmarks), makes the image content unique, so
// its build finds nothing in the engine's build cache.
var imageSalt string

// userCacheDir is where the binary cache lives (a variable for tests).
var userCacheDir = os.UserCacheDir

// goBuild builds pkgs as static linux binaries and returns their contents.
// Binaries are cached in the user's cache directory under a hash of their
// sources (see sourceKey), so a run whose sources didn't change skips the
// link step too.
func goBuild(ctx context.Context, arch string, pkgs []string) ([][]byte, error) {
	key, kerr := sourceKey(ctx, arch, pkgs)
	var cacheDir string
	if base, err := userCacheDir(); err == nil && kerr == nil {
		cacheDir = filepath.Join(base, "splitbrain", "bin", key)
		if out, ok := readCached(cacheDir, len(pkgs)); ok {
			now := time.Now()
			os.Chtimes(cacheDir, now, now) // in use: keep it from pruning
			return out, nil
		}
	}
	out, err := goBuildNow(ctx, arch, pkgs)
	if err != nil || cacheDir == "" {
		return out, err
	}
	// Best effort: a failure to cache costs the next run a build.
	tmp, terr := os.MkdirTemp(filepath.Dir(cacheDir), "tmp-")
	if terr != nil {
		if os.MkdirAll(filepath.Dir(cacheDir), 0o755) == nil {
			tmp, terr = os.MkdirTemp(filepath.Dir(cacheDir), "tmp-")
		}
	}
	if terr == nil {
		for i, b := range out {
			os.WriteFile(filepath.Join(tmp, fmt.Sprintf("b%d", i)), b, 0o755)
		}
		if os.Rename(tmp, cacheDir) != nil {
			os.RemoveAll(tmp)
		}
		pruneBinCache(filepath.Dir(cacheDir), 14*24*time.Hour)
	}
	return out, nil
}

// pruneBinCache removes cached binaries not built for maxAge.
func pruneBinCache(dir string, maxAge time.Duration) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > maxAge {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func readCached(dir string, n int) ([][]byte, bool) {
	out := make([][]byte, n)
	for i := range n {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("b%d", i)))
		if err != nil || len(b) == 0 {
			return nil, false
		}
		out[i] = b
	}
	return out, true
}

// sourceKey hashes what the binaries of pkgs are built from: the Go
// version and build settings, and every non-standard package they depend
// on (files in the module cache by path, which names their version; all
// others by content).
func sourceKey(ctx context.Context, arch string, pkgs []string) (string, error) {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = os.Getenv(SourceEnv)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	envOut, err := run("env", "GOVERSION", "GOFLAGS", "GOEXPERIMENT", "GOAMD64", "GOARM64", "GOMODCACHE", "GOMOD")
	if err != nil {
		return "", err
	}
	modcache := strings.Split(string(envOut), "\n")[5]
	h := sha256.New()
	fmt.Fprintf(h, "splitbrain goBuild v1 %s -trimpath\n%s\n%s\n", arch, envOut, strings.Join(pkgs, " "))
	list, err := run(append([]string{"list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}|{{join .GoFiles "|"}}|{{join .EmbedFiles "|"}}|{{join .SFiles "|"}}{{end}}`}, pkgs...)...)
	if err != nil {
		return "", err
	}
	h.Write(list)
	for _, line := range strings.Split(string(list), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 2 || f[0] == "" || (modcache != "" && strings.HasPrefix(f[0], modcache+string(filepath.Separator))) {
			continue
		}
		for _, name := range f[1:] {
			if name == "" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(f[0], name))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s/%s %d\n", f[0], name, len(b))
			h.Write(b)
		}
	}
	// go.mod and go.sum of the main module (replace directives, versions).
	if gomod := strings.TrimSpace(strings.Split(string(envOut), "\n")[6]); gomod != "" && gomod != os.DevNull {
		for _, p := range []string{gomod, strings.TrimSuffix(gomod, ".mod") + ".sum"} {
			b, _ := os.ReadFile(p)
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func goBuildNow(ctx context.Context, arch string, pkgs []string) ([][]byte, error) {
	dir, err := os.MkdirTemp("", "splitbrain-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := make([][]byte, len(pkgs))
	var wg sync.WaitGroup
	errs := make([]error, len(pkgs))
	for i, p := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := filepath.Join(dir, fmt.Sprintf("b%d", i))
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", o, p)
			cmd.Dir = os.Getenv(SourceEnv)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %w: %s", p, err, strings.TrimSpace(stderr.String()))
				return
			}
			out[i], errs[i] = os.ReadFile(o)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func goArch(dockerArch string) string {
	switch dockerArch {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return runtime.GOARCH
}

// imageName makes a system name usable as an image repository name.
func imageName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "system"
	}
	return b.String()
}
