package electd

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSystem(t *testing.T) {
	s := System(Options{Algo: "zab", Bugs: []string{"a", "b"}, ElectionTimeout: 300 * time.Millisecond, ReadMode: "lease"})
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.Args, " ")
	for _, want := range []string{"--algo zab", "--bug a,b", "--election-timeout 300ms", "--read-mode lease", "--seed {seed}", "--peers {peers}"} {
		if !strings.Contains(got, want) {
			t.Errorf("args %q lack %q", got, want)
		}
	}
	if d := System(Options{}); !slices.Contains(d.Args, "raft") {
		t.Errorf("default algo: %q", d.Args)
	}
}
