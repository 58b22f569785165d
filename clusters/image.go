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
// ensembles with it.
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
		img.Cached = true
		img.Build = 0
		return img, nil
	}
	img, err := buildImage(ctx, sys)
	if err != nil {
		return Image{}, err
	}
	imageCache[key] = img
	return img, nil
}

type ctxFile struct {
	name string // in the build context
	dest string // in the image
	data []byte
	mode int64
}

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

	base := sys.BaseImage
	if base == "" {
		base = "scratch"
	} else if _, err := cli.ImageInspect(ctx, base); err != nil {
		return Image{}, fmt.Errorf("image %s: base image %s must exist on the engine (it is never pulled): %w", sys.Name, base, err)
	}
	var df strings.Builder
	fmt.Fprintf(&df, "FROM %s\n", base)
	for i := range files {
		files[i].name = fmt.Sprintf("f%d", i)
		fmt.Fprintf(&df, "COPY %s %s\n", files[i].name, files[i].dest)
	}
	dirs := []string{"tmp", strings.TrimPrefix(sys.Data(), "/")}
	fmt.Fprintf(&df, "COPY dirs/ /\n")
	fmt.Fprintf(&df, "ENTRYPOINT [%q]\n", agentPath)

	h := sha256.New()
	io.WriteString(h, df.String())
	for _, d := range dirs {
		fmt.Fprintf(h, "dir %s\n", d)
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
	now := time.Unix(0, 0)
	add := func(hdr *tar.Header, data []byte) error {
		hdr.ModTime = now
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(df.Len())}, []byte(df.String())); err != nil {
		return Image{}, err
	}
	if err := add(&tar.Header{Name: "dirs/", Typeflag: tar.TypeDir, Mode: 0o755}, nil); err != nil {
		return Image{}, err
	}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		// each parent of a nested dir
		parts := strings.Split(d, "/")
		for i := range parts {
			p := path.Join(parts[:i+1]...)
			if p == "" {
				continue
			}
			m := int64(0o755)
			if i == len(parts)-1 {
				m = mode
			}
			if err := add(&tar.Header{Name: "dirs/" + p + "/", Typeflag: tar.TypeDir, Mode: m}, nil); err != nil {
				return Image{}, err
			}
		}
	}
	for _, f := range files {
		if err := add(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}, f.data); err != nil {
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
		Labels:      map[string]string{LabelImage: sys.Name},
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

// goBuild builds pkgs as static linux binaries and returns their contents.
func goBuild(ctx context.Context, arch string, pkgs []string) ([][]byte, error) {
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
