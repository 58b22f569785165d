package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/timeline"
)

// shardsView is what a run of a system that leads per shard (Redis
// Cluster) shows near the top: the shards, the windows in which one had
// two masters, and what Redis Cluster does not promise, measured: the
// acknowledged writes lost and the windows in which two masters took
// writes for one shard.
type shardsView struct {
	Shards    []shardRow
	Multi     []windowRow // two or more masters claiming one shard
	MultiSame int         // of which in one epoch
	Lost      *lostView
	Two       *twoView
}

type shardRow struct {
	Name, Slots, Masters string
	Failovers            int
}

type lostView struct {
	Summary          string
	Count, Failovers int
	Keys             string
	Acked, Judged    int
	Rows             []lostRow
	Hidden           int
}

type lostRow struct {
	Key, Shard, Value, Acked, By, Read, ReadValue, Cause string
}

type twoView struct {
	Summary           string
	Count             int
	Longest           string
	Acked, Attributed int
	Rows              []twoRow
	Hidden            int
}

type twoRow struct {
	Shard, Writers, From, To, Duration, Acks string
}

// maxShardRows bounds each table of the shards section.
const maxShardRows = 200

// shardNames names each shard of the run, "shard 1" .. by slot order
// (groups sort by name, which for slot ranges is not slot order), with
// the group "" (no shard) left out.
func shardNames(tl *timeline.Timeline) map[string]string {
	var gs []string
	for _, l := range tl.Groups {
		if l.Group != "" {
			gs = append(gs, l.Group)
		}
	}
	first := func(g string) int {
		if rs, ok := timeline.Slots(g); ok && len(rs) > 0 {
			return rs[0].Lo
		}
		return math.MaxInt
	}
	sort.SliceStable(gs, func(i, j int) bool {
		if a, b := first(gs[i]), first(gs[j]); a != b {
			return a < b
		}
		return gs[i] < gs[j]
	})
	out := map[string]string{}
	for i, g := range gs {
		out[g] = "shard " + strconv.Itoa(i+1)
	}
	return out
}

// shardLabel is "shard 1 (0-5460)".
func shardLabel(names map[string]string, g string) string {
	if n, ok := names[g]; ok {
		return n + " (" + g + ")"
	}
	if g == "" {
		return "no shard"
	}
	return g
}

// groupWindows gathers the contested and leaderless windows of every
// shard, each named by its group, in order of start.
func groupWindows(tl *timeline.Timeline, faults []timeline.Fault) (multi, none []window) {
	for _, l := range tl.Groups {
		if l.Group == "" {
			continue // nodes in no shard lead nothing
		}
		for _, w := range withCauses(l.Contested, faults) {
			w.Group = l.Group
			multi = append(multi, w)
		}
		for _, w := range withCauses(l.Leaderless, faults) {
			w.Group = l.Group
			none = append(none, w)
		}
	}
	sort.SliceStable(multi, func(i, j int) bool { return multi[i].From < multi[j].From })
	sort.SliceStable(none, func(i, j int) bool { return none[i].From < none[j].From })
	return multi, none
}

