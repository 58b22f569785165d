package reports

import (
	"fmt"
	"math"
	"time"

	"github.com/splitbrain/splitbrain/history"
)

// Geometry of the SVG plots, in viewBox units. The SVGs scale to the page
// width; these only fix proportions and text size.
const (
	plotW      = 1200.0
	marginL    = 64.0 // room for lane names and axis labels
	marginR    = 16.0
	innerW     = plotW - marginL - marginR
	laneH      = 26.0
	laneGap    = 8.0
	laneTop    = 40.0 // room above the lanes for fault and window labels
	axisH      = 26.0
	latTop     = 12.0
	latH       = 260.0
	tputH      = 90.0
	cellPx     = 2.0  // latency points closer than this merge into one
	maxPoints  = 6000 // latency points drawn at most, whatever the run size
	tputBars   = 240
	minLatency = int64(time.Microsecond)
)

// scale maps run time onto the x axis.
type scale struct{ end int64 }

func (s scale) x(t int64) float64 {
	if s.end <= 0 {
		return marginL
	}
	return marginL + float64(t)/float64(s.end)*innerW
}

// tick is an axis label.
type tick struct {
	Pos   float64
	Label string
}

// timeTicks chooses round times for the x axis, about ten of them.
func timeTicks(s scale) []tick {
	if s.end <= 0 {
		return nil
	}
	step := niceStep(float64(s.end) / 10)
	var out []tick
	for t := 0.0; t <= float64(s.end)+step/2; t += step {
		if t > float64(s.end) {
			break
		}
		out = append(out, tick{Pos: s.x(int64(t)), Label: fmtAxisTime(int64(t), int64(step))})
	}
	return out
}

// niceStep rounds up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// fmtAxisTime labels a time on an axis whose ticks are step apart.
func fmtAxisTime(t, step int64) string {
	switch {
	case t == 0:
		return "0"
	case step >= int64(time.Second):
		return fmt.Sprintf("%gs", float64(t)/1e9)
	default:
		return fmt.Sprintf("%gs", math.Round(float64(t)/1e6)/1e3)
	}
}

// fmtTime is a time since the run started, for tables: seconds with
// millisecond precision.
func fmtTime(t int64) string { return fmt.Sprintf("%.3fs", float64(t)/1e9) }

// fmtDur is a duration for people: 312ms, 1.25s, 2m3s.
func fmtDur(d int64) string {
	switch {
	case d < int64(time.Millisecond):
		return time.Duration(d).Round(time.Microsecond).String()
	case d < int64(time.Second):
		return time.Duration(d).Round(100 * time.Microsecond).String()
	case d < int64(time.Minute):
		return time.Duration(d).Round(10 * time.Millisecond).String()
	default:
		return time.Duration(d).Round(time.Second).String()
	}
}

// point is one drawn latency point.
type point struct {
	X, Y float64
	Type history.Type
}

// latencyPlot is the client latency scatter, already laid out.
type latencyPlot struct {
	Points            []point
	OK, Fail, Info    int // exact counts, whatever was drawn
	Drawn, Total      int
	Pending           int // never completed, drawn at the top
	YTicks            []tick
	XTicks            []tick
	Height            float64
	Bars              []bar // throughput, stacked per bucket
	TputTop, TputBase float64
	TputMax           string // label of the throughput axis top
	BucketLabel       string
}

type bar struct {
	X, Y, W, H float64
	Type       history.Type
}

