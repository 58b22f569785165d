// Package wal is electd's write-ahead file: one append-only file per node
// holding the protocol's opaque records, each framed with its length and a
// CRC so that a reader can tell a record that was completely written from
// one a crash cut short.
//
// On-disk format, repeated to the end of the file:
//
//	length  uint32, little endian: the payload size in bytes
//	crc     uint32, little endian: CRC-32C (Castagnoli) of the length
//	        field followed by the payload
//	payload length bytes
//
// Append writes a whole batch with one write and then fsyncs it, so after a
// crash the file holds every fsynced batch and possibly a prefix of the last
// one. Open keeps every complete record and cuts off an incomplete tail,
// which is what a power cut leaves behind. A record whose CRC fails while
// complete records follow it is not a torn tail but damage, and Open
// refuses the file rather than silently drop acknowledged state.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// FileName is the write-ahead file's name inside the data directory.
const FileName = "electd.wal"

// headerSize is the framing overhead of one record.
const headerSize = 8

// MaxRecordSize bounds one record. A larger length field can only come from
// a torn or damaged header, so the reader treats it as such instead of
// trying to allocate it.
const MaxRecordSize = 64 << 20

// ErrCorrupt is wrapped by every error that reports a damaged file.
var ErrCorrupt = errors.New("wal: corrupt write-ahead file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WAL is an open write-ahead file. Its methods are safe for concurrent use,
// although electd's runner calls them from one goroutine.
type WAL struct {
	mu   sync.Mutex
	f    *os.File
	path string
	size int64
	buf  []byte // reused framing buffer, so a batch is one write call
}

// Open opens (creating if needed) the write-ahead file in dir, returns every
// complete record it holds, oldest first, and truncates a torn tail so that
// the next Append starts on a record boundary.
func Open(dir string) (*WAL, [][]byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("wal: create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open %s: %w", path, err)
	}
	if created {
		// The file's directory entry must survive a power cut too, or a
		// node could come back with no file at all after acknowledging.
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	recs, valid, err := Decode(data)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if valid < len(data) {
		// A torn tail: what was not fsynced is lost, as after a power cut.
		if err := f.Truncate(int64(valid)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("wal: truncate torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("wal: fsync %s: %w", path, err)
		}
	}
	if _, err := f.Seek(int64(valid), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: seek %s: %w", path, err)
	}
	return &WAL{f: f, path: path, size: int64(valid)}, recs, nil
}

// Append writes recs as one batch and fsyncs the file before returning. An
// empty batch does nothing. After an error the file's tail is unknown; the
// caller must stop using the WAL (electd exits), and the next Open cuts
// whatever part of the batch did not make it.
func (w *WAL) Append(recs [][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("wal: append to a closed file")
	}
	w.buf = w.buf[:0]
	for _, r := range recs {
		if len(r) > MaxRecordSize {
			return fmt.Errorf("wal: record of %d bytes exceeds the %d byte limit", len(r), MaxRecordSize)
		}
		w.buf = AppendRecord(w.buf, r)
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("wal: write %s: %w", w.path, err)
	}
	// A real fsync: the protocol sends votes and acknowledgements only after
	// this returns, so anything it promised survives a power cut.
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("wal: fsync %s: %w", w.path, err)
	}
	w.size += int64(len(w.buf))
	if cap(w.buf) > 1<<20 {
		w.buf = nil // don't pin a large batch's buffer forever
	}
	return nil
}

// Size is the number of bytes of complete records in the file.
func (w *WAL) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// Path is the write-ahead file's path.
func (w *WAL) Path() string { return w.path }

// Close closes the file. Everything appended is already fsynced.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// AppendRecord appends the framed form of payload to buf.
func AppendRecord(buf, payload []byte) []byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], checksum(h[0:4], payload))
	buf = append(buf, h[:]...)
	return append(buf, payload...)
}

// Decode parses the records in data. It returns the complete records, the
// number of bytes they span (valid), and an error wrapping ErrCorrupt when
// a record in the middle of the file is damaged.
//
// Bytes past valid are a torn tail: a header cut short, a payload cut short,
// an impossible length, or a last record whose CRC fails (a write that
// reached the disk only in part). The caller drops them.
func Decode(data []byte) (recs [][]byte, valid int, err error) {
	off := 0
	for off < len(data) {
		rest := len(data) - off
		if rest < headerSize {
			return recs, off, nil // torn header
		}
		n := int(binary.LittleEndian.Uint32(data[off : off+4]))
		sum := binary.LittleEndian.Uint32(data[off+4 : off+8])
		if n > MaxRecordSize || n > rest-headerSize {
			// Either the payload was cut short or the length itself is
			// garbage; both can only be the unsynced end of the file.
			return recs, off, nil
		}
		payload := data[off+headerSize : off+headerSize+n]
		if checksum(data[off:off+4], payload) != sum {
			end := off + headerSize + n
			if end == len(data) || allZero(data[end:]) {
				// The last record, half written: a torn tail. Zeros after it
				// are what a file system leaves when it extended the file
				// but never wrote the blocks.
				return recs, off, nil
			}
			return recs, off, fmt.Errorf("%w: CRC mismatch in the record at byte offset %d (%d bytes), with %d bytes of records after it",
				ErrCorrupt, off, n, len(data)-end)
		}
		// Copy so the caller may keep records without pinning the whole file.
		rec := make([]byte, n)
		copy(rec, payload)
		recs = append(recs, rec)
		off += headerSize + n
	}
	return recs, off, nil
}

// checksum covers the length field too: otherwise a run of zero bytes (an
// extended but unwritten file) would read as valid empty records, since the
// CRC of nothing is zero.
func checksum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open data directory for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: fsync data directory %s: %w", dir, err)
	}
	return nil
}
