package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/splitbrain/splitbrain/shrink"
)

// TestPrintShrink: the first line gives the search's smallest failing
// schedule and its state; a larger schedule kept for failing again more
// often gets a line of its own.
func TestPrintShrink(t *testing.T) {
	tests := []struct {
		name string
		res  shrink.Result
		want []string
		not  []string
	}{
		{name: "minimal, confirmed",
			res: shrink.Result{Original: 4, Kept: []int{2}, Minimal: true, Smallest: []int{2}, SmallestConfirmed: 3, SmallestConfirmations: 4,
				Checkers: []string{"linearizable"}, Confirmed: 3, Confirmations: 4, OriginalReplays: 1},
			want: []string{"shrink:   4 faults to 1 (minimal: no single fault can be removed; T)",
				"confirm:  failed again (linearizable) in 3 of 4 replays (the original: at replay 1)"},
			not: []string{"kept"}},
		{name: "a larger schedule kept",
			res: shrink.Result{Original: 4, Kept: []int{0, 1, 2, 3}, Minimal: true, Smallest: []int{1}, SmallestConfirmed: 0, SmallestConfirmations: 4,
				Checkers: []string{"lease-safety"}, Confirmed: 1, Confirmations: 4, OriginalReplays: 2},
			want: []string{"shrink:   4 faults to 1 (minimal: no single fault can be removed; T)",
				"shrink:   kept 4 of the 4 faults: the smallest failing schedule found (1 fault) failed again in only 0 of 4 replays",
				"confirm:  failed again (lease-safety) in 1 of 4 replays (the original: at replay 2)"}},
		{name: "the empty schedule, a larger one kept",
			res:  shrink.Result{Original: 3, Kept: []int{1}, Minimal: true, Smallest: []int{}, SmallestConfirmations: 4, Confirmed: 3, Confirmations: 4},
			want: []string{"shrink:   3 faults to 0 (minimal", "kept 1 of the 3 faults: the smallest failing schedule found (0 faults) failed again in only 0 of 4"}},
		{name: "interrupted before the confirmations",
			res:  shrink.Result{Original: 5, Kept: []int{0, 3, 4}, Interrupted: true},
			want: []string{"shrink:   5 faults to 3 (interrupted: the smallest failing schedule so far; T)"},
			not:  []string{"kept", "confirm:"}},
		{name: "the budget ran out",
			res:  shrink.Result{Original: 5, Kept: []int{0, 3}, Smallest: []int{0, 3}, Confirmed: 2, Confirmations: 2, Checkers: []string{"a", "b"}},
			want: []string{"shrink:   5 faults to 2 (the budget ran out", "failed again (a or b) in 2 of 2"},
			not:  []string{"kept"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printShrink(&b, tt.res, "T")
			for _, w := range tt.want {
				assert.Contains(t, b.String(), w)
			}
			for _, n := range tt.not {
				assert.NotContains(t, b.String(), n)
			}
		})
	}
}
