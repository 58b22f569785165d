package checker

import (
	"context"

	"github.com/splitbrain/splitbrain/history"
)

// Linearizable is wired to checker/linearizable once it lands.
func Linearizable(ctx context.Context, ops []history.Op, opts Options) Result {
	return Result{Name: "linearizable", Verdict: Unknown, Summary: "not wired yet"}
}
