package history

import "math"

// Operation is an invocation paired with its outcome.
type Operation struct {
	Process Process
	F       string
	Key     string
	Input   Value // what was invoked
	Output  Value // what the completion carried (reads: the value read)
	Type    Type  // OK, Fail or Info; an invocation never completed is Info
	Call    int64 // time of the invocation
	// Return is the time of the completion; math.MaxInt64 for Info, whose
	// effect may come at any time after Call.
	Return int64
	// Completed is the time the outcome was recorded, also for Info
	// (and the last time in the history for one never completed).
	Completed int64
	Node      string
	Error     string
	Index     int64 // index of the invocation
}

// Operations pairs every client invocation with its completion, in order of
// invocation. Nemesis entries are skipped; see Faults.
func Operations(ops []Op) []Operation {
	var out []Operation
	open := map[Process]int{}
	var end int64
	for _, op := range ops {
		end = max(end, op.Time)
		if op.Process == Nemesis {
			continue
		}
		if op.Type == Invoke {
			open[op.Process] = len(out)
			out = append(out, Operation{
				Process: op.Process, F: op.F, Key: op.Key, Input: op.Value,
				Type: Info, Call: op.Time, Return: math.MaxInt64, Completed: -1,
				Node: op.Node, Index: op.Index,
			})
			continue
		}
		i, ok := open[op.Process]
		if !ok {
			continue
		}
		delete(open, op.Process)
		o := &out[i]
		o.Type, o.Output, o.Error, o.Completed = op.Type, op.Value, op.Error, op.Time
		if op.Node != "" {
			o.Node = op.Node
		}
		if op.Type != Info {
			o.Return = op.Time
		}
	}
	for i := range out {
		if out[i].Completed < 0 {
			out[i].Completed = end
		}
	}
	return out
}
