package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/splitbrain/splitbrain/checker"
	"github.com/splitbrain/splitbrain/checker/linearizable"
	"github.com/splitbrain/splitbrain/history"
	"github.com/splitbrain/splitbrain/rundir"
	"github.com/splitbrain/splitbrain/timeline"
)

// view is everything report.html shows, computed up front so that the
// template only lays it out.
type view struct {
	Name             string
	Verdict          string
	Generated        string
	Started          string
	System           string // system / algo / bug, as far as known
	Ops              int
	Events           int
	Duration         string
	Checkers         []checkerView
	Warnings         []string // the checkers'
	Notes            []string // ours: missing or damaged files
	Settings         []kv
	Seed             string
	Command          string
	Replay           string
	Shrunk           *shrunkView // splitbrain shrink made this run
	Shards           *shardsView // a system that leads per shard (Redis Cluster)
	Timeline         *timelineView
	Multi            []windowRow
	Grouped          bool // the windows are of several groups (shards)
	Violating        int  // multi-leader windows within one term
	Leaderless       []windowRow
	LeaderlessSource string
	FailoverMax      string
	FailoverMedian   string
	Latency          *latencyPlot
	Errors           []errorRow
	ErrorKinds       int
	LatencyBands     []band
	Lin              *linView
	Faults           []faultRow
	FaultsHidden     int
	Logs             []logLink
}

type kv struct{ Key, Value string }

// shrunkView is "shrunk from N faults to M", linking the original run.
type shrunkView struct {
	From, To       int
	Original, Href string
	// Confirm is shrink.json's "failed again in k of n replays", "" when
	// the run has none.
	Confirm string
}

// shrunk describes a run splitbrain shrink made, or nil; the original's
// report is linked relative to this one, as the store keeps them side by
// side.
func shrunk(r *run) *shrunkView {
	if r.Settings.ShrunkFrom == "" {
		return nil
	}
	v := &shrunkView{From: r.Settings.FaultsBefore, To: -1, Original: filepath.Base(r.Settings.ShrunkFrom)}
	if b, err := os.ReadFile(filepath.Join(r.Dir, rundir.ScheduleFile)); err == nil {
		var s struct {
			Episodes []json.RawMessage `json:"episodes"`
		}
		if json.Unmarshal(b, &s) == nil {
			v.To = len(s.Episodes)
		}
	}
	if sh, err := rundir.ReadShrink(r.Dir); err == nil && sh.Confirmations > 0 {
		v.Confirm = fmt.Sprintf("%d of %d replays (the original failed again at its replay %d)", sh.Confirmed, sh.Confirmations, sh.OriginalReplays)
		if sm := sh.Smaller; sm != nil {
			v.Confirm += "; it was kept because " + sm.String()
		}
	}
	if here, err := filepath.Abs(r.Dir); err == nil {
		if rel, err := filepath.Rel(here, r.Settings.ShrunkFrom); err == nil {
			v.Href = filepath.ToSlash(filepath.Join(rel, rundir.ReportFile))
		}
	}
	return v
}

type checkerView struct {
	Name, Verdict, Summary string
	Details                string // indented JSON, possibly shortened
}

type windowRow struct {
	From, To, Duration string
	Nodes, Terms       string
	SameTerm, Open     bool
	Cause              string
	Group              string // its shard, when the run has several
}

type faultRow struct {
	Start, End, Duration string
	Kind, Label          string
}

// errorRow counts one error string clients saw.
type errorRow struct {
	Error      string
	Fail, Info int
	total      int
}

type logLink struct {
	Node, Href, Raw, Size string
}

type linView struct {
	Verdict, Summary string
	Keys             []linKey
}

type linKey struct {
	Key, Href, File string
	Missing         bool
	Verdict, Reason string
	VisError        string // why the checker wrote no visualization
	Ops             int    // operations it names as not linearizable
}

