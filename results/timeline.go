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
// marks in their family's lane, a lane of the operations involved in
// anomalies, and one lane per node with the faults done to it and the
// anomalous operations it served: a reader sees which faults were in
// force, and where, when an anomaly happened.
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
	events := map[int64]*history.Op{}
	for i := range h {
		events[h[i].Index] = &h[i]
	}
	var anomalies []timelineMark
	served := map[string][]timelineMark{} // node -> anomalous operations it served
	for _, r := range results {
		for _, a := range r.Anomalies {
			for _, i := range a.Ops {
				op, ok := events[i]
				if !ok {
					continue
				}
				m := timelineMark{X: xPos(float64(op.Time) / 1e9), Title: fmt.Sprintf("%s: event %d", a.Kind, i)}
				anomalies = append(anomalies, m)
				if op.Node != "" {
					served[op.Node] = append(served[op.Node], m)
				}
			}
		}
	}
	if len(anomalies) > 0 {
		lanes = append(lanes, timelineLane{Label: "anomalies", Colour: "#d62828", Marks: thinMarks(anomalies)})
	}
	lanes = append(lanes, nodeLanes(windows, served, xPos)...)
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

// nodeLanes are the timeline's lanes of the nodes that a fault was done to
// or that served an anomalous operation, in natural order (n2 before
// n10): each fault's bar, in its family's colour, in the lane of every
// node it touched.
func nodeLanes(windows []checker.FaultWindow, served map[string][]timelineMark, xPos func(float64) float64) []timelineLane {
	byNode := map[string]*timelineLane{}
	lane := func(node string) *timelineLane {
		if byNode[node] == nil {
			byNode[node] = &timelineLane{Label: node}
		}
		return byNode[node]
	}
	for _, w := range windows {
		x0, x1 := xPos(float64(w.Start)/1e9), xPos(float64(w.End)/1e9)
		title := w.Family
		if w.Description != "" {
			title += ": " + w.Description
		}
		for _, n := range w.Nodes {
			lane(n).Bars = append(lane(n).Bars, plotWindow{X: x0, W: math.Max(x1-x0, 1), Colour: checker.FamilyColour(w.Family), Title: title})
		}
	}
	for n, marks := range served {
		lane(n).Marks = thinMarks(marks)
	}
	lanes := make([]timelineLane, 0, len(byNode))
	for _, l := range byNode {
		lanes = append(lanes, *l)
	}
	slices.SortFunc(lanes, func(a, b timelineLane) int { return naturalCompare(a.Label, b.Label) })
	return lanes
}

// thinMarks keeps, of many marks, maxTimelineMarks evenly spread: enough
// to see where they fall; a 1-hour run may have thousands.
func thinMarks(marks []timelineMark) []timelineMark {
	if len(marks) <= maxTimelineMarks {
		return marks
	}
	slices.SortFunc(marks, func(a, b timelineMark) int { return cmp.Compare(a.X, b.X) })
	kept := make([]timelineMark, 0, maxTimelineMarks)
	for i := range maxTimelineMarks {
		kept = append(kept, marks[i*len(marks)/maxTimelineMarks])
	}
	return kept
}

// maxTimelineMarks bounds the anomaly marks drawn in a lane.
const maxTimelineMarks = 500
