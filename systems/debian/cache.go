package debian

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/systems"
)

// Manifest is what a cache entry of extracted files holds: the files by
// their path in the image (stored under files/ + that path) and where they
// came from.
type Manifest struct {
	Version string
	Source  string
	Clock   bool `json:",omitempty"` // the files include the clock shim
	Dests   []string
}

// Entry is a finished cache entry, read back.
type Entry struct {
	Manifest
	Files  []systems.Binary // each Dest with its file in the entry
	Size   int64            // bytes of all files
	Cached bool             // found, not made by this call
}

// cacheAge is how long an entry nobody read is kept.
const cacheAge = 30 * 24 * time.Hour

// ReadEntry reads the finished cache entry in dir; false when there is
// none or it is incomplete. Reading it marks it as in use.
func ReadEntry(dir string) (Entry, bool) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return Entry{}, false
	}
	var m Manifest
	if json.Unmarshal(raw, &m) != nil || len(m.Dests) == 0 {
		return Entry{}, false
	}
	e := Entry{Manifest: m, Cached: true}
	for _, d := range m.Dests {
		p := filepath.Join(dir, "files", strings.TrimPrefix(d, "/"))
		st, err := os.Stat(p)
		if err != nil {
			return Entry{}, false
		}
		e.Size += st.Size()
		e.Files = append(e.Files, systems.Binary{Dest: d, File: p})
	}
	now := time.Now()
	os.Chtimes(dir, now, now) // in use: keep it from pruning
	return e, true
}

// CommitEntry writes m into work (whose files/ is filled) and renames work
// to dir, atomically: a concurrent maker's result is as good. It then
// prunes dir's siblings (PruneCache).
func CommitEntry(work, dir string, m Manifest) (Entry, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return Entry{}, err
	}
	if err := os.WriteFile(filepath.Join(work, "manifest.json"), raw, 0o644); err != nil {
		return Entry{}, err
	}
	if err := os.Rename(work, dir); err != nil {
		if e, ok := ReadEntry(dir); ok {
			return e, nil
		}
		return Entry{}, err
	}
	PruneCache(filepath.Dir(dir), cacheAge)
	e, ok := ReadEntry(dir)
	if !ok {
		return Entry{}, fmt.Errorf("cache entry %s unreadable after writing it", dir)
	}
	e.Cached = false
	return e, nil
}

// PruneCache removes entries of dir not used for maxAge, and work
// directories (tmp-) a day old: what a build killed half way left behind.
func PruneCache(dir string, maxAge time.Duration) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		age := maxAge
		if strings.HasPrefix(e.Name(), "tmp-") {
			age = 24 * time.Hour
		}
		if time.Since(info.ModTime()) > age {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// FilesExist reports whether every file is still on disk (and there is one).
func FilesExist(files []systems.Binary) bool {
	for _, f := range files {
		if _, err := os.Stat(f.File); err != nil {
			return false
		}
	}
	return len(files) > 0
}
