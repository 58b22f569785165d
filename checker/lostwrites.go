package checker

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// LostWrite is an acknowledged write that a read served by the shard's
// master afterwards did not reflect.
type LostWrite struct {
	Key   string `json:"key"`
	Slot  int    `json:"slot"`
	Group string `json:"group"` // the shard of the key's slot
	Value int64  `json:"value"` // what the write wrote
	// Acked is when the write was acknowledged; Node the master that
	// served it, when its client was connected to that master ("" when
	// the write was redirected, and it is not known who served it).
	Acked int64  `json:"acked"`
	Node  string `json:"node,omitempty"`
	// Read is the read that proved it lost.
	Read LostRead `json:"read"`
	// Failover is the first change of the shard's master after the
	// acknowledgement; nil when the master stayed the same (it lost the
	// write itself: a restart, say).
	Failover *Failover `json:"failover,omitempty"`
	// Cause says which failover, or which restart, lost it.
	Cause string `json:"cause"`
}

// LostRead is the read that showed a write lost: served by node, the
// shard's master in term from Time to its end, it returned Value (nil:
// the key never written), a value written before the lost write began.
// F is "read", or "cas" for a cas that succeeded: it read its expected
// value.
type LostRead struct {
	F     string `json:"f"`
	Node  string `json:"node"`
	Term  int64  `json:"term"`
	Time  int64  `json:"time"` // its invocation
	Value *int64 `json:"value"`
}

// Failover is a change of a shard's master: From (in FromTerm) led until
// At, when To (in ToTerm) led; From is "" after a time without a leader.
type Failover struct {
	From     string `json:"from,omitempty"`
	FromTerm int64  `json:"from_term,omitempty"`
	To       string `json:"to"`
	ToTerm   int64  `json:"to_term"`
	At       int64  `json:"at"`
}

func (f Failover) String() string {
	from := "no master"
	if f.From != "" {
		from = fmt.Sprintf("%s (epoch %d)", f.From, f.FromTerm)
	}
	return fmt.Sprintf("failover %s -> %s (epoch %d) at %s", from, f.To, f.ToTerm, formatTime(f.At))
}

// LostWritesDetails is lost-writes' evidence.
type LostWritesDetails struct {
	Lost []LostWrite `json:"lost"`
	// Keys are the keys that lost writes, Failovers the distinct
	// failovers that lost them.
	Keys      []string `json:"keys"`
	Failovers int      `json:"failovers"`
	// Acked counts the writes acknowledged ok, Judged those a read by the
	// shard's master after them could judge.
	Acked  int `json:"acked"`
	Judged int `json:"judged"`
}