// timelineView is the leadership timeline, laid out.
type timelineView struct {
	Height    float64
	Lanes     []laneView
	Segs      []segRect
	Bands     []band  // cluster-wide faults, across all lanes
	NodeMarks []band  // kills, pauses and clock faults on one lane
	Points    []band  // faults with no duration
	Multi     []band  // two or more leaders
	None      []band  // no leader
	Writers   []band  // a shard's two-writer windows (a system that leads per shard)
	Lost      []band  // a shard's lost writes, at their acknowledgement
	ShardsTop float64 // where the shards' lanes begin; 0 without

	Leases   []segRect
	SumY     float64
	SumLabel string // the summary row's name
	AxisY    float64
	LanesTop float64
	LanesBot float64
	Ticks    []tick
}

type laneView struct {
	Name  string
	Href  string // the node's log page, when there is a log
	Title string // a shard lane's slots
	Y     float64
	Mid   float64
}

type segRect struct {
	X, Y, W, H float64
	Fill       string
	Label      string // the term, when there is room
	Title      string
	Role       string
}

// band is a shaded span: a fault, a window.
type band struct {
	X, W, Y, H float64
	Class      string
	Label      string
	Title      string
}

const (
	sumH            = 12.0
	maxFaultRows    = 500
	maxDetailsBytes = 64 << 10
	maxWindowRows   = 500
)

