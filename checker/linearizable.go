package checker

import (
	"context"

	"github.com/splitbrain/splitbrain/checker/linearizable"
	"github.com/splitbrain/splitbrain/history"
)

// Linearizable checks that what clients saw of the register is
// linearizable, key by key (see package checker/linearizable). Its details
// are the linearizable.Result: failing keys, the operations that cannot be
// ordered, and the visualization files.
func Linearizable(ctx context.Context, ops []history.Op, opts Options) Result {
	res := linearizable.Check(ctx, history.Operations(ops), linearizable.Options{
		Timeout:      opts.LinearizableTimeout,
		VisualizeDir: opts.VisualizeDir,
	})
	return Result{Name: "linearizable", Verdict: Verdict(res.Verdict), Summary: res.Summary, Details: res}
}
