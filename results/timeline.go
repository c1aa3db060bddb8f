package results

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// laneHeight is the height of one lane of the fault timeline.
const laneHeight = 22

// timeline shows, over the same time axis as the latency plot, one lane
// per fault family with its windows, the nemesis events that failed as
// marks in their family's lane, and a lane of the operations involved in
// anomalies: a reader sees which faults were in force when an anomaly
// happened.
type timeline struct {
	Width, Height, Left, Top, InnerW, Bottom int
	Lanes                                    []timelineLane
	XTicks                                   []plotTick
}

type timelineLane struct {
	Label, Colour string
	Y, H          int
	Bars          []plotWindow
	Marks         []timelineMark
}

type timelineMark struct {
	X     float64
	Title string
}

// newTimeline builds the timeline of h; ok is false if there is nothing
// to draw (no faults and no anomalies).
func newTimeline(h history.History, windows []checker.FaultWindow, results []checker.Result) (timeline, bool) {
	xPos, ticks := timeAxis(lastTime(h))
	var lanes []timelineLane
	lane := func(label string) *timelineLane {
		for i := range lanes {
			if lanes[i].Label == label {
				return &lanes[i]
			}
		}
		lanes = append(lanes, timelineLane{Label: label, Colour: checker.FamilyColour(label)})
		return &lanes[len(lanes)-1]
	}
	for _, w := range windows {
		l := lane(w.Family)
		title := w.Family
		if w.Description != "" {
			title += ": " + w.Description
		}
		x0, x1 := xPos(float64(w.Start)/1e9), xPos(float64(w.End)/1e9)
		l.Bars = append(l.Bars, plotWindow{X: x0, W: math.Max(x1-x0, 1), Colour: l.Colour, Title: title})
	}
	for _, op := range h {
		if op.Process != history.Nemesis || op.Error == "" || op.Type == history.Fail {
			continue
		}
		_, family, _ := strings.Cut(op.F, "-")
		lane(family).Marks = append(lane(family).Marks, timelineMark{X: xPos(float64(op.Time) / 1e9), Title: op.F + " failed: " + op.Error})
	}
	times := map[int64]int64{}
	for _, op := range h {
		times[op.Index] = op.Time
	}
	var anomalies []timelineMark
	for _, r := range results {
		for _, a := range r.Anomalies {
			for _, i := range a.Ops {
				if t, ok := times[i]; ok {
					anomalies = append(anomalies, timelineMark{X: xPos(float64(t) / 1e9), Title: fmt.Sprintf("%s: event %d", a.Kind, i)})
				}
			}
		}
	}
	// Enough marks to see where they fall; a 1-hour run may have
	// thousands.
	if len(anomalies) > maxTimelineMarks {
		slices.SortFunc(anomalies, func(a, b timelineMark) int { return cmp.Compare(a.X, b.X) })
		kept := make([]timelineMark, 0, maxTimelineMarks)
		for i := range maxTimelineMarks {
			kept = append(kept, anomalies[i*len(anomalies)/maxTimelineMarks])
		}
		anomalies = kept
	}
	if len(anomalies) > 0 {
		lanes = append(lanes, timelineLane{Label: "anomalies", Colour: "#d62828", Marks: anomalies})
	}
	if len(lanes) == 0 {
		return timeline{}, false
	}
	t := timeline{Width: plotWidth, Left: plotLeft, Top: 5, InnerW: innerW, XTicks: ticks}
	for i := range lanes {
		lanes[i].Y, lanes[i].H = t.Top+i*laneHeight+3, laneHeight-6
	}
	t.Lanes = lanes
	t.Bottom = t.Top + len(lanes)*laneHeight
	t.Height = t.Bottom + 25
	return t, true
}

// maxTimelineMarks bounds the anomaly marks drawn.
const maxTimelineMarks = 500
