package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fake is libfaketime's reading at true time t of a process started at t0
// under spec "+Xs xR": t + X + (R-1)*(t-t0).
func fake(t *testing.T, spec string, t0, at time.Time) time.Time {
	t.Helper()
	f := strings.Fields(spec)
	require.Len(t, f, 2, spec)
	x, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "s"), 64)
	require.NoError(t, err, spec)
	r, err := strconv.ParseFloat(strings.TrimPrefix(f[1], "x"), 64)
	require.NoError(t, err, spec)
	return at.Add(time.Duration(x*1e9 + (r-1)*float64(at.Sub(t0))))
}

func TestSpec(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		at      time.Duration // after t0 (negative: the skew predates the process)
		offset  time.Duration
		rate    float64
		wantFmt string
	}{
		{0, 0, 1, "+0.000000s x1"},
		{5 * time.Second, time.Hour, 1, "+3600.000000s x1"},
		{5 * time.Second, -10 * time.Second, 1, "-10.000000s x1"},
		{4 * time.Second, 10 * time.Second, 2, "+6.000000s x2"},
		{-3 * time.Second, 0, 0.5, ""},
		{2 * time.Second, 0, 0, ""},
	} {
		at := t0.Add(tc.at)
		line := strconv.FormatInt(at.UnixNano(), 10) + " " + strconv.FormatInt(int64(tc.offset), 10) + " " + strconv.FormatFloat(tc.rate, 'g', -1, 64)
		spec, err := Spec(line, t0)
		require.NoError(t, err, line)
		if tc.wantFmt != "" {
			assert.Equal(t, tc.wantFmt, spec, line)
		}
		// The node contract's clock: local(t) = at + offset + rate*(t-at).
		for _, later := range []time.Duration{0, time.Second, 90 * time.Second} {
			tt := at.Add(later)
			if tt.Before(t0) {
				continue
			}
			want := at.Add(tc.offset + time.Duration(tc.rate*float64(later)))
			assert.WithinDuration(t, want, fake(t, spec, t0, tt), time.Millisecond, "%s at +%v", line, later)
		}
	}
	for _, bad := range []string{"", "1 2", "1 2 3 4", "x 0 1", "1 0 -1", "1 0 101", "1 0 NaN", "1 0 +Inf"} {
		_, err := Spec(bad, t0)
		assert.Error(t, err, bad)
	}
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	w := &watcher{clockFile: filepath.Join(dir, "clock"), ftFile: filepath.Join(dir, "ft"), t0: time.Now()}
	require.NoError(t, w.update())
	b, err := os.ReadFile(w.ftFile)
	require.NoError(t, err)
	assert.Equal(t, "+0s x1\n", string(b), "no skew yet")
	line := strconv.FormatInt(w.t0.UnixNano(), 10) + " 2000000000 1\n"
	require.NoError(t, os.WriteFile(w.clockFile, []byte(line), 0o644))
	require.NoError(t, w.update())
	b, _ = os.ReadFile(w.ftFile)
	assert.Equal(t, "+2.000000s x1\n", string(b))
	require.NoError(t, os.WriteFile(w.clockFile, []byte("garbage\n"), 0o644))
	assert.Error(t, w.update())
	assert.NoError(t, w.update(), "said once")
	b, _ = os.ReadFile(w.ftFile)
	assert.Equal(t, "+2.000000s x1\n", string(b), "garbage keeps the clock as it was")
}

func FuzzSpec(f *testing.F) {
	f.Add("1700000000000000000 3600000000000 1")
	f.Add("1 2 0.5")
	f.Add("-5 -9223372036854775808 100")
	f.Fuzz(func(t *testing.T, line string) {
		spec, err := Spec(line, time.Unix(1_700_000_000, 0))
		if err != nil {
			return
		}
		f := strings.Fields(spec)
		if len(f) != 2 || (f[0][0] != '+' && f[0][0] != '-') || !strings.HasSuffix(f[0], "s") || !strings.HasPrefix(f[1], "x") {
			t.Fatalf("%q -> malformed spec %q", line, spec)
		}
		if r, err := strconv.ParseFloat(f[1][1:], 64); err != nil || r < 0 || r > 100 || math.IsNaN(r) {
			t.Fatalf("%q -> rate in %q", line, spec)
		}
	})
}