// layoutLatency places one point per operation, at its invocation time and
// its latency on a log scale, then thins them for large runs: first to one
// point per cellPx cell and outcome (which changes nothing visible), then,
// if still over maxPoints, by even striding, keeping failures and
// indeterminate outcomes in preference to oks because they are the rare
// points someone is looking for.
//
// An operation never completed (pending, by its invocation's index) has no
// latency: it is drawn at the top edge, as at least as slow as anything.
func layoutLatency(ops []history.Operation, s scale, pending map[int64]bool) *latencyPlot {
	lp := &latencyPlot{Height: latTop + latH + axisH + tputH + axisH, Pending: len(pending)}
	if len(ops) == 0 {
		return lp
	}
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, o := range ops {
		if pending[o.Index] {
			lp.Info++
			continue
		}
		l := max(o.Completed-o.Call, minLatency)
		lo, hi = min(lo, l), max(hi, l)
		switch o.Type {
		case history.OK:
			lp.OK++
		case history.Fail:
			lp.Fail++
		default:
			lp.Info++
		}
	}
	if lo > hi { // nothing completed
		lo, hi = minLatency, minLatency
	}
	lmin := math.Floor(math.Log10(float64(lo)))
	lmax := math.Ceil(math.Log10(float64(hi)))
	if lmax <= lmin {
		lmax = lmin + 1
	}
	y := func(l int64) float64 {
		f := (math.Log10(float64(max(l, minLatency))) - lmin) / (lmax - lmin)
		return latTop + latH - f*latH
	}
	for e := lmin; e <= lmax; e++ {
		lp.YTicks = append(lp.YTicks, tick{Pos: y(int64(math.Pow(10, e))), Label: fmtDur(int64(math.Pow(10, e)))})
	}
	lp.XTicks = timeTicks(s)

	cols := int(innerW/cellPx) + 2
	rows := int(latH/cellPx) + 2
	taken := make([]bool, cols*rows*3)
	var ok, bad []point
	for _, o := range ops {
		p := point{X: s.x(o.Call), Y: y(o.Completed - o.Call), Type: o.Type}
		if pending[o.Index] {
			p.Y = latTop
		}
		k := 0
		switch o.Type {
		case history.Fail:
			k = 1
		case history.OK:
		default:
			p.Type, k = history.Info, 2
		}
		c := int((p.X - marginL) / cellPx)
		r := int((p.Y - latTop) / cellPx)
		c, r = min(max(c, 0), cols-1), min(max(r, 0), rows-1)
		i := (r*cols+c)*3 + k
		if taken[i] {
			continue
		}
		taken[i] = true
		if k == 0 {
			ok = append(ok, p)
		} else {
			bad = append(bad, p)
		}
	}
	if len(ok)+len(bad) > maxPoints {
		badBudget := min(len(bad), maxPoints/2)
		bad = stride(bad, badBudget)
		ok = stride(ok, maxPoints-len(bad))
	}
	// oks first so that failures are drawn on top of them.
	lp.Points = append(ok, bad...)
	lp.Drawn, lp.Total = len(lp.Points), len(ops)

	layoutThroughput(lp, ops, s, pending)
	return lp
}

// stride keeps n of ps, evenly spread.
func stride(ps []point, n int) []point {
	if len(ps) <= n {
		return ps
	}
	out := make([]point, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, ps[i*len(ps)/n])
	}
	return out
}

// layoutThroughput counts completions per time bucket, stacked by outcome.
func layoutThroughput(lp *latencyPlot, ops []history.Operation, s scale, pending map[int64]bool) {
	if s.end <= 0 {
		return
	}
	// Buckets of a round width (100ms, 200ms, 500ms...), about tputBars
	// of them, so the rate reads plainly.
	width := niceStep(float64(s.end) / tputBars)
	n := int(float64(s.end)/width) + 1
	counts := make([][3]int, n)
	for _, o := range ops {
		if pending[o.Index] {
			continue
		}
		b := min(int(float64(o.Completed)/width), n-1)
		k := 0
		switch o.Type {
		case history.OK:
		case history.Fail:
			k = 1
		default:
			k = 2
		}
		counts[b][k]++
	}
	peak := 1
	for _, c := range counts {
		peak = max(peak, c[0]+c[1]+c[2])
	}
	lp.TputTop = latTop + latH + axisH
	lp.TputBase = lp.TputTop + tputH
	perSec := float64(peak) / (width / 1e9)
	lp.TputMax = fmt.Sprintf("%.0f/s", perSec)
	if perSec < 10 {
		lp.TputMax = fmt.Sprintf("%.2g/s", perSec)
	}
	lp.BucketLabel = fmtDur(int64(width))
	bw := width / float64(s.end) * innerW
	types := [3]history.Type{history.OK, history.Fail, history.Info}
	for i, c := range counts {
		base := lp.TputBase
		for k := range 3 {
			if c[k] == 0 {
				continue
			}
			h := float64(c[k]) / float64(peak) * tputH
			base -= h
			x := marginL + float64(i)*bw
			lp.Bars = append(lp.Bars, bar{X: x, Y: base, W: math.Min(bw, marginL+innerW-x), H: h, Type: types[k]})
		}
	}
}
