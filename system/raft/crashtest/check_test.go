package crashtest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// checkLogs returns every way in which the values the nodes applied
// (logs, by node) break what the cluster promised: each acknowledged value
// (acked: value -> the node that acknowledged it) applied by every node,
// the same values in the same order everywhere, none twice, and marker,
// committed after everything else, last.
func checkLogs(logs map[uint64][]string, acked map[string]uint64, marker string) []string {
	var problems []string
	ids := slices.Sorted(maps.Keys(logs))
	for _, id := range ids {
		seen := make(map[string]int, len(logs[id]))
		for i, v := range logs[id] {
			if j, dup := seen[v]; dup {
				problems = append(problems, fmt.Sprintf("node %d applied %q twice, at positions %d and %d", id, v, j, i))
			}
			seen[v] = i
		}
		var lost []string
		for _, v := range slices.Sorted(maps.Keys(acked)) {
			if _, ok := seen[v]; !ok {
				lost = append(lost, fmt.Sprintf("%q (acked by node %d)", v, acked[v]))
			}
		}
		if len(lost) > 0 {
			problems = append(problems, fmt.Sprintf("node %d lost %d of %d acknowledged values: %v",
				id, len(lost), len(acked), lost[:min(len(lost), 5)]))
		}
		if n := len(logs[id]); n == 0 || logs[id][n-1] != marker {
			problems = append(problems, fmt.Sprintf("node %d did not apply the final marker %q last", id, marker))
		}
	}
	for _, id := range ids[1:] {
		a, b := logs[ids[0]], logs[id]
		if i := firstDifference(a, b); i < min(len(a), len(b)) {
			problems = append(problems, fmt.Sprintf("nodes %d and %d applied different values at position %d: %q and %q",
				ids[0], id, i, a[i], b[i]))
		} else if len(a) != len(b) {
			problems = append(problems, fmt.Sprintf("node %d applied %d values and node %d %d, after the same final marker",
				ids[0], len(a), id, len(b)))
		}
	}
	return problems
}

// firstDifference returns the first position at which a and b differ, or
// the length of the shorter one.
func firstDifference(a, b []string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// TestCheckLogs makes sure the crash test's verdict can fail.
func TestCheckLogs(t *testing.T) {
	acked := map[string]uint64{"a": 1, "b": 2}
	tests := []struct {
		name     string
		logs     map[uint64][]string
		problems int
	}{
		{"agreeing", map[uint64][]string{1: {"a", "x", "b", "m"}, 2: {"a", "x", "b", "m"}}, 0},
		{"lost ack", map[uint64][]string{1: {"a", "m"}, 2: {"a", "m"}}, 2},
		{"diverging", map[uint64][]string{1: {"a", "b", "x", "m"}, 2: {"a", "b", "y", "m"}}, 1},
		{"duplicate", map[uint64][]string{1: {"a", "b", "a", "m"}, 2: {"a", "b", "a", "m"}}, 2},
		{"one behind", map[uint64][]string{1: {"a", "b", "m"}, 2: {"a", "b"}}, 2},
		{"extra after marker", map[uint64][]string{1: {"a", "b", "m"}, 2: {"a", "b", "m", "z"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkLogs(tt.logs, acked, "m")
			if len(got) != tt.problems {
				t.Errorf("checkLogs found %d problems, want %d: %q", len(got), tt.problems, got)
			}
		})
	}
}