// shards builds the section, or nil for a run with one leader.
func shards(r *run, multi []window) *shardsView {
	tl := r.Timeline
	lw, tw := r.checker(checker.NameLostWrites), r.checker(checker.NameTwoWriters)
	if len(tl.Groups) < 2 && lw == nil && tw == nil {
		return nil
	}
	names := shardNames(tl)
	v := &shardsView{}
	for _, l := range tl.Groups {
		if l.Group == "" {
			continue
		}
		var masters []string
		changes := 0
		for i, s := range l.Leaders {
			m := fmt.Sprintf("%s (epoch %d)", s.Node, s.Term)
			if len(masters) == 0 || masters[len(masters)-1] != m {
				masters = append(masters, m)
			}
			if i > 0 && (s.Node != l.Leaders[i-1].Node || s.Term != l.Leaders[i-1].Term) {
				changes++
			}
		}
		v.Shards = append(v.Shards, shardRow{Name: names[l.Group], Slots: l.Group, Masters: strings.Join(masters, " → "), Failovers: changes})
	}
	sort.SliceStable(v.Shards, func(i, j int) bool { return nodeLess(v.Shards[i].Name, v.Shards[j].Name) })
	rows := windowRows(multi)
	for i := range rows {
		rows[i].Group = shardLabel(names, rows[i].Group)
		if rows[i].SameTerm {
			v.MultiSame++
		}
	}
	v.Multi = rows
	if lw != nil {
		v.Lost = &lostView{Summary: lw.Summary}
		if d, ok := lw.Details.(checker.LostWritesDetails); ok {
			v.Lost.Count, v.Lost.Failovers, v.Lost.Keys = len(d.Lost), d.Failovers, strings.Join(d.Keys, ", ")
			v.Lost.Acked, v.Lost.Judged = d.Acked, d.Judged
			for i, l := range d.Lost {
				if i == maxShardRows {
					v.Lost.Hidden = len(d.Lost) - i
					break
				}
				read := "null (never written)"
				if l.Read.Value != nil {
					read = strconv.FormatInt(*l.Read.Value, 10)
				}
				by := l.Node
				if by == "" {
					by = "(redirected: not known)"
				}
				v.Lost.Rows = append(v.Lost.Rows, lostRow{Key: l.Key, Shard: shardLabel(names, l.Group), Value: strconv.FormatInt(l.Value, 10),
					Acked: fmtTime(l.Acked), By: by, Read: fmt.Sprintf("%s on %s at %s (epoch %d)", cmp.Or(l.Read.F, "read"), l.Read.Node, fmtTime(l.Read.Time), l.Read.Term),
					ReadValue: read, Cause: l.Cause})
			}
		}
	}
	if tw != nil {
		v.Two = &twoView{Summary: tw.Summary}
		if d, ok := tw.Details.(checker.TwoWritersDetails); ok {
			v.Two.Count, v.Two.Acked, v.Two.Attributed = len(d.Windows), d.Acked, d.Attributed
			v.Two.Longest = fmtDur(d.Longest)
			ws := slices.Clone(d.Windows)
			for i, w := range ws {
				if i == maxShardRows {
					v.Two.Hidden = len(ws) - i
					break
				}
				var who, acks []string
				for _, wr := range w.Writers {
					who = append(who, fmt.Sprintf("%s (epoch %d)", wr.Node, wr.Term))
					acks = append(acks, fmt.Sprintf("%s: %d", wr.Node, wr.Acks))
				}
				v.Two.Rows = append(v.Two.Rows, twoRow{Shard: shardLabel(names, w.Group), Writers: strings.Join(who, " and "),
					From: fmtTime(w.From), To: fmtTime(w.To), Duration: fmtDur(w.Duration), Acks: strings.Join(acks, ", ")})
			}
		}
	}
	return v
}

