package results

import (
	"math"
	"slices"
	"strconv"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// maxPlotPoints bounds the latency plot's size: beyond it, ok operations
// are sampled evenly (fail and info ones, the interesting few, are kept
// while they fit).
const maxPlotPoints = 20000

// Plot geometry, in SVG user units.
const (
	plotWidth  = 960
	plotHeight = 400
	plotLeft   = 70
	plotRight  = 20
	plotTop    = 15
	plotBottom = 45
	innerW     = plotWidth - plotLeft - plotRight
	innerH     = plotHeight - plotTop - plotBottom
)

// typeColours colour points by how their operation completed.
var typeColours = map[history.Type]string{
	history.OK:   "#3a86ff",
	history.Info: "#ffa400",
	history.Fail: "#e63946",
}

// shapes are the point markers of successive f's, as SVG path commands
// relative to the point.
var shapes = []struct{ name, path string }{
	{"circle", "m-2.4 0a2.4 2.4 0 1 0 4.8 0a2.4 2.4 0 1 0-4.8 0z"},
	{"square", "m-2.1-2.1h4.2v4.2h-4.2z"},
	{"triangle", "m0-2.8l2.6 4.5h-5.2z"},
	{"diamond", "m0-3l3 3l-3 3l-3-3z"},
	{"bar", "m-3-1h6v2h-6z"},
}

// latencyPlot is the latency-over-time scatter plot, ready for the
// template.
type latencyPlot struct {
	Width, Height, Left, Top, InnerW, InnerH, Bottom int
	Windows                                          []plotWindow
	Series                                           []plotSeries
	XTicks, YTicks                                   []plotTick
	Shapes                                           []legendShape
	Shown, Total                                     int
}

type plotWindow struct {
	X, W          float64
	Colour, Title string
}

type plotSeries struct {
	F      string
	Type   history.Type
	Colour string
	// D is an SVG path with one marker per point.
	D     string
	Count int
}

type plotTick struct {
	Pos   float64
	Label string
}

type legendShape struct{ F, Path string }

type plotPoint struct {
	x, y float64 // seconds since the start; latency in seconds
	f    string
	typ  history.Type
}

// newLatencyPlot plots each completed client operation at its invoke
// time against its latency (log scale), and shades the fault windows.
func newLatencyPlot(h history.History, windows []checker.FaultWindow) latencyPlot {
	p := latencyPlot{Width: plotWidth, Height: plotHeight, Left: plotLeft, Top: plotTop, InnerW: innerW, InnerH: innerH, Bottom: plotTop + innerH}
	var xPos func(seconds float64) float64
	xPos, p.XTicks = timeAxis(lastTime(h))

	var points []plotPoint
	minLat, maxLat := math.Inf(1), math.Inf(-1)
	for _, pair := range h.Pairs() {
		if pair.Completion == nil {
			continue
		}
		lat := math.Max(float64(pair.Completion.Time-pair.Invoke.Time)/1e9, 1e-6)
		minLat, maxLat = math.Min(minLat, lat), math.Max(maxLat, lat)
		points = append(points, plotPoint{x: float64(pair.Invoke.Time) / 1e9, y: lat, f: pair.Invoke.F, typ: pair.Completion.Type})
	}
	p.Total = len(points)
	points = samplePoints(points, maxPlotPoints)
	p.Shown = len(points)
	if len(points) == 0 {
		minLat, maxLat = 1e-3, 1
	}
	lo, hi := math.Floor(math.Log10(minLat)), math.Ceil(math.Log10(maxLat))
	if hi <= lo {
		hi = lo + 1
	}

	yPos := func(lat float64) float64 { return plotTop + innerH - (math.Log10(lat)-lo)/(hi-lo)*innerH }

	p.Windows = shadeWindows(windows, xPos)

	var funcs []string
	for _, pt := range points {
		if !slices.Contains(funcs, pt.f) {
			funcs = append(funcs, pt.f)
		}
	}
	slices.Sort(funcs)
	shapeOf := make(map[string]string)
	for i, f := range funcs {
		shapeOf[f] = shapes[i%len(shapes)].path
		p.Shapes = append(p.Shapes, legendShape{F: f, Path: shapes[i%len(shapes)].path})
	}
	type seriesKey struct {
		f   string
		typ history.Type
	}
	paths := make(map[seriesKey][]byte)
	counts := make(map[seriesKey]int)
	for _, pt := range points {
		k := seriesKey{pt.f, pt.typ}
		b := append(paths[k], 'M')
		b = strconv.AppendFloat(b, xPos(pt.x), 'f', 1, 64)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, yPos(pt.y), 'f', 1, 64)
		paths[k] = append(b, shapeOf[pt.f]...)
		counts[k]++
	}
	// ok first, so the rarer info and fail points are drawn on top.
	for _, t := range []history.Type{history.OK, history.Info, history.Fail} {
		for _, f := range funcs {
			k := seriesKey{f, t}
			if counts[k] > 0 {
				p.Series = append(p.Series, plotSeries{F: f, Type: t, Colour: typeColours[t], D: string(paths[k]), Count: counts[k]})
			}
		}
	}

	for e := lo; e <= hi; e++ {
		p.YTicks = append(p.YTicks, plotTick{Pos: yPos(math.Pow(10, e)), Label: latencyLabel(e)})
	}
	return p
}

