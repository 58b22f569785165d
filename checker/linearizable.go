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
	paired := history.Operations(ops)
	if !anyOK(paired) {
		// Vacuously linearizable, but a run whose clients got nothing done
		// proves nothing: say so rather than pass it.
		return Result{Name: NameLinearizable, Verdict: Unknown, Summary: "no client operation completed ok: nothing to judge"}
	}
	res := linearizable.Check(ctx, paired, linearizable.Options{
		Timeout:      opts.LinearizableTimeout,
		VisualizeDir: opts.VisualizeDir,
	})
	return Result{Name: NameLinearizable, Verdict: Verdict(res.Verdict), Summary: res.Summary, Details: res}
}

func anyOK(ops []history.Operation) bool {
	for _, op := range ops {
		if op.Type == history.OK {
			return true
		}
	}
	return false
}