func buildView(r *run, now time.Time) *view {
	v := &view{
		Name:      r.Name,
		Verdict:   r.verdict(),
		Generated: now.UTC().Format(time.RFC3339),
		Ops:       len(r.Operations),
		Events:    len(r.Events),
		Duration:  fmtDur(r.End),
		Notes:     r.Notes,
	}
	if t, ok := r.started(); ok {
		v.Started = t.UTC().Format("2006-01-02 15:04:05 MST")
	} else {
		v.Started = r.Settings.Started
	}
	v.System = strings.Join(slices.DeleteFunc([]string{r.Settings.System, r.Settings.Algo, r.Settings.Bug},
		func(s string) bool { return s == "" }), " / ")
	if r.HasSettings {
		v.Seed = strconv.FormatInt(r.Settings.Seed, 10)
	}
	v.Command = r.Settings.Command
	v.Replay = r.Settings.Replay
	v.Shrunk = shrunk(r)
	for _, f := range r.Settings.Fields() {
		switch f.Name {
		case "command", "replay":
			continue // shown on their own, copyable
		}
		v.Settings = append(v.Settings, kv{f.Name, f.Value})
	}

	if r.Results != nil {
		v.Warnings = r.Results.Warnings
		for _, c := range r.Results.Checkers {
			v.Checkers = append(v.Checkers, checkerView{
				Name: c.Name, Verdict: orUnknown(string(c.Verdict)), Summary: c.Summary,
				Details: prettyJSON(c.Details, maxDetailsBytes),
			})
		}
	}

	s := scale{end: r.End}
	tl := r.Timeline
	faults, segs := tl.Faults, tl.Reigns
	multi := withCauses(tl.Contested, faults)
	none := withCauses(tl.Leaderless, faults)
	if len(tl.Groups) > 1 {
		multi, none = groupWindows(tl, faults)
	}
	if len(tl.Reports) > 0 {
		v.LeaderlessSource = "the run's timeline, as the liveness checker reads it"
	}
	for i := range none {
		if none[i].From == 0 && none[i].Cause == "" {
			none[i].Cause = "start of the run: the first election"
		}
	}
	for _, w := range multi {
		if w.SameTerm {
			v.Violating++
		}
	}
	v.Multi = windowRows(multi)
	v.Leaderless = windowRows(none)
	if len(tl.Groups) > 1 {
		v.Grouped = true
		names := shardNames(tl)
		for i := range v.Multi {
			v.Multi[i].Group = shardLabel(names, v.Multi[i].Group)
		}
		for i := range v.Leaderless {
			v.Leaderless[i].Group = shardLabel(names, v.Leaderless[i].Group)
		}
	}
	if len(none) > 0 {
		ds := make([]int64, len(none))
		for i, w := range none {
			ds[i] = w.Duration()
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		v.FailoverMax = fmtDur(ds[len(ds)-1])
		v.FailoverMedian = fmtDur(ds[len(ds)/2])
	}

	nodes := laneNodes(r, faults, segs)
	if len(nodes) > 0 && r.End > 0 {
		if len(tl.Groups) > 1 {
			v.Timeline = layoutTimeline(nodes, segs, faults, nil, none, s)
			layoutShards(v.Timeline, r, multi, s)
		} else {
			v.Timeline = layoutTimeline(nodes, segs, faults, multi, none, s)
		}
		layoutLeases(v.Timeline, r.Events, s)
		for i, l := range v.Timeline.Lanes {
			for _, lf := range r.Logs {
				if lf.Node == l.Name {
					v.Timeline.Lanes[i].Href = "./logs/" + url.PathEscape(lf.Node) + ".html"
				}
			}
		}
	}
	if len(r.Operations) > 0 {
		v.Latency = layoutLatency(r.Operations, s, pendingOps(r))
		for _, f := range faults {
			if f.Point {
				continue
			}
			x0, x1 := s.x(f.Start), s.x(f.End)
			v.LatencyBands = append(v.LatencyBands, band{
				X: x0, W: math.Max(x1-x0, 1), Y: latTop, H: v.Latency.TputBase - latTop,
				Class: "f-" + faultClass(f.Kind), Title: f.Label + " " + fmtTime(f.Start) + "–" + fmtTime(f.End),
			})
		}
	}
	v.Shards = shards(r, multi)
	v.Errors, v.ErrorKinds = clientErrors(r)
	v.Lin = linearizability(r)

	for i, f := range faults {
		if i == maxFaultRows {
			v.FaultsHidden = len(faults) - i
			break
		}
		row := faultRow{Start: fmtTime(f.Start), Kind: string(f.Kind), Label: f.Label}
		switch {
		case f.Point:
		case f.Open:
			row.End, row.Duration = "(still in force at the end)", fmtDur(f.End-f.Start)
		default:
			row.End, row.Duration = fmtTime(f.End), fmtDur(f.End-f.Start)
		}
		v.Faults = append(v.Faults, row)
	}

	for _, l := range r.Logs {
		base := "logs/" + url.PathEscape(l.Node)
		v.Logs = append(v.Logs, logLink{Node: l.Node, Href: "./" + base + ".html", Raw: "./" + base + ".log", Size: fmtBytes(l.Size)})
	}
	return v
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// prettyJSON renders a checker's details as indented JSON for reading,
// cut at limit bytes.
func prettyJSON(details any, limit int) string {
	if details == nil {
		return ""
	}
	b, err := json.MarshalIndent(details, "", "  ")
	if err != nil || string(b) == "null" {
		return ""
	}
	if len(b) > limit {
		return string(b[:limit]) + fmt.Sprintf("\n… (%d more bytes in %s)", len(b)-limit, rundir.ResultsFile)
	}
	return string(b)
}

func windowRows(ws []window) []windowRow {
	var out []windowRow
	for i, w := range ws {
		if i == maxWindowRows {
			break
		}
		terms := make([]string, len(w.Terms))
		for j, t := range w.Terms {
			terms[j] = strconv.FormatInt(t, 10)
		}
		out = append(out, windowRow{
			From: fmtTime(w.From), To: fmtTime(w.To), Duration: fmtDur(w.Duration()),
			Nodes: strings.Join(w.Nodes, ", "), Terms: strings.Join(terms, ", "),
			SameTerm: w.SameTerm, Open: w.Open, Cause: w.Cause, Group: w.Group,
		})
	}
	return out
}

// laneNodes orders the timeline's lanes: run.json's nodes first, as
// configured, then any other node that reported, was faulted or logged.
func laneNodes(r *run, faults []timeline.Fault, segs map[string][]timeline.Reign) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	var rest []string
	for n := range segs {
		rest = append(rest, n)
	}
	for _, f := range faults {
		rest = append(rest, f.Node)
	}
	for _, l := range r.Logs {
		rest = append(rest, l.Node)
	}
	sort.SliceStable(rest, func(i, j int) bool { return nodeLess(rest[i], rest[j]) })
	for _, n := range rest {
		add(n)
	}
	return out
}

// termColor gives each term its own hue (golden-angle steps, so
// neighbouring terms differ clearly) and each role a lightness: leaders
// dark, candidates middling, followers pale.
func termColor(term int64, role rundir.Role) string {
	h := math.Mod(float64(term)*137.508+200, 360)
	switch role {
	case rundir.RoleLeader:
		return fmt.Sprintf("hsl(%.0f,70%%,38%%)", h)
	case rundir.RoleCandidate, rundir.RoleLooking:
		return fmt.Sprintf("hsl(%.0f,65%%,68%%)", h)
	default:
		return fmt.Sprintf("hsl(%.0f,45%%,87%%)", h)
	}
}

func faultClass(kind rundir.Kind) string {
	switch kind {
	case rundir.KindPartition, rundir.KindKill, rundir.KindPause, rundir.KindClock, rundir.KindTakeover:
		return string(kind)
	}
	return "other"
}

func layoutTimeline(nodes []string, segs map[string][]timeline.Reign, faults []timeline.Fault, multi, none []window, s scale) *timelineView {
	tl := &timelineView{LanesTop: laneTop}
	laneY := map[string]float64{}
	for i, n := range nodes {
		y := laneTop + float64(i)*(laneH+laneGap)
		laneY[n] = y
		tl.Lanes = append(tl.Lanes, laneView{Name: n, Y: y, Mid: y + laneH/2})
	}
	tl.LanesBot = laneTop + float64(len(nodes))*(laneH+laneGap) - laneGap
	tl.SumY = tl.LanesBot + laneGap
	tl.SumLabel = "leaders"
	tl.AxisY = tl.SumY + sumH + 4
	tl.Height = tl.AxisY + axisH
	tl.Ticks = timeTicks(s)

	for _, n := range nodes {
		lastX := -1.0
		for _, sg := range segs[n] {
			x0, x1 := s.x(sg.From), s.x(sg.To)
			// Drop segments that would not be visible, keeping the file
			// small for a node that flaps; the one that follows covers it.
			if x1-x0 < 0.05 && math.Round(x0*10) == math.Round(lastX*10) {
				continue
			}
			lastX = x0
			r := segRect{
				X: x0, Y: laneY[n], W: math.Max(x1-x0, 0.3), H: laneH,
				Fill:  termColor(sg.Term, sg.Role),
				Role:  string(sg.Role),
				Title: fmt.Sprintf("%s %s, term %d, %s–%s (%s)%s", n, sg.Role, sg.Term, fmtTime(sg.From), fmtTime(sg.To), fmtDur(sg.To-sg.From), seenBy(sg.Source)),
			}
			if sg.Role == rundir.RoleLeader && x1-x0 > 18 {
				r.Label = "T" + strconv.FormatInt(sg.Term, 10)
			}
			tl.Segs = append(tl.Segs, r)
		}
	}

	for _, f := range faults {
		x0, x1 := s.x(f.Start), s.x(f.End)
		title := fmt.Sprintf("%s, %s–%s", f.Label, fmtTime(f.Start), fmtTime(f.End))
		if f.Point {
			title = fmt.Sprintf("%s at %s", f.Label, fmtTime(f.Start))
		}
		y, ok := laneY[f.Node]
		switch {
		case f.Point:
			b := band{X: x0, Y: laneTop - 4, H: tl.LanesBot - laneTop + 8, Class: "other", Label: string(f.Kind), Title: title}
			if ok {
				b.Y, b.H = y-2, laneH+4
			}
			tl.Points = append(tl.Points, b)
		case ok && f.Kind != rundir.KindPartition:
			b := band{X: x0, W: math.Max(x1-x0, 2), Y: y, H: laneH, Class: faultClass(f.Kind), Label: string(f.Kind), Title: title}
			if f.Kind != rundir.KindKill {
				// A paused or skewed node still claims its role, and that
				// claim is the point: mark only the lane's lower part.
				b.Y, b.H = y+laneH*0.6, laneH*0.4
			}
			tl.NodeMarks = append(tl.NodeMarks, b)
		default:
			tl.Bands = append(tl.Bands, band{X: x0, W: math.Max(x1-x0, 2), Y: laneTop - 4, H: tl.LanesBot - laneTop + 8,
				Class: "f-" + faultClass(f.Kind), Label: f.Label, Title: title})
		}
	}
	// A band's label may run past the band, up to the next label.
	for i := range tl.Bands {
		room := plotW - marginR - tl.Bands[i].X
		if i+1 < len(tl.Bands) {
			room = tl.Bands[i+1].X - tl.Bands[i].X - 8
		}
		tl.Bands[i].Label = shorten(tl.Bands[i].Label, int(room/5.8))
	}
	for _, w := range multi {
		x0, x1 := s.x(w.From), s.x(w.To)
		label := fmt.Sprintf("%d leaders %s", len(w.Nodes), fmtDur(w.Duration()))
		class := "multi"
		if w.SameTerm {
			class = "multi same"
		}
		tl.Multi = append(tl.Multi, band{
			X: x0, W: math.Max(x1-x0, 3), Y: laneTop - 6, H: tl.LanesBot - laneTop + 12, Class: class, Label: label,
			Title: fmt.Sprintf("%s: %s (terms %v), %s–%s", label, strings.Join(w.Nodes, ", "), w.Terms, fmtTime(w.From), fmtTime(w.To)),
		})
	}
	// Window labels share one row: each gets the room up to the next, and
	// is cut down to its length, or left to the tooltip, when that is short.
	for i := range tl.Multi {
		room := plotW - marginR - tl.Multi[i].X
		if i+1 < len(tl.Multi) {
			room = tl.Multi[i+1].X - tl.Multi[i].X - 4
		}
		l := tl.Multi[i].Label
		switch w := multi[i]; {
		case float64(len(l)+2)*6.3 <= room:
		case float64(len(fmtDur(w.Duration()))+2)*6.3 <= room:
			l = fmtDur(w.Duration())
		default:
			l = ""
		}
		tl.Multi[i].Label = l
	}
	for _, w := range none {
		x0, x1 := s.x(w.From), s.x(w.To)
		tl.None = append(tl.None, band{
			X: x0, W: math.Max(x1-x0, 1), Y: tl.SumY, H: sumH, Class: "none",
			Title: fmt.Sprintf("no leader for %s, %s–%s", fmtDur(w.Duration()), fmtTime(w.From), fmtTime(w.To)),
		})
	}
	for _, w := range multi {
		x0, x1 := s.x(w.From), s.x(w.To)
		tl.None = append(tl.None, band{X: x0, W: math.Max(x1-x0, 3), Y: tl.SumY, H: sumH, Class: "two", Title: "two or more leaders"})
	}
	return tl
}

// seenBy notes a reign read from the observer's polls (a node that
// reports its own roles is drawn from those).
func seenBy(src rundir.Source) string {
	if src == rundir.SourceObserver {
		return ", seen by the observer"
	}
	return ""
}

// shorten cuts s to n characters with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if n < 2 || len(r) <= n {
		if n < 2 {
			return ""
		}
		return s
	}
	return string(r[:n-1]) + "…"
}

func fmtBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// linearizability gathers the linearizable checker's verdict and, for each
// failing key, the Porcupine visualization it wrote. Files are looked up
// in the run directory by base name only, so a results.json cannot point
// a link outside it.
func linearizability(r *run) *linView {
	c := r.checker(checker.NameLinearizable)
	lv := &linView{}
	if c != nil {
		lv.Verdict, lv.Summary = orUnknown(string(c.Verdict)), c.Summary
		if d, ok := c.Details.(linearizable.Result); ok {
			for _, k := range d.Keys {
				lk := visLink(k.Key, k.Visualization)
				lk.Verdict, lk.Reason, lk.VisError, lk.Ops = string(k.Verdict), k.Reason, k.VisualizationError, len(k.Ops)
				lv.Keys = append(lv.Keys, lk)
			}
		}
	}
	if len(lv.Keys) == 0 {
		// No details to go by (or no results at all): show whatever
		// visualizations the checker left in the directory.
		matches, _ := filepath.Glob(filepath.Join(r.Dir, "linearizable-*.html"))
		sort.Strings(matches)
		for _, m := range matches {
			b := filepath.Base(m)
			key := strings.TrimSuffix(strings.TrimPrefix(b, "linearizable-"), ".html")
			lv.Keys = append(lv.Keys, linKey{Key: key, File: b, Href: "./" + url.PathEscape(b)})
		}
	}
	for i := range lv.Keys {
		k := &lv.Keys[i]
		if k.File == "" {
			k.Missing = true
			continue
		}
		if _, err := os.Stat(filepath.Join(r.Dir, k.File)); errors.Is(err, fs.ErrNotExist) {
			k.Missing, k.Href = true, ""
		}
	}
	if c == nil && len(lv.Keys) == 0 {
		return nil
	}
	return lv
}

