package checker_test

import (
	"slices"
	"testing"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/nemesis/netfault"
)

// TestFaultWindowsNameTheirNodes: fault windows name the nodes each family's start event names, from the
// nemesis's own event types, so a renamed field shows here; a value of
// another shape names none.
func TestFaultWindowsNameTheirNodes(t *testing.T) {
	for _, tc := range []struct {
		family string
		value  any
		want   []string
	}{
		{"kill", nemesis.KillEvent{Mode: "one", Killed: []string{"n3"}}, []string{"n3"}},
		{"pause", nemesis.PauseEvent{Mode: "minority", Paused: []string{"n4", "n2"}, Down: []string{"n5"}}, []string{"n2", "n4"}},
		{"power", nemesis.PowerEvent{Mode: "all", Cut: []string{"n1", "n2"}}, []string{"n1", "n2"}},
		{"failpoint", nemesis.FailpointEvent{Point: "kv/after-commit", Spec: "error", Nodes: []string{"n5"}}, []string{"n5"}},
		{"clock", nemesis.ClockEvent{Mode: "bump", Changes: map[string]nemesis.ClockChange{"n2": {}}}, []string{"n2"}},
		{"loss", nemesis.LossEvent{Mode: "drop", Changes: map[string]netfault.Change{"n1": {Family: "loss"}}}, []string{"n1"}},
		// Isolating n1 touches n1 and every node it drops; a node with an
		// empty grudge drops nothing.
		{"partition", nemesis.PartitionEvent{Mode: "one", Grudge: nemesis.Grudge{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}, "n4": {}}}, []string{"n1", "n2", "n3"}},
		{"partition", "n1 n2 | n3 n4 n5", nil},
	} {
		h := history.History{
			{Index: 0, Type: history.Invoke, Process: history.Nemesis, F: "start-" + tc.family},
			{Index: 1, Type: history.Info, Process: history.Nemesis, F: "start-" + tc.family, Value: tc.value, Time: 5},
		}
		windows := checker.FaultWindows(h)
		if len(windows) != 1 || !slices.Equal(windows[0].Nodes, tc.want) {
			t.Errorf("%s %+v: windows %+v, want one naming %v", tc.family, tc.value, windows, tc.want)
		}
	}
}
