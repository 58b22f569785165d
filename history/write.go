package history

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Writer appends entries to a history file as they happen. Each Append is
// one write to the file, so a harness killed mid-run leaves every entry it
// recorded, at worst with a truncated last line that Read drops.
type Writer struct {
	mu    sync.Mutex // orders index assignment with the write
	f     *lockedFile
	start time.Time
	next  int64
}

// Create opens path for a new history, with time zero at start.
func Create(path string, start time.Time) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	return &Writer{f: &lockedFile{f: f}, start: start}, nil
}

// Since returns the history time of t: nanoseconds since the run started,
// on the monotonic clock.
func (w *Writer) Since(t time.Time) int64 { return int64(t.Sub(w.start)) }

// Append stamps op with the next index and the current time and writes it.
// It returns the entry as written.
func (w *Writer) Append(op Op) (Op, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	op.Index = w.next
	op.Time = int64(time.Since(w.start))
	b, err := json.Marshal(op)
	if err != nil {
		return op, fmt.Errorf("encode history entry: %w", err)
	}
	if err := w.f.writeLine(b); err != nil {
		return op, err
	}
	w.next++
	return op, nil
}

// Close syncs and closes the file.
func (w *Writer) Close() error { return w.f.close() }
