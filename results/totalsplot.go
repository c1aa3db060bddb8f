package results

import (
	"math"
	"strconv"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// totalsPlot is the bank checker's plot: the total each read saw over
// time, against the total the bank holds, with the fault windows shaded.
type totalsPlot struct {
	Checker                                          string
	Width, Height, Left, Top, InnerW, InnerH, Bottom int
	Windows                                          []plotWindow
	// Good and Bad are SVG paths with one marker per read, for the reads
	// that saw the expected total and those that did not.
	Good, Bad           string
	GoodCount, BadCount int
	Expected            float64 // y of the expected total
	ExpectedLabel       string
	XTicks, YTicks      []plotTick
}

// newTotalsPlot plots res.Details["totals"] ([time ns, total] pairs) and
// res.Details["total"], as the bank checker made them or as read back
// from results.json; ok is false if res has no such series.
func newTotalsPlot(res checker.Result, h history.History, windows []checker.FaultWindow) (totalsPlot, bool) {
	points, ok := totalsPoints(res.Details["totals"])
	expected, hasTotal := history.Int(res.Details["total"])
	if !ok || !hasTotal {
		return totalsPlot{}, false
	}
	p := totalsPlot{Checker: res.Checker, Width: plotWidth, Height: plotHeight, Left: plotLeft, Top: plotTop, InnerW: innerW, InnerH: innerH, Bottom: plotTop + innerH}
	end := lastTime(h)
	lo, hi := expected, expected
	for _, pt := range points {
		end = max(end, pt[0])
		lo, hi = min(lo, pt[1]), max(hi, pt[1])
	}
	step := niceStep(float64(hi-lo) / 5)
	ylo := math.Floor(float64(lo)/step)*step - step
	yhi := math.Ceil(float64(hi)/step)*step + step

	var xPos func(seconds float64) float64
	xPos, p.XTicks = timeAxis(end)
	yPos := func(v float64) float64 { return plotTop + innerH - (v-ylo)/(yhi-ylo)*innerH }

	p.Windows = shadeWindows(windows, xPos)
	var good, bad []byte
	marker := shapes[0].path
	for _, pt := range points {
		d := &good
		if pt[1] != expected {
			d = &bad
			p.BadCount++
		} else {
			p.GoodCount++
		}
		*d = append(*d, 'M')
		*d = strconv.AppendFloat(*d, xPos(float64(pt[0])/1e9), 'f', 1, 64)
		*d = append(*d, ' ')
		*d = strconv.AppendFloat(*d, yPos(float64(pt[1])), 'f', 1, 64)
		*d = append(*d, marker...)
	}
	p.Good, p.Bad = string(good), string(bad)
	p.Expected, p.ExpectedLabel = yPos(float64(expected)), strconv.FormatInt(expected, 10)
	for v := ylo; v <= yhi+step/2; v += step {
		p.YTicks = append(p.YTicks, plotTick{Pos: yPos(v), Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return p, true
}

// totalsPoints reads a [[time, total], ...] series: [][2]int64 as the
// checker made it, or []any of two-number []any as decoded from JSON.
func totalsPoints(v any) ([][2]int64, bool) {
	switch s := v.(type) {
	case [][2]int64:
		return s, true
	case []any:
		points := make([][2]int64, 0, len(s))
		for _, e := range s {
			pair, _ := e.([]any)
			if len(pair) != 2 {
				return nil, false
			}
			t, ok1 := history.Int(pair[0])
			total, ok2 := history.Int(pair[1])
			if !ok1 || !ok2 {
				return nil, false
			}
			points = append(points, [2]int64{t, total})
		}
		return points, true
	}
	return nil, false
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten, at
// least 1 (totals are integers).
func niceStep(raw float64) float64 {
	if raw <= 1 {
		return 1
	}
	step := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step*m >= raw {
			return step * m
		}
	}
	return step * 10
}
