package regress

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/splitbrain/splitbrain/election/bugs"
)

// withoutEntry are the planted bugs the repo's corpus has no entry for,
// and why: an entry is a schedule that showed the bug, and these never
// showed under faults.
var withoutEntry = map[string]string{
	"zab.ackepoch-twice": "needs two prospective leaders from one FLE round, which faithful FLE does not produce under network faults; only its scripted unit test shows it (election/zab/bugs_test.go)",
}

// TestRepoCorpus: the corpus in the repo loads, and holds an entry per
// planted bug, each expecting it to show.
func TestRepoCorpus(t *testing.T) {
	entries, err := Load("../corpus")
	require.NoError(t, err)
	have := map[string]Entry{}
	for _, e := range entries {
		have[e.Bug] = e
	}
	for _, b := range bugs.All {
		e, ok := have[b.Name]
		if why, missing := withoutEntry[b.Name]; missing {
			assert.False(t, ok, "%s has an entry now: take it off withoutEntry (%s)", b.Name, why)
			continue
		}
		if assert.True(t, ok, "no corpus entry for planted bug %s: splitbrain corpus add a shrunk run of it", b.Name) {
			assert.Equal(t, ExpectInvalid, e.Expect, b.Name)
			assert.Equal(t, b.Algo, e.Algo, b.Name)
			assert.NotEmpty(t, e.Checkers, b.Name)
		}
	}
}
