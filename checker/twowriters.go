package checker

import (
	"fmt"
	"slices"
	"sort"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/timeline"
)

// Writer is one master's acknowledged writes in one shard: the node, its
// term (config epoch) and group, and the first and last of them.
type Writer struct {
	Node  string `json:"node"`
	Term  int64  `json:"term"`
	Group string `json:"group"`
	First int64  `json:"first"` // its first acknowledged write
	Last  int64  `json:"last"`  // and its last
	Acks  int    `json:"acks"`  // in the window
}

// TwoWriterWindow is a stretch in which two masters acknowledged writes for
// one shard: from the later one's first acknowledgement to the earlier
// one's last (or the later one's reign's end, when that comes first).
type TwoWriterWindow struct {
	Group    string   `json:"group"`
	Writers  []Writer `json:"writers"` // the earlier master first
	From     int64    `json:"from"`
	To       int64    `json:"to"`
	Duration int64    `json:"duration_ns"`
}

// TwoWritersDetails is two-writers' evidence.
type TwoWritersDetails struct {
	Windows []TwoWriterWindow `json:"windows"`
	Longest int64             `json:"longest_ns"`
	// Acked counts the writes acknowledged ok; Attributed those served by
	// the master their client was connected to, which alone say who
	// acknowledged them (the others were redirected).
	Acked      int `json:"acked"`
	Attributed int `json:"attributed"`
}

// TwoWriters measures the windows in which two nodes acknowledged writes
// for the same shard: Redis Cluster's split brain, which its vote keeps
// short (a master cut off stops taking writes after the node timeout, and
// its replica is promoted only after that) and a takeover does not. It is
// information, never a verdict.
//
// A write (ok write or cas) counts for the master that served it, when its
// client was connected to the node leading a group holding the key's slot
// (served: until RoleLag after the write); a redirected write says nothing
// of who served it and is left out. Each master's writes, by its term,
// span from its first to its last acknowledgement. When a master of a
// group (the later) acknowledged its first write before another (the
// earlier) its last, both took writes for that shard from the one to the
// other, or until the later one's reign ended.
func TwoWriters(ops []history.Op, tl *timeline.Timeline, opts Options) Result {
	opts = opts.withDefaults()
	lag := int64(opts.RoleLag)
	type key struct {
		node, group string
		term        int64
	}
	writers := map[key]*Writer{}
	until := map[key]int64{} // the end of each writer's last reign
	var order []key
	d := TwoWritersDetails{Windows: []TwoWriterWindow{}}
	var acks []struct {
		k key
		t int64
	}
	for _, o := range history.Operations(ops) {
		if _, ok := written(o); !ok || o.Type != history.OK {
			continue
		}
		d.Acked++
		r, ok := served(tl, o.Node, RegisterSlot(o.Key), o.Call, o.Return, lag)
		if !ok {
			continue
		}
		d.Attributed++
		k := key{r.Node, r.Group, r.Term}
		w := writers[k]
		if w == nil {
			w = &Writer{Node: r.Node, Term: r.Term, Group: r.Group, First: o.Return, Last: o.Return}
			writers[k] = w
			order = append(order, k)
		}
		w.First, w.Last = min(w.First, o.Return), max(w.Last, o.Return)
		until[k] = max(until[k], r.To)
		acks = append(acks, struct {
			k key
			t int64
		}{k, o.Return})
	}
	for i, a := range order {
		for _, b := range order[i+1:] {
			wa, wb := writers[a], writers[b]
			if wa.Node == wb.Node || !timeline.Overlap(wa.Group, wb.Group) {
				continue
			}
			x, y := *wa, *wb // the earlier, the later
			if y.First < x.First {
				x, y = y, x
			}
			from, to := y.First, min(x.Last, until[key{y.Node, y.Group, y.Term}])
			if from >= to {
				continue
			}
			x.Acks, y.Acks = 0, 0
			for _, ack := range acks {
				if ack.t < from || ack.t > to {
					continue
				}
				switch ack.k {
				case key{x.Node, x.Group, x.Term}:
					x.Acks++
				case key{y.Node, y.Group, y.Term}:
					y.Acks++
				}
			}
			d.Windows = append(d.Windows, TwoWriterWindow{Group: x.Group, Writers: []Writer{x, y}, From: from, To: to, Duration: to - from})
			d.Longest = max(d.Longest, to-from)
		}
	}
	sort.SliceStable(d.Windows, func(i, j int) bool { return d.Windows[i].From < d.Windows[j].From })
	r := Result{Name: NameTwoWriters, Verdict: Info, Details: d}
	switch {
	case d.Acked == 0:
		r.Summary = "no write was acknowledged"
	case len(d.Windows) == 0:
		r.Summary = fmt.Sprintf("never two masters acknowledging writes for one shard: %d writes acknowledged, %d of them by the master their client was connected to",
			d.Acked, d.Attributed)
	default:
		i := slices.IndexFunc(d.Windows, func(w TwoWriterWindow) bool { return w.Duration == d.Longest })
		w := d.Windows[i]
		r.Summary = fmt.Sprintf("%d window(s) in which two masters acknowledged writes for one shard; longest %.3fs: %s (epoch %d) and %s (epoch %d) in %s from %s",
			len(d.Windows), float64(d.Longest)/1e9, w.Writers[0].Node, w.Writers[0].Term, w.Writers[1].Node, w.Writers[1].Term, w.Group, formatTime(w.From))
	}
	return r
}
