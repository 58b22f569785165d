package bugs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		list, algo string
		want       []string
		err        string
	}{
		{"", "raft", []string{}, ""},
		{"raft.vote-twice", "raft", []string{"raft.vote-twice"}, ""},
		{" raft.local-read , raft.vote-twice", "raft", []string{"raft.local-read", "raft.vote-twice"}, ""},
		{"raft.nope", "raft", nil, `unknown bug "raft.nope"`},
		{"zab.no-stepdown", "raft", nil, "belongs to --algo zab"},
		{"raft.vote-twice,", "raft", nil, `unknown bug ""`},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			set, err := Parse(tt.list, tt.algo)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, Names(set))
		})
	}
}

func TestRegistryIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range All {
		assert.False(t, seen[b.Name], "duplicate %s", b.Name)
		seen[b.Name] = true
		assert.True(t, strings.HasPrefix(b.Name, b.Algo+"."), "%s is filed under %s", b.Name, b.Algo)
		for field, v := range map[string]string{"description": b.Description, "fault": b.Fault, "checker": b.Checker, "precedent": b.Precedent} {
			assert.NotEmpty(t, v, "%s has no %s", b.Name, field)
		}
	}
	// The bugs issue 3 names.
	for _, name := range []string{"raft.vote-twice", "raft.vote-volatile", "raft.quorum-off-by-one", "raft.no-uptodate",
		"raft.local-read", "raft.lease-no-drift", "raft.ack-before-commit", "zab.zxid-counter-only", "zab.ackepoch-twice", "zab.no-stepdown"} {
		assert.True(t, seen[name], "%s is missing", name)
	}
}

func TestScripted(t *testing.T) {
	tests := []struct {
		list string
		want bool
	}{
		{"", false},
		{"raft.vote-twice", false},
		{"zab.ackepoch-twice", true},
		{"zab.ackepoch-twice,zab.no-stepdown", false}, // no-stepdown can still be found
		{"nope", false},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			assert.Equal(t, tt.want, Scripted(tt.list))
		})
	}
}