// LostWrites measures the acknowledged writes Redis Cluster lost. It is
// information, never a verdict: Redis Cluster replicates asynchronously
// and the last failover wins, so it does not promise to keep them.
//
// A write (a write or a cas acknowledged ok) is lost when a later read
// says so, conservatively: a read (or a cas that succeeded, which read its
// expected value) that began after the write was acknowledged, served by the shard's master itself (its client was
// connected to the node that, by the timeline's rule, led the key's group
// from the read's start until RoleLag after its end: no newer master it
// could be stale against), returned a value older than the write: the
// value of a write acknowledged before the lost one began, or nothing.
// The current master of the shard does not have it, and a Redis master
// never gets a write from another. Each lost write is put down to the
// first change of the shard's master after its acknowledgement, or, when
// there was none, to the master itself (a restart).
func LostWrites(ops []history.Op, tl *timeline.Timeline, opts Options) Result {
	opts = opts.withDefaults()
	lag := int64(opts.RoleLag)
	paired := history.Operations(ops)
	byKey := map[string][]history.Operation{}
	var keys []string
	for _, o := range paired {
		if _, ok := byKey[o.Key]; !ok {
			keys = append(keys, o.Key)
		}
		byKey[o.Key] = append(byKey[o.Key], o)
	}
	sort.Strings(keys)
	d := LostWritesDetails{Lost: []LostWrite{}, Keys: []string{}}
	failovers := map[Failover]bool{}
	for _, k := range keys {
		lost, acked, judged := lostOfKey(k, byKey[k], tl, lag)
		d.Acked += acked
		d.Judged += judged
		for _, l := range lost {
			if l.Failover != nil {
				failovers[*l.Failover] = true
			}
		}
		if len(lost) > 0 {
			d.Keys = append(d.Keys, k)
			d.Lost = append(d.Lost, lost...)
		}
	}
	d.Failovers = len(failovers)
	r := Result{Name: NameLostWrites, Verdict: Info, Details: d}
	switch {
	case d.Acked == 0:
		r.Summary = "no write was acknowledged: nothing to lose"
	case len(d.Lost) == 0:
		r.Summary = fmt.Sprintf("no acknowledged write seen lost: %d acknowledged, %d followed by a read of their shard's master", d.Acked, d.Judged)
	default:
		causes := map[string]int{}
		var names []string
		for _, l := range d.Lost {
			if causes[l.Cause] == 0 {
				names = append(names, l.Cause)
			}
			causes[l.Cause]++
		}
		first := names[0]
		r.Summary = fmt.Sprintf("%d acknowledged write(s) lost on %s, in %d failover(s) (Redis Cluster replicates asynchronously: it does not promise them); first: %d by %s",
			len(d.Lost), strings.Join(d.Keys, ", "), d.Failovers, causes[first], first)
	}
	return r
}

// lostOfKey finds the lost writes of key k among its operations (in order
// of invocation), and counts the writes acknowledged and those judged.
func lostOfKey(k string, ops []history.Operation, tl *timeline.Timeline, lag int64) (lost []LostWrite, acked, judged int) {
	slot := RegisterSlot(k)
	// Every value is written once in a run: its writer.
	writer := map[int64]history.Operation{}
	var writes []history.Operation // acknowledged, by invocation
	for _, o := range ops {
		v, ok := written(o)
		if !ok {
			continue
		}
		writer[v] = o
		if o.Type == history.OK {
			writes = append(writes, o)
		}
	}
	acked = len(writes)
	done := map[int64]bool{}     // by invocation index
	last := int64(math.MinInt64) // the latest read that could judge
	for _, rd := range ops {
		// A cas that succeeded read its expected value as surely as a
		// read does.
		seenValue, isRead := readValue(rd)
		if !isRead {
			continue
		}
		reign, ok := served(tl, rd.Node, slot, rd.Call, rd.Return, lag)
		if !ok {
			continue
		}
		lead := tl.Group(reign.Group)
		span, ok := lead.SpanAt(rd.Call)
		if !ok || span.Node != rd.Node || span.Term != reign.Term || !(span.Open || span.To >= rd.Return+lag) {
			continue // not the shard's master throughout: it may be stale
		}
		// The time before which the value read was written: a read of
		// nothing is older than every write; a value whose write was not
		// acknowledged may have taken effect at any time, so it proves
		// nothing.
		before := int64(math.MinInt64)
		if seenValue != nil {
			w, ok := writer[*seenValue]
			if !ok || w.Type != history.OK {
				continue
			}
			before = w.Return
		}
		last = max(last, rd.Call)
		for _, w := range writes {
			if w.Return >= rd.Call || w.Call <= before || done[w.Index] {
				continue
			}
			done[w.Index] = true
			v, _ := written(w)
			l := LostWrite{Key: k, Slot: slot, Group: reign.Group, Value: v, Acked: w.Return,
				Read: LostRead{F: rd.F, Node: rd.Node, Term: reign.Term, Time: rd.Call, Value: seenValue}}
			// Who served a redirected write is not known: the master
			// before it, a moment (lag) before it began, stands for it,
			// so that a failover under way as it ran is the one named.
			since, term := w.Call-lag, int64(0)
			if r, ok := served(tl, w.Node, slot, w.Call, w.Return, lag); ok {
				l.Node, term, since = r.Node, r.Term, w.Return
			}
			l.Failover = firstFailover(lead, since, rd.Call, l.Node, term)
			l.Cause = cause(l, tl)
			if l.Failover == nil && l.Node == "" {
				// Redirected, while a master already replaced still
				// claimed the shard: the write may have gone to it.
				if f, ok := staleClaim(tl, lead, w.Return); ok {
					l.Failover = f
					l.Cause = f.String() + " (the write was redirected, perhaps to the replaced master, which still claimed the shard)"
				}
			}
			lost = append(lost, l)
		}
	}
	slices.SortFunc(lost, func(a, b LostWrite) int { return int(a.Acked - b.Acked) })
	for _, w := range writes {
		if w.Return < last {
			judged++
		}
	}
	return lost, acked, judged
}

