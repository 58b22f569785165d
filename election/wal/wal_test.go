package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func recs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestAppendThenReopenReturnsRecordsInOrder(t *testing.T) {
	dir := t.TempDir()
	w, got, err := Open(dir)
	require.NoError(t, err)
	assert.Empty(t, got)
	require.NoError(t, w.Append(recs("a", "", "ccc")))
	require.NoError(t, w.Append(nil)) // an empty batch is a no-op
	require.NoError(t, w.Append(recs("dddd")))
	require.NoError(t, w.Close())

	w, got, err = Open(dir)
	require.NoError(t, err)
	assert.Equal(t, recs("a", "", "ccc", "dddd"), got)
	// Appending after reopening continues the same file.
	require.NoError(t, w.Append(recs("e")))
	require.NoError(t, w.Close())
	_, got, err = Open(dir)
	require.NoError(t, err)
	assert.Equal(t, recs("a", "", "ccc", "dddd", "e"), got)
}

// Every prefix of a valid file is what a crash during the last write can
// leave: Open must return the records that are complete and cut the rest.
func TestTornTailIsTruncatedAtEveryCutPoint(t *testing.T) {
	var full []byte
	want := recs("first", "second record", "third")
	ends := []int{}
	for _, r := range want {
		full = AppendRecord(full, r)
		ends = append(ends, len(full))
	}
	for cut := 0; cut <= len(full); cut++ {
		dir := t.TempDir()
		path := filepath.Join(dir, FileName)
		require.NoError(t, os.WriteFile(path, full[:cut], 0o644))
		w, got, err := Open(dir)
		require.NoError(t, err, "cut at %d", cut)
		complete := 0
		valid := 0
		for i, e := range ends {
			if e <= cut {
				complete = i + 1
				valid = e
			}
		}
		if complete == 0 {
			assert.Empty(t, got, "cut at %d", cut)
		} else {
			assert.Equal(t, want[:complete], got, "cut at %d", cut)
		}
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, int64(valid), st.Size(), "torn tail truncated (cut at %d)", cut)
		// The next append lands on a record boundary and reads back.
		require.NoError(t, w.Append(recs("after")))
		require.NoError(t, w.Close())
		_, got, err = Open(dir)
		require.NoError(t, err)
		assert.Equal(t, "after", string(got[len(got)-1]))
	}
}

func TestZeroFilledTailIsTorn(t *testing.T) {
	dir := t.TempDir()
	data := AppendRecord(nil, []byte("kept"))
	// A file system that extended the file but never wrote the blocks.
	data = append(data, make([]byte, 64)...)
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), data, 0o644))
	_, got, err := Open(dir)
	require.NoError(t, err)
	assert.Equal(t, recs("kept"), got)
}

func TestGarbledLastRecordIsTorn(t *testing.T) {
	dir := t.TempDir()
	data := AppendRecord(nil, []byte("kept"))
	data = AppendRecord(data, []byte("half-written"))
	data[len(data)-1] ^= 0xff // the last sector never reached the disk intact
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), data, 0o644))
	_, got, err := Open(dir)
	require.NoError(t, err)
	assert.Equal(t, recs("kept"), got)
}

func TestCorruptCRCMidFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	data := AppendRecord(nil, []byte("one"))
	second := len(data)
	data = AppendRecord(data, []byte("two"))
	data = AppendRecord(data, []byte("three"))
	data[second+headerSize] ^= 0x01 // flip a bit in "two"
	path := filepath.Join(dir, FileName)
	require.NoError(t, os.WriteFile(path, data, 0o644))

	_, _, err := Open(dir)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), fmt.Sprintf("byte offset %d", second))
	assert.Contains(t, err.Error(), path)
	// Refusing must not destroy the evidence.
	after, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.Equal(t, data, after)
}

func TestOversizedLengthIsTornTail(t *testing.T) {
	data := AppendRecord(nil, []byte("ok"))
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[:4], MaxRecordSize+1)
	data = append(data, h[:]...)
	data = append(data, bytes.Repeat([]byte{7}, 100)...)
	got, valid, err := Decode(data)
	require.NoError(t, err)
	assert.Equal(t, recs("ok"), got)
	assert.Equal(t, headerSize+2, valid)
}

func TestAppendAfterCloseFails(t *testing.T) {
	w, _, err := Open(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close()) // idempotent
	assert.Error(t, w.Append(recs("x")))
}

func TestOpenCreatesDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	w, got, err := Open(dir)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.FileExists(t, w.Path())
	require.NoError(t, w.Close())
}

// FuzzDecode feeds the reader arbitrary bytes. It must never panic, the
// valid prefix must be a whole number of records that re-encode to exactly
// those bytes, and anything it calls a torn tail must not be an error.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendRecord(nil, []byte("seed")))
	f.Add(AppendRecord(AppendRecord(nil, []byte("a")), []byte("bb"))[:11])
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, valid, err := Decode(data)
		if valid < 0 || valid > len(data) {
			t.Fatalf("valid %d out of range [0,%d]", valid, len(data))
		}
		var re []byte
		for _, r := range got {
			re = AppendRecord(re, r)
		}
		if !bytes.Equal(re, data[:valid]) {
			t.Fatalf("records do not re-encode to the valid prefix")
		}
		if err == nil {
			// Decoding the valid prefix alone gives the same records.
			again, v2, err2 := Decode(data[:valid])
			if err2 != nil || v2 != valid || len(again) != len(got) {
				t.Fatalf("valid prefix does not decode to itself: %v %d %d", err2, v2, len(again))
			}
		}
	})
}
