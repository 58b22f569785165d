package history

import (
	"fmt"
	"os"
	"sync"
)

// lockedFile is an append-only file written one whole line at a time.
type lockedFile struct {
	mu sync.Mutex
	f  *os.File
}

func (l *lockedFile) writeLine(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("append to %s: %w", l.f.Name(), err)
	}
	return nil
}

func (l *lockedFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Sync(); err != nil {
		l.f.Close()
		return fmt.Errorf("sync %s: %w", l.f.Name(), err)
	}
	return l.f.Close()
}
