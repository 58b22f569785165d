package reports

import (
	"testing"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

func nem(t int64, f rundir.Fault, node string) history.Op {
	return history.Op{Time: t, Process: history.Nemesis, Type: history.Info, F: string(f), Node: node}
}

func TestWindowsCauses(t *testing.T) {
	faults := timeline.New([]history.Op{nem(1e9, rundir.Kill, "n1"), nem(20e9, rundir.Pause, "n2")}, nil).Faults
	ws := withCauses([]timeline.Window{{From: 1e9 + 2e6, To: 2e9}, {From: 15e9, To: 16e9}, {From: 30e9, To: 31e9}}, faults)
	if ws[0].Cause != "kill n1 at 1.000s" || ws[1].Cause != "" || ws[2].Cause != "pause n2 at 20.000s" {
		t.Errorf("causes: %q, %q, %q", ws[0].Cause, ws[1].Cause, ws[2].Cause)
	}
}

func TestLayoutLatencyThinsButCountsExactly(t *testing.T) {
	var ops []history.Operation
	for i := range 50_000 {
		typ := history.OK
		switch i % 50 {
		case 0:
			typ = history.Fail
		case 1:
			typ = history.Info
		}
		call := int64(i) * 1000
		ops = append(ops, history.Operation{Type: typ, Call: call, Completed: call + int64(500_000+(i*7919)%5_000_000)})
	}
	lp := layoutLatency(ops, scale{end: 50_000*1000 + 6_000_000}, nil)
	if lp.OK != 48_000 || lp.Fail != 1000 || lp.Info != 1000 || lp.Total != 50_000 {
		t.Errorf("counts ok %d fail %d info %d total %d", lp.OK, lp.Fail, lp.Info, lp.Total)
	}
	if lp.Drawn > maxPoints || lp.Drawn == 0 {
		t.Errorf("%d points drawn, want 1..%d", lp.Drawn, maxPoints)
	}
	bad := 0
	for _, p := range lp.Points {
		if p.Type != history.OK {
			bad++
		}
	}
	if bad < 500 {
		t.Errorf("only %d failure points kept of 2000", bad)
	}
}

func TestPendingOpsDrawnOnTop(t *testing.T) {
	ops := []history.Op{
		{Index: 0, Time: 0, Process: 0, Type: history.Invoke, F: "write", Key: "x", Value: history.IntValue(1)},
		{Index: 1, Time: 5_000_000, Process: 0, Type: history.OK, F: "write", Key: "x", Value: history.IntValue(1)},
		{Index: 2, Time: 6_000_000, Process: 1, Type: history.Invoke, F: "read", Key: "x"},
		{Index: 3, Time: 9_000_000, Process: history.Nemesis, Type: history.Info, F: "kill", Node: "n1"},
	}
	r := &run{Ops: ops, Operations: history.Operations(ops), End: 9_000_000}
	pending := pendingOps(r)
	if len(pending) != 1 || !pending[2] {
		t.Fatalf("pending: %v, want the read at index 2", pending)
	}
	lp := layoutLatency(r.Operations, scale{end: r.End}, pending)
	if lp.OK != 1 || lp.Info != 1 || lp.Pending != 1 {
		t.Errorf("counts ok %d info %d pending %d", lp.OK, lp.Info, lp.Pending)
	}
	for _, p := range lp.Points {
		if p.Type == history.Info && p.Y != latTop {
			t.Errorf("the pending read is drawn at y %.1f, not on the top edge", p.Y)
		}
	}
}
