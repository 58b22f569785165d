package reports

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/rundir"
)

// A run splitbrain shrink made says so and links the original beside it.
func TestShrunkNoted(t *testing.T) {
	store := t.TempDir()
	dir := filepath.Join(store, "small")
	genRun(t, dir, genConfig{Ops: 50, Seed: 3})
	st, err := rundir.ReadSettings(dir)
	require.NoError(t, err)
	st.ShrunkFrom, st.FaultsBefore = filepath.Join(store, "orig"), 9
	require.NoError(t, rundir.WriteSettings(dir, st))
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.ScheduleFile), []byte(`{"episodes":[{},{}]}`), 0o644))
	require.NoError(t, Write(dir))
	page := readFile(t, filepath.Join(dir, rundir.ReportFile))
	assert.Contains(t, page, "Shrunk from 9 faults to 2")
	assert.Contains(t, page, `href="../orig/report.html"`)
}
