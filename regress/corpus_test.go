package regress

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election/bugs"
)

// TestRepoCorpus: the corpus in the repo loads, and holds an entry per
// planted bug, each expecting it to show; but none for a bug no fault is
// known to reach (bugs.Bug.Scripted): an entry is a schedule that showed
// the bug.
func TestRepoCorpus(t *testing.T) {
	entries, err := Load("../corpus")
	require.NoError(t, err)
	have := map[string]Entry{}
	for _, e := range entries {
		have[e.Bug] = e
	}
	for _, b := range bugs.All {
		e, ok := have[b.Name]
		if b.Scripted {
			assert.False(t, ok, "%s has an entry now: a schedule reaches it, so it is no longer Scripted (election/bugs)", b.Name)
			continue
		}
		if assert.True(t, ok, "no corpus entry for planted bug %s: splitbrain corpus add a shrunk run of it", b.Name) {
			assert.Equal(t, ExpectInvalid, e.Expect, b.Name)
			assert.Equal(t, b.Algo, e.Algo, b.Name)
			assert.NotEmpty(t, e.Checkers, b.Name)
		}
	}
}
