package history

import "sync"

// Recorder appends history entries as they happen. *Writer records to
// history.jsonl; *Memory keeps them in memory (tests, and callers that
// judge a history without storing it).
type Recorder interface {
	Append(Op) (Op, error)
}

var (
	_ Recorder = (*Writer)(nil)
	_ Recorder = (*Memory)(nil)
)

// Memory is a Recorder that keeps entries in memory. It stamps indexes but
// not times: entries keep the Time they were given.
type Memory struct {
	mu  sync.Mutex
	ops []Op
}

// Append stamps op with the next index and keeps it.
func (m *Memory) Append(op Op) (Op, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	op.Index = int64(len(m.ops))
	m.ops = append(m.ops, op)
	return op, nil
}

// Ops returns a copy of the entries so far.
func (m *Memory) Ops() []Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Op(nil), m.ops...)
}
