package raft

import (
	"fmt"
	"slices"
	"testing"
)

// proposeN proposes n entries named prefix0, prefix1, ... at the leader,
// delivering after each.
func proposeN(t *testing.T, nw *network, lead uint64, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := nw.propose(lead, fmt.Sprintf("%s%d", prefix, i)); err != nil {
			t.Fatalf("propose %s%d at %d: %v\n%v", prefix, i, lead, err, nw)
		}
	}
}

func storageSnapIndex(nw *network, id uint64) uint64 {
	s, _ := nw.nodes[id].storage.Snapshot()
	return s.Meta.Index
}

func TestSnapshotCompactLeaderLog(t *testing.T) {
	nw := newNetwork(t, 11, 3, nil)
	l := nw.settle()
	proposeN(t, nw, l, "x", 20)
	applied := nw.nodes[l].appliedIndex
	term := nw.node(l).Status().Term

	nw.compact(l, 0)

	snap, _ := nw.nodes[l].storage.Snapshot()
	if snap.Meta.Index != applied || snap.Meta.Term != term {
		t.Fatalf("snapshot at %d/%d, want %d/%d", snap.Meta.Index, snap.Meta.Term, applied, term)
	}
	if got := decodeState(snap.Data); !slices.EqualFunc(got, nw.nodes[l].appliedData, slices.Equal) {
		t.Fatalf("snapshot holds %d entries of state, the leader applied %d", len(got), len(nw.nodes[l].appliedData))
	}
	if first := nw.node(l).log.firstIndex(); first != applied+1 {
		t.Fatalf("leader's first index %d after compaction, want %d", first, applied+1)
	}
	if st := nw.node(l).Status(); st.Commit != applied || st.Applied != applied || st.LastIndex != applied {
		t.Fatalf("leader status after compaction %+v, want commit, applied and last index %d", st, applied)
	}

	if err := nw.propose(l, "after"); err != nil {
		t.Fatal(err)
	}
	if got := nw.committedOn("after"); got != 3 {
		t.Fatalf("entry proposed after compaction applied on %d nodes, want 3\n%v", got, nw)
	}
	if got := nw.logOf(l); len(got) != 1 || string(got[0].Data) != "after" || got[0].Index != applied+1 {
		t.Fatalf("leader's log after compaction holds %v, want only 'after' at %d", got, applied+1)
	}
	// The followers were up to date: nobody needed the snapshot.
	if n := nw.sent[MsgSnap]; n != 0 {
		t.Fatalf("%d snapshots sent to up-to-date followers", n)
	}
	if d := nw.stateDiff(); d != "" {
		t.Fatal(d)
	}
}

func TestSnapshotInstallOnLaggingFollower(t *testing.T) {
	nw := newNetwork(t, 12, 3, nil)
	nw.reportSnap = true
	l := nw.settle()
	f := nw.othersThan(l)[0]

	nw.crash(f)
	// More proposals than MaxInflightMsgs: the leader's window to f fills
	// while f is down, and must reopen when f answers again.
	proposeN(t, nw, l, "x", 300)
	nw.compact(l, 5)
	snapIndex := storageSnapIndex(nw, l)

	nw.restart(f)
	if !nw.runUntil(100, func() bool { return nw.nodes[f].appliedIndex == nw.nodes[l].appliedIndex }) {
		t.Fatalf("follower %d did not catch up: applied %d, leader %d\n%v",
			f, nw.nodes[f].appliedIndex, nw.nodes[l].appliedIndex, nw)
	}
	if nw.sent[MsgSnap] == 0 {
		t.Fatal("follower caught up past a compacted log without a snapshot")
	}
	if got := storageSnapIndex(nw, f); got != snapIndex {
		t.Fatalf("follower %d holds snapshot %d, want the leader's %d", f, got, snapIndex)
	}
	if d := nw.stateDiff(); d != "" {
		t.Fatal(d)
	}

	// Later entries reach it by ordinary appends.
	snaps := nw.sent[MsgSnap]
	proposeN(t, nw, l, "y", 5)
	if got := nw.committedOn("y4"); got != 3 {
		t.Fatalf("entry after the snapshot applied on %d nodes, want 3\n%v", got, nw)
	}
	if nw.sent[MsgSnap] != snaps {
		t.Fatalf("%d more snapshots sent to a caught-up follower", nw.sent[MsgSnap]-snaps)
	}
	if d := nw.stateDiff(); d != "" {
		t.Fatal(d)
	}
	nw.checkInvariants()
}