// layoutShards adds a lane per shard below the nodes' lanes: the shard's
// master over time (by the timeline's rule, in its epoch's colour), the
// windows in which two or more nodes claimed it (red), the windows in
// which two masters acknowledged writes for it (a dark bar along its
// bottom) and its lost writes (a tick at each acknowledgement).
func layoutShards(tv *timelineView, r *run, multi []window, s scale) {
	tl := r.Timeline
	names := shardNames(tl)
	var groups []string
	for g := range names {
		groups = append(groups, g)
	}
	sort.SliceStable(groups, func(i, j int) bool { return nodeLess(names[groups[i]], names[groups[j]]) })
	if len(groups) == 0 {
		return
	}
	laneY := map[string]float64{}
	y := tv.LanesBot + laneGap
	for _, g := range groups {
		laneY[g] = y
		tv.Lanes = append(tv.Lanes, laneView{Name: names[g], Y: y, Mid: y + laneH/2, Title: "slots " + g})
		y += laneH + laneGap
	}
	tv.ShardsTop = laneY[groups[0]] - laneGap/2
	tv.LanesBot = y - laneGap
	tv.SumY = tv.LanesBot + laneGap
	tv.SumLabel = "masters"
	tv.AxisY = tv.SumY + sumH + 4
	tv.Height = tv.AxisY + axisH
	// The summary row, drawn for the nodes' lanes, moves below the shards.
	for i := range tv.None {
		tv.None[i].Y = tv.SumY
	}
	for _, g := range groups {
		l := tl.Group(g)
		for _, sp := range l.Leaders {
			x0, x1 := s.x(sp.From), s.x(sp.To)
			rect := segRect{X: x0, Y: laneY[g], W: math.Max(x1-x0, 0.3), H: laneH, Fill: termColor(sp.Term, "leader"), Role: "leader",
				Title: fmt.Sprintf("%s: %s master, epoch %d, %s–%s (%s)", names[g], sp.Node, sp.Term, fmtTime(sp.From), fmtTime(sp.To), fmtDur(sp.To-sp.From))}
			if label := fmt.Sprintf("%s E%d", sp.Node, sp.Term); float64(len(label))*6 < x1-x0 {
				rect.Label = label
			}
			tv.Segs = append(tv.Segs, rect)
		}
	}
	for _, w := range multi {
		ly, ok := laneY[w.Group]
		if !ok {
			continue
		}
		x0, x1 := s.x(w.From), s.x(w.To)
		label := fmt.Sprintf("%d masters %s", len(w.Nodes), fmtDur(w.Duration()))
		class := "multi"
		if w.SameTerm {
			class = "multi same"
		}
		tv.Multi = append(tv.Multi, band{X: x0, W: math.Max(x1-x0, 3), Y: ly - 2, H: laneH + 4, Class: class, Label: label,
			Title: fmt.Sprintf("%s: %s: %s (epochs %v), %s–%s", names[w.Group], label, strings.Join(w.Nodes, ", "), w.Terms, fmtTime(w.From), fmtTime(w.To))})
		tv.None = append(tv.None, band{X: x0, W: math.Max(x1-x0, 3), Y: tv.SumY, H: sumH, Class: "two", Title: "a shard with two or more masters"})
	}
	for i := range tv.Multi {
		room := plotW - marginR - tv.Multi[i].X
		if i+1 < len(tv.Multi) {
			room = tv.Multi[i+1].X - tv.Multi[i].X - 4
		}
		if float64(len(tv.Multi[i].Label)+2)*6.3 > room {
			tv.Multi[i].Label = ""
		}
	}
	if c := r.checker(checker.NameTwoWriters); c != nil {
		if d, ok := c.Details.(checker.TwoWritersDetails); ok {
			for _, w := range d.Windows {
				ly, ok := laneY[w.Group]
				if !ok {
					continue
				}
				x0, x1 := s.x(w.From), s.x(w.To)
				tv.Writers = append(tv.Writers, band{X: x0, W: math.Max(x1-x0, 2), Y: ly + laneH - 6, H: 6, Class: "writers",
					Title: fmt.Sprintf("%s: two masters acknowledged writes for %s, %s–%s (%s, %s and %s)", names[w.Group], fmtDur(w.Duration),
						fmtTime(w.From), fmtTime(w.To), fmtDur(w.Duration), w.Writers[0].Node, w.Writers[1].Node)})
			}
		}
	}
	if c := r.checker(checker.NameLostWrites); c != nil {
		if d, ok := c.Details.(checker.LostWritesDetails); ok {
			for _, l := range d.Lost {
				ly, ok := laneY[l.Group]
				if !ok {
					continue
				}
				tv.Lost = append(tv.Lost, band{X: s.x(l.Acked), Y: ly, H: 7, Class: "lost",
					Title: fmt.Sprintf("write of %d to %s acknowledged at %s, lost: %s", l.Value, l.Key, fmtTime(l.Acked), l.Cause)})
			}
		}
	}
}
