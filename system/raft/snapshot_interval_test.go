package raft

import "testing"

// TestSnapshotIntervalStaggers: the entries between snapshots are drawn
// from [n, n + n/2], so replicas that apply the same entries snapshot at
// different indexes.
func TestSnapshotIntervalStaggers(t *testing.T) {
	for _, n := range []uint64{1, 2, 10, 10000} {
		seen := map[uint64]bool{}
		for range 1000 {
			got := snapshotInterval(n)
			if got < n || got > n+n/2 {
				t.Fatalf("snapshotInterval(%d) = %d, want within [%d, %d]", n, got, n, n+n/2)
			}
			seen[got] = true
		}
		if want := min(n/2+1, 100); uint64(len(seen)) < want {
			t.Errorf("snapshotInterval(%d) took %d distinct values in 1000 draws, want at least %d", n, len(seen), want)
		}
	}
}
