package checker

import (
	"encoding/json"
	"fmt"
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
			windows = append(windows, FaultWindow{Family: family, Start: op.Time, End: -1, Description: describeValue(op.Value)})
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

// FaultColours gives each fault family of windows a colour, in order of
// first appearance, so the report's plot and porcupine's visualizations
// shade a family alike.
func FaultColours(windows []FaultWindow) map[string]string {
	palette := []string{"#f4a261", "#8ecae6", "#b5838d", "#90be6d", "#f9c74f", "#cdb4db", "#ff8fa3", "#a3a3a3"}
	colours := make(map[string]string)
	for _, w := range windows {
		if _, ok := colours[w.Family]; !ok {
			colours[w.Family] = palette[len(colours)%len(palette)]
		}
	}
	return colours
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
