package checker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/history"
)

// FaultWindow is a span of the run during which one fault was in force,
// as the nemesis recorded it: from the completion of its "start-X" event
// to the completion of the next "stop-X" (or the end of the history, if
// it was never stopped).
type FaultWindow struct {
	// Family is X: "partition", "kill", ...
	Family string `json:"family"`
	// Start and End are times in nanoseconds since the run began.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Description is what the nemesis said it did ("n1 n2 | n3 n4 n5").
	Description string `json:"description,omitempty"`
	// Nodes are the nodes the fault was done to, as its start event names
	// them, sorted.
	Nodes []string `json:"nodes,omitempty"`
}

// FaultWindows reads the fault windows out of a history's nemesis events,
// in order of start. A start the nemesis reports as failed opens no
// window.
func FaultWindows(h history.History) []FaultWindow {
	var windows []FaultWindow
	open := make(map[string]int) // family -> index in windows
	end := int64(0)
	for i := range h {
		op := &h[i]
		end = max(end, op.Time)
		if op.Process != history.Nemesis || op.Type == history.Invoke {
			continue
		}
		if family, ok := strings.CutPrefix(op.F, "start-"); ok {
			if _, already := open[family]; already || op.Type == history.Fail {
				continue
			}
			open[family] = len(windows)
			windows = append(windows, FaultWindow{Family: family, Start: op.Time, End: -1,
				Description: describeValue(op.Value), Nodes: faultNodes(op.Value)})
			continue
		}
		if family, ok := strings.CutPrefix(op.F, "stop-"); ok {
			if j, isOpen := open[family]; isOpen {
				windows[j].End = op.Time
				delete(open, family)
			}
		}
	}
	for _, j := range open {
		windows[j].End = end
	}
	return windows
}

// familyColours are the fault families' colours, the same in every
// report.
var familyColours = map[string]string{
	"partition": "#f4a261",
	"kill":      "#8ecae6",
	"pause":     "#b5838d",
	"clock":     "#90be6d",
	"loss":      "#f9c74f",
	"failpoint": "#cdb4db",
	"power":     "#ff8fa3",
}

// FaultColours gives each fault family of windows its colour, so the
// report's plots and porcupine's visualizations shade a family alike,
// from one report to the next; a family without one gets grey.
func FaultColours(windows []FaultWindow) map[string]string {
	colours := make(map[string]string)
	for _, w := range windows {
		colours[w.Family] = FamilyColour(w.Family)
	}
	return colours
}

// FamilyColour is a fault family's colour.
func FamilyColour(family string) string {
	if c, ok := familyColours[family]; ok {
		return c
	}
	return "#a3a3a3"
}

// faultNodes reads the nodes a start event's value says the fault was done
// to. Each family's event names them under its own key (nemesis/*.go);
// the value is the nemesis's struct in a live run and a map once read
// back from history.jsonl, so it is read through its JSON form.
func faultNodes(v any) []string {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var ev struct {
		Killed []string `json:"killed"` // kill
		Paused []string `json:"paused"` // pause
		Cut    []string `json:"cut"`    // power
		Nodes  []string `json:"nodes"`  // failpoint
		// clock and loss: what was done to each node.
		Changes map[string]json.RawMessage `json:"changes"`
		// partition: each node and the nodes whose packets it drops.
		Grudge map[string][]string `json:"grudge"`
	}
	if json.Unmarshal(b, &ev) != nil {
		return nil
	}
	nodes := slices.Concat(ev.Killed, ev.Paused, ev.Cut, ev.Nodes)
	for n := range ev.Changes {
		nodes = append(nodes, n)
	}
	for n, dropped := range ev.Grudge {
		if len(dropped) > 0 {
			nodes = append(nodes, n)
			nodes = append(nodes, dropped...)
		}
	}
	slices.Sort(nodes)
	return slices.Compact(nodes)
}

func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