func TestSnapshotInstallUnderLossDupReorder(t *testing.T) {
	nw := newNetwork(t, 13, 5, nil)
	nw.reportSnap = true
	nw.checkAll = true
	l := nw.settle()
	f := nw.othersThan(l)[0]

	nw.crash(f)
	proposeN(t, nw, l, "x", 60)
	// Every live node compacts, so whoever leads next must snapshot f too.
	for _, id := range nw.ids {
		if id != f {
			nw.compact(id, 0)
		}
	}

	nw.restart(f)
	nw.loss, nw.dup, nw.delay, nw.reorder = 0.2, 0.1, 0.1, true
	caughtUp := func() bool {
		ref := nw.nodes[l].appliedIndex
		for _, id := range nw.ids {
			ref = max(ref, nw.nodes[id].appliedIndex)
		}
		return nw.nodes[f].appliedIndex == ref && storageSnapIndex(nw, f) > 0
	}
	for i := 0; i < 30 && !caughtUp(); i++ {
		if lead := nw.leader(); lead != None {
			_ = nw.propose(lead, fmt.Sprintf("lossy%d", i))
		}
		nw.tickAll()
	}
	if nw.sent[MsgSnap] == 0 {
		t.Fatal("no snapshot sent to the follower behind the compacted logs")
	}

	nw.heal()
	lead := nw.settle()
	if err := nw.propose(lead, "final"); err != nil {
		t.Fatal(err)
	}
	if !nw.runUntil(100, func() bool { return nw.committedOn("final") == 5 }) {
		t.Fatalf("'final' applied on %d nodes after healing, want 5\n%v", nw.committedOn("final"), nw)
	}
	if got := storageSnapIndex(nw, f); got == 0 {
		t.Fatalf("follower %d converged without installing a snapshot", f)
	}
	if d := nw.stateDiff(); d != "" {
		t.Fatal(d)
	}
}

func TestSnapshotInstallAcrossCrashes(t *testing.T) {
	// One entry per MsgApp, so catching up takes many deliveries and a
	// crash can land in the middle of it.
	nw := newNetwork(t, 14, 3, func(c *Config) { c.MaxSizePerMsg = 1 })
	nw.reportSnap = true
	nw.checkAll = true
	l := nw.settle()
	fs := nw.othersThan(l)
	f, other := fs[0], fs[1]

	nw.crash(f)
	proposeN(t, nw, l, "x", 30)
	nw.compact(l, 0)
	snapIndex := storageSnapIndex(nw, l)
	proposeN(t, nw, l, "y", 20)

	// Crash f right after it installs the snapshot.
	nw.restart(f)
	if !nw.runUntil(50, func() bool { return storageSnapIndex(nw, f) == snapIndex }) {
		t.Fatalf("follower %d never installed the snapshot at %d\n%v", f, snapIndex, nw)
	}
	if got := nw.nodes[f].appliedIndex; got != snapIndex {
		t.Fatalf("follower %d applied %d right after installing snapshot %d", f, got, snapIndex)
	}
	nw.crash(f)

	// It restarts from the snapshot; crash it again halfway through the
	// entries after it.
	nw.restart(f)
	if got := nw.nodes[f].appliedIndex; got != snapIndex {
		t.Fatalf("follower %d restarted at applied %d, want its snapshot's %d", f, got, snapIndex)
	}
	mid := snapIndex + 5
	if !nw.runUntil(50, func() bool { return nw.nodes[f].appliedIndex >= mid }) {
		t.Fatalf("follower %d did not resume catching up after its snapshot\n%v", f, nw)
	}
	if got, want := nw.nodes[f].appliedIndex, nw.nodes[l].appliedIndex; got >= want {
		t.Fatalf("follower %d was not mid catch-up when crashed: applied %d, leader %d", f, got, want)
	}
	nw.crash(f)

	// The leader crashes too, after the other follower compacted: the
	// next leader must snapshot f again.
	nw.compact(other, 0)
	nw.crash(l)
	// The leader's appends in flight die with it, so f must get the rest
	// from the next leader.
	nw.queue = nil
	nw.restart(f)
	if !nw.runUntil(200, func() bool { return nw.leader() != None }) {
		t.Fatalf("no leader among %d and %d\n%v", f, other, nw)
	}
	if got := nw.leader(); got != other {
		t.Fatalf("node %d leads, want %d: %d's log lacks committed entries", got, other, f)
	}
	nw.restart(l)
	if err := nw.propose(other, "final"); err != nil {
		t.Fatal(err)
	}
	if !nw.runUntil(200, func() bool { return nw.committedOn("final") == 3 }) {
		t.Fatalf("'final' applied on %d nodes, want 3\n%v", nw.committedOn("final"), nw)
	}
	if got := storageSnapIndex(nw, f); got <= snapIndex {
		t.Fatalf("follower %d holds snapshot %d; want the new leader's, past %d", f, got, snapIndex)
	}
	if d := nw.stateDiff(); d != "" {
		t.Fatal(d)
	}
	nw.checkInvariants()
}