// maxErrorRows bounds the client error table; errors are often unique
// strings (addresses, ids), so the rest are only counted.
const maxErrorRows = 12

// clientErrors counts the errors of failed and indeterminate operations,
// commonest first.
func clientErrors(r *run) ([]errorRow, int) {
	idx := map[string]int{}
	var rows []errorRow
	for _, o := range r.Operations {
		if o.Type == history.OK {
			continue
		}
		e := o.Error
		if e == "" {
			e = "(no error given)"
		}
		i, ok := idx[e]
		if !ok {
			i = len(rows)
			idx[e] = i
			rows = append(rows, errorRow{Error: shorten(e, 300)})
		}
		if o.Type == history.Fail {
			rows[i].Fail++
		} else {
			rows[i].Info++
		}
		rows[i].total++
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].total > rows[j].total })
	n := len(rows)
	if n > maxErrorRows {
		rows = rows[:maxErrorRows]
	}
	return rows, n
}

// visLink links a key to its visualization file, by base name only.
func visLink(key, vis string) linKey {
	base := filepath.Base(filepath.Clean("/" + vis))
	if vis == "" || base == "/" || base == "." {
		return linKey{Key: key}
	}
	return linKey{Key: key, File: base, Href: "./" + url.PathEscape(base)}
}

// layoutLeases draws each lease a node reported as a thin bar along the
// top of its lane, in its term's colour: overlapping bars of two nodes are
// what the lease-safety checker complains about.
func layoutLeases(tl *timelineView, events []history.Event, s scale) {
	laneY := map[string]float64{}
	for _, l := range tl.Lanes {
		laneY[l.Name] = l.Y
	}
	for _, ev := range events {
		y, ok := laneY[ev.Node]
		if ev.Event != rundir.EventLease || !ok {
			continue
		}
		from, until := max(ev.From, 0), min(ev.Until, s.end)
		if until < from {
			continue
		}
		x0, x1 := s.x(from), s.x(until)
		tl.Leases = append(tl.Leases, segRect{
			X: x0, Y: y - 3, W: math.Max(x1-x0, 0.5), H: 3, Fill: termColor(ev.Term, rundir.RoleLeader),
			Title: fmt.Sprintf("%s lease, term %d, %s–%s", ev.Node, ev.Term, fmtTime(ev.From), fmtTime(ev.Until)),
		})
	}
}

// pendingOps returns the invocation indexes of client operations that never
// completed: the harness stopped (or died) while they were open.
func pendingOps(r *run) map[int64]bool {
	open := map[history.Process]int64{}
	for _, op := range r.Ops {
		switch {
		case op.Process == history.Nemesis:
		case op.Type == history.Invoke:
			open[op.Process] = op.Index
		default:
			delete(open, op.Process)
		}
	}
	out := make(map[int64]bool, len(open))
	for _, i := range open {
		out[i] = true
	}
	return out
}