// readValue is what an operation that completed ok saw of the key: a
// read's value (nil: never written), a cas's expected value.
func readValue(o history.Operation) (*int64, bool) {
	if o.Type != history.OK {
		return nil, false
	}
	switch {
	case o.F == history.FRead && o.Output.Kind == history.Int:
		v := o.Output.Int
		return &v, true
	case o.F == history.FRead:
		return nil, true
	case o.F == history.FCAS && o.Input.Kind == history.Pair:
		v := o.Input.From
		return &v, true
	}
	return nil, false
}

// written is the value an operation writes: a write's, or a cas's new one.
func written(o history.Operation) (int64, bool) {
	switch {
	case o.F == history.FWrite && o.Input.Kind == history.Int:
		return o.Input.Int, true
	case o.F == history.FCAS && o.Input.Kind == history.Pair:
		return o.Input.To, true
	}
	return 0, false
}

// firstFailover is the first change of the group's leader that took the
// shard from the write's master, by the read at to: from the node (in
// term) that served the write when that is known, or else from the leader
// at from. A change before the acknowledgement counts when the write went
// to a master already replaced (a stale one, cut off, that still took
// writes).
func firstFailover(l *timeline.Leadership, from, to int64, node string, term int64) *Failover {
	if node == "" {
		if cur, ok := l.SpanAt(from); ok {
			node, term = cur.Node, cur.Term
		}
	}
	for _, s := range l.Leaders {
		if s.To <= from && !(s.Open && s.To == from) || s.From > to {
			continue
		}
		if s.Node == node && s.Term == term {
			continue
		}
		f := &Failover{To: s.Node, ToTerm: s.Term, At: s.From}
		if node != "" {
			f.From, f.FromTerm = node, term
		}
		return f
	}
	return nil
}

// staleClaim is, at t, a node that still claimed to lead a group sharing
// slots with l's in a lower term than l's leader: the failover from it to
// that leader.
func staleClaim(tl *timeline.Timeline, l *timeline.Leadership, t int64) (*Failover, bool) {
	cur, ok := l.SpanAt(t)
	if !ok {
		return nil, false
	}
	for _, n := range tl.Nodes() {
		for _, r := range tl.Reigns[n] {
			if r.Node != cur.Node && r.Role == rundir.RoleLeader && r.Term < cur.Term && timeline.Overlap(r.Group, l.Group) &&
				r.From <= t && (t < r.To || r.Open) {
				return &Failover{From: r.Node, FromTerm: r.Term, To: cur.Node, ToTerm: cur.Term, At: cur.From}, true
			}
		}
	}
	return nil, false
}

// cause says what lost l: its failover, or a restart of the master.
func cause(l LostWrite, tl *timeline.Timeline) string {
	if l.Failover != nil {
		return l.Failover.String()
	}
	for _, f := range tl.Faults {
		if f.Node == l.Read.Node && f.Start >= l.Acked && f.Start <= l.Read.Time && f.F == rundir.Kill {
			return fmt.Sprintf("restart of %s (killed at %s)", f.Node, formatTime(f.Start))
		}
	}
	return fmt.Sprintf("%s itself, with no failover or restart seen", l.Read.Node)
}
