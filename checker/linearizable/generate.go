package linearizable

import (
	"cmp"
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/splitbrain/splitbrain/history"
)

// Generate returns a history.jsonl-shaped list of n register operations
// (invocations and completions, so about 2n entries) on keys keys
// "k0".."k<keys-1>", by procs concurrent clients, from a simulated
// linearizable register: each operation takes effect at a random instant
// between its invocation and completion. Write and cas values are unique.
// A fraction infoRate of operations end "info" (a fifth of those are never
// completed at all) and take effect or not at random; the client then
// goes on under a new process number, as the harness does. A cas whose
// expected value does not match fails. The same seed gives the same
// history. Benchmarks and reports reuse it.
func Generate(n, keys, procs int, infoRate float64, seed int64) []history.Op {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	keys, procs = max(keys, 1), max(procs, 1)

	type gop struct {
		proc       history.Process
		key        int
		f          string
		call, ret  int64
		at         int64 // when it takes effect
		info       bool
		noComplete bool
		in, out    history.Value
		typ        history.Type
	}
	gops := make([]gop, 0, n)
	// Clients take turns by time: the one free earliest invokes next.
	free := &slotHeap{}
	for s := range procs {
		heap.Push(free, slot{id: s, proc: history.Process(s), t: int64(rng.IntN(1000))})
	}
	for range n {
		s := heap.Pop(free).(slot)
		dur := 100_000 + rng.Int64N(2_900_000) // 0.1-3 ms
		if rng.Float64() < 0.01 {
			dur = 10_000_000 + rng.Int64N(40_000_000) // a slow one: 10-50 ms
		}
		g := gop{proc: s.proc, key: rng.IntN(keys), call: s.t, ret: s.t + dur, at: s.t + 1 + rng.Int64N(dur-1)}
		switch r := rng.Float64(); {
		case r < 0.5:
			g.f = history.FRead
		case r < 0.8:
			g.f = history.FWrite
		default:
			g.f = history.FCAS
		}
		if rng.Float64() < infoRate {
			g.info = true
			g.noComplete = rng.Float64() < 0.2
			s.gen++
			s.proc = history.Process(s.id + s.gen*procs)
		}
		gops = append(gops, g)
		s.t = g.ret + 1 + rng.Int64N(1_000_000)
		heap.Push(free, s)
	}

	// Apply the operations in the order they take effect.
	order := make([]int, len(gops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(gops[a].at, gops[b].at) })
	state := make([]*int64, keys)
	written := make([][]int64, keys)
	next := int64(1)
	for _, i := range order {
		g := &gops[i]
		cur := state[g.key]
		happens := !g.info || rng.IntN(2) == 0
		g.typ = history.OK
		if g.info {
			g.typ = history.Info
		}
		switch g.f {
		case history.FRead:
			if cur != nil && !g.info {
				g.out = history.IntValue(*cur)
			}
		case history.FWrite:
			v := next
			next++
			g.in = history.IntValue(v)
			if happens {
				state[g.key] = &v
			}
			written[g.key] = append(written[g.key], v)
		case history.FCAS:
			from := int64(0)
			w := written[g.key]
			switch {
			case cur != nil && rng.Float64() < 0.7:
				from = *cur
			case len(w) > 0:
				from = w[max(0, len(w)-1-rng.IntN(3))]
			}
			to := next
			next++
			g.in = history.PairValue(from, to)
			match := cur != nil && *cur == from
			switch {
			case !match && !g.info:
				g.typ = history.Fail
			case match && happens:
				state[g.key] = &to
			}
			written[g.key] = append(written[g.key], to)
		}
	}

	type ent struct {
		t   int64
		gi  int
		inv bool
	}
	ents := make([]ent, 0, 2*len(gops))
	for i, g := range gops {
		ents = append(ents, ent{g.call, i, true})
		if !g.noComplete {
			ents = append(ents, ent{g.ret, i, false})
		}
	}
	slices.SortStableFunc(ents, func(a, b ent) int { return cmp.Compare(a.t, b.t) })
	out := make([]history.Op, len(ents))
	for i, e := range ents {
		g := &gops[e.gi]
		op := history.Op{Index: int64(i), Time: e.t, Process: g.proc, Type: history.Invoke, F: g.f,
			Key: fmt.Sprintf("k%d", g.key), Value: g.in}
		if !e.inv {
			op.Type = g.typ
			if g.f == history.FRead {
				op.Value = g.out
			}
		}
		out[i] = op
	}
	return out
}

type slot struct {
	id, gen int
	proc    history.Process
	t       int64 // when the client is free to invoke
}

type slotHeap []slot

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].t < h[j].t }
func (h slotHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *slotHeap) Push(x any)        { *h = append(*h, x.(slot)) }
func (h *slotHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// AppendImpossibleRead appends to a history from Generate one read,
// invoked after everything else completed, that returns a value which had
// certainly been overwritten: a value w wrote when another ok write or cas
// of the key was invoked after w completed. The history is then not
// linearizable. It returns ops unchanged if no key has such a pair.
func AppendImpossibleRead(ops []history.Op, seed int64) []history.Op {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xbad))
	pairs := history.Operations(ops)
	// Per key: the ok writes and cas, in invocation order.
	type w struct {
		v         int64
		call, ret int64
	}
	byKey := map[string][]w{}
	var keys []string
	var end int64
	var maxProc history.Process
	for _, o := range ops {
		end = max(end, o.Time)
		maxProc = max(maxProc, o.Process)
	}
	for _, p := range pairs {
		if p.Type != history.OK || p.F == history.FRead {
			continue
		}
		v := p.Input.Int
		if p.F == history.FCAS {
			v = p.Input.To
		}
		if _, ok := byKey[p.Key]; !ok {
			keys = append(keys, p.Key)
		}
		byKey[p.Key] = append(byKey[p.Key], w{v, p.Call, p.Return})
	}
	slices.Sort(keys)
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		ws := byKey[k]
		// A stale value from the second half of the history, so that the
		// checker cannot get away with looking at the start only.
		for i := len(ws) / 2; i < len(ws); i++ {
			for _, x := range ws[i+1:] {
				if x.call > ws[i].ret {
					proc := maxProc + 1
					n := int64(len(ops))
					return append(slices.Clip(ops),
						history.Op{Index: n, Time: end + 1, Process: proc, Type: history.Invoke, F: history.FRead, Key: k},
						history.Op{Index: n + 1, Time: end + 2, Process: proc, Type: history.OK, F: history.FRead, Key: k, Value: history.IntValue(ws[i].v)})
				}
			}
		}
	}
	return ops
}