// lastTime is the time of h's last event.
func lastTime(h history.History) int64 {
	var end int64
	for i := range h {
		end = max(end, h[i].Time)
	}
	return end
}

// timeAxis is the x axis of a plot of a run that lasted end nanoseconds:
// the x position of a time in seconds, and ticks at round numbers of
// seconds.
func timeAxis(end int64) (xPos func(seconds float64) float64, ticks []plotTick) {
	seconds := float64(end) / 1e9
	if seconds <= 0 {
		seconds = 1
	}
	xPos = func(s float64) float64 { return plotLeft + s/seconds*innerW }
	for _, s := range timeTicks(seconds) {
		ticks = append(ticks, plotTick{Pos: xPos(s), Label: strconv.FormatFloat(s, 'f', -1, 64) + "s"})
	}
	return xPos, ticks
}

// shadeWindows places the fault windows on a plot whose x position of a
// time in seconds is xPos, each in its family's colour.
func shadeWindows(windows []checker.FaultWindow, xPos func(seconds float64) float64) []plotWindow {
	colours := checker.FaultColours(windows)
	var shaded []plotWindow
	for _, w := range windows {
		x0, x1 := xPos(float64(w.Start)/1e9), xPos(float64(w.End)/1e9)
		title := w.Family
		if w.Description != "" {
			title += ": " + w.Description
		}
		shaded = append(shaded, plotWindow{X: x0, W: math.Max(x1-x0, 1), Colour: colours[w.Family], Title: title})
	}
	return shaded
}

// samplePoints keeps at most n points: all fail and info points if they
// fit in half of n, and ok points evenly spaced in the rest.
func samplePoints(points []plotPoint, n int) []plotPoint {
	if len(points) <= n {
		return points
	}
	var ok, other []plotPoint
	for _, pt := range points {
		if pt.typ == history.OK {
			ok = append(ok, pt)
		} else {
			other = append(other, pt)
		}
	}
	other = every(other, n/2)
	return append(other, every(ok, n-len(other))...)
}

// every keeps n of points, evenly spaced.
func every(points []plotPoint, n int) []plotPoint {
	if len(points) <= n {
		return points
	}
	kept := make([]plotPoint, 0, n)
	for i := range n {
		kept = append(kept, points[i*len(points)/n])
	}
	return kept
}

// timeTicks places about eight ticks at round numbers of seconds.
func timeTicks(seconds float64) []float64 {
	step := math.Pow(10, math.Floor(math.Log10(seconds/8)))
	for _, m := range []float64{1, 2, 5, 10} {
		if seconds/(step*m) <= 10 {
			step *= m
			break
		}
	}
	var ticks []float64
	for t := 0.0; t <= seconds*1.0001; t += step {
		ticks = append(ticks, math.Round(t/step)*step)
	}
	return ticks
}

// latencyLabel names the latency 10^e seconds.
func latencyLabel(e float64) string {
	switch {
	case e >= 0:
		return strconv.FormatFloat(math.Pow(10, e), 'f', -1, 64) + "s"
	case e >= -3:
		return strconv.FormatFloat(math.Pow(10, e+3), 'f', -1, 64) + "ms"
	default:
		return strconv.FormatFloat(math.Pow(10, e+6), 'f', -1, 64) + "µs"
	}
}
