package raft

import (
	"errors"
	"slices"
	"testing"
)

// ents builds entries at consecutive indexes from first, with the given
// terms and 10 bytes of data each.
func ents(first uint64, terms ...uint64) []Entry {
	out := make([]Entry, len(terms))
	for i, t := range terms {
		out[i] = Entry{Index: first + uint64(i), Term: t, Data: []byte("0123456789")}
	}
	return out
}

// newTestLog returns a log whose storage holds stored (compacted up to and
// including compactTo, if nonzero) and whose unstable part holds unstable.
func newTestLog(t *testing.T, stored []Entry, compactTo uint64, unstable []Entry) *raftLog {
	t.Helper()
	ms := NewMemoryStorage([]uint64{1})
	if err := ms.Append(stored); err != nil {
		t.Fatalf("append %v: %v", stored, err)
	}
	if compactTo > 0 {
		if err := ms.Compact(compactTo); err != nil {
			t.Fatalf("compact to %d: %v", compactTo, err)
		}
	}
	l, err := newLog(ms, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	l.append(unstable...)
	return l
}

func termsOf(ents []Entry) []uint64 {
	out := make([]uint64, len(ents))
	for i, e := range ents {
		out[i] = e.Term
	}
	return out
}

func indexesOf(ents []Entry) []uint64 {
	out := make([]uint64, len(ents))
	for i, e := range ents {
		out[i] = e.Index
	}
	return out
}

func TestLogFindConflict(t *testing.T) {
	for _, tc := range []struct {
		name string
		ents []Entry
		want uint64
	}{
		{"empty", nil, 0},
		{"all match", ents(1, 1, 2, 3), 0},
		{"matching suffix", ents(2, 2, 3), 0},
		{"new entries after matching ones", ents(2, 2, 3, 4, 4), 4},
		{"only new entries", ents(4, 4, 4), 4},
		{"conflict at first", ents(1, 4, 4), 1},
		{"conflict in middle", ents(2, 2, 4, 4), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLog(t, ents(1, 1, 2, 3), 0, nil)
			if got := l.findConflict(tc.ents); got != tc.want {
				t.Fatalf("findConflict(%v) = %d, want %d", termsOf(tc.ents), got, tc.want)
			}
		})
	}
}

func TestLogFindConflictByTerm(t *testing.T) {
	// Terms at indexes 1..10; storage compacted through 3, so indexes 1
	// and 2 are gone and 3 survives only as the snapshot's term.
	l := newTestLog(t, ents(1, 1, 1, 2, 2, 2, 4, 4), 3, ents(8, 5, 5, 5))
	for _, tc := range []struct {
		index, term         uint64
		wantIndex, wantTerm uint64
	}{
		{10, 5, 10, 5}, // matches at once
		{10, 6, 10, 5}, // leader's term above all of ours
		{10, 4, 7, 4},  // skip our whole term 5
		{10, 3, 5, 2},  // skip terms 5 and 4
		{7, 3, 5, 2},
		{5, 1, 2, 0}, // walks into the compacted prefix: no better guess
		{0, 1, 0, 0},
	} {
		gotIndex, gotTerm := l.findConflictByTerm(tc.index, tc.term)
		if gotIndex != tc.wantIndex || gotTerm != tc.wantTerm {
			t.Errorf("findConflictByTerm(%d, %d) = (%d, %d), want (%d, %d)",
				tc.index, tc.term, gotIndex, gotTerm, tc.wantIndex, tc.wantTerm)
		}
	}
}

func TestLogMaybeAppend(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		index, logTerm, commit  uint64
		ents                    []Entry
		wantOK                  bool
		wantLast, wantCommitted uint64
		wantTerms               []uint64
	}{
		{name: "term mismatch at index", index: 3, logTerm: 2, commit: 3,
			wantOK: false, wantCommitted: 1, wantTerms: []uint64{1, 2, 3}},
		{name: "index beyond log", index: 4, logTerm: 3, commit: 3,
			wantOK: false, wantCommitted: 1, wantTerms: []uint64{1, 2, 3}},
		{name: "heartbeat-like, commit capped at last new", index: 3, logTerm: 3, commit: 9,
			wantOK: true, wantLast: 3, wantCommitted: 3, wantTerms: []uint64{1, 2, 3}},
		{name: "commit capped at the message's last entry", index: 1, logTerm: 1, commit: 3,
			wantOK: true, wantLast: 1, wantCommitted: 1, wantTerms: []uint64{1, 2, 3}},
		{name: "append after last", index: 3, logTerm: 3, commit: 4, ents: ents(4, 3, 3),
			wantOK: true, wantLast: 5, wantCommitted: 4, wantTerms: []uint64{1, 2, 3, 3, 3}},
		{name: "conflict truncates the tail", index: 1, logTerm: 1, commit: 2, ents: ents(2, 4),
			wantOK: true, wantLast: 2, wantCommitted: 2, wantTerms: []uint64{1, 4}},
		{name: "conflict after matching entries", index: 1, logTerm: 1, commit: 1, ents: ents(2, 2, 4, 4),
			wantOK: true, wantLast: 4, wantCommitted: 1, wantTerms: []uint64{1, 2, 4, 4}},
		// A stale, shorter MsgApp must not cut off entries after it.
		{name: "stale prefix keeps the tail", index: 1, logTerm: 1, commit: 2, ents: ents(2, 2),
			wantOK: true, wantLast: 2, wantCommitted: 2, wantTerms: []uint64{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLog(t, ents(1, 1, 2, 3), 0, nil)
			l.committed = 1
			last, ok := l.maybeAppend(tc.index, tc.logTerm, tc.commit, tc.ents)
			if ok != tc.wantOK || last != tc.wantLast {
				t.Fatalf("maybeAppend = (%d, %v), want (%d, %v)", last, ok, tc.wantLast, tc.wantOK)
			}
			if l.committed != tc.wantCommitted {
				t.Errorf("committed = %d, want %d", l.committed, tc.wantCommitted)
			}
			got, err := l.entries(1, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(termsOf(got), tc.wantTerms) {
				t.Errorf("log terms = %v, want %v", termsOf(got), tc.wantTerms)
			}
		})
	}
}

func TestLogMaybeAppendConflictWithCommittedPanics(t *testing.T) {
	l := newTestLog(t, ents(1, 1, 2, 3), 0, nil)
	l.committed = 2
	defer func() {
		if recover() == nil {
			t.Fatal("overwriting committed entry 2 did not panic")
		}
	}()
	l.maybeAppend(1, 1, 3, ents(2, 5))
}

func TestLogSliceAcrossStorageAndUnstable(t *testing.T) {
	// Storage holds 3..5 (1 and 2 compacted), unstable holds 6..8. Every
	// entry has 10 bytes of data; limitSize counts 16 more for each entry
	// after the first.
	l := newTestLog(t, ents(1, 1, 1, 1, 2, 2), 2, ents(6, 3, 3, 3))
	for _, tc := range []struct {
		lo, hi, maxBytes uint64
		want             []uint64
	}{
		{3, 9, 1 << 30, []uint64{3, 4, 5, 6, 7, 8}},
		{4, 6, 1 << 30, []uint64{4, 5}}, // storage only
		{6, 8, 1 << 30, []uint64{6, 7}}, // unstable only
		{5, 7, 1 << 30, []uint64{5, 6}}, // straddles the boundary
		{3, 9, 0, []uint64{3}},          // always at least one entry
		{3, 9, 36, []uint64{3, 4}},      // limit inside storage
		{5, 9, 36, []uint64{5, 6}},      // limit applied across the boundary
		{7, 7, 1 << 30, nil},
	} {
		got, err := l.slice(tc.lo, tc.hi, tc.maxBytes)
		if err != nil {
			t.Errorf("slice(%d, %d, %d): %v", tc.lo, tc.hi, tc.maxBytes, err)
			continue
		}
		if !slices.Equal(indexesOf(got), tc.want) {
			t.Errorf("slice(%d, %d, %d) = %v, want %v", tc.lo, tc.hi, tc.maxBytes, indexesOf(got), tc.want)
		}
	}
	if _, err := l.slice(2, 5, 1<<30); !errors.Is(err, ErrCompacted) {
		t.Errorf("slice below first index: err = %v, want ErrCompacted", err)
	}
	// The entries a slice returns must not alias storage's memory: an
	// append to them would overwrite the stored log.
	got, _ := l.slice(4, 7, 1<<30)
	_ = append(got[:1], Entry{Index: 99, Term: 99})
	if tm, _ := l.term(5); tm != 2 {
		t.Fatalf("appending to a slice changed the log: term(5) = %d, want 2", tm)
	}
}

func TestUnstableStableToSupersededEntries(t *testing.T) {
	u := unstable{offset: 5}
	u.truncateAndAppend(ents(5, 1, 1, 1))
	// A new leader overwrites 6 and 7 before the driver reports 5..7
	// (term 1) persisted.
	u.truncateAndAppend(ents(6, 2))
	if got := termsOf(u.entries); !slices.Equal(got, []uint64{1, 2}) || u.offset != 5 {
		t.Fatalf("after overwrite: offset %d terms %v, want offset 5 terms [1 2]", u.offset, got)
	}

	u.stableTo(7, 1) // 7 is gone
	u.stableTo(6, 1) // 6 now has term 2
	u.stableTo(4, 1) // below the unstable part
	if u.offset != 5 || len(u.entries) != 2 {
		t.Fatalf("stale stableTo changed unstable: offset %d, %d entries", u.offset, len(u.entries))
	}
	u.stableTo(5, 1)
	if u.offset != 6 || !slices.Equal(termsOf(u.entries), []uint64{2}) {
		t.Fatalf("stableTo(5, 1): offset %d terms %v, want offset 6 terms [2]", u.offset, termsOf(u.entries))
	}
	u.stableTo(6, 2)
	if u.offset != 7 || u.entries != nil {
		t.Fatalf("stableTo(6, 2): offset %d entries %v, want offset 7 and none", u.offset, u.entries)
	}

	// An append at or before offset replaces everything unstable.
	u.truncateAndAppend(ents(7, 3, 3))
	u.truncateAndAppend(ents(6, 4))
	if u.offset != 6 || !slices.Equal(termsOf(u.entries), []uint64{4}) {
		t.Fatalf("append before offset: offset %d terms %v, want offset 6 terms [4]", u.offset, termsOf(u.entries))
	}
}

func TestLogRestore(t *testing.T) {
	l := newTestLog(t, ents(1, 1, 1, 2, 2, 2), 0, ents(6, 3))
	l.committed, l.applied = 3, 2
	snap := Snapshot{Meta: SnapshotMeta{Index: 10, Term: 4, Peers: []uint64{1}}}
	l.restore(snap)

	if first, last := l.firstIndex(), l.lastIndex(); first != 11 || last != 10 {
		t.Fatalf("after restore: first %d last %d, want 11 and 10", first, last)
	}
	if l.committed != 10 || l.lastTerm() != 4 {
		t.Fatalf("after restore: committed %d last term %d, want 10 and 4", l.committed, l.lastTerm())
	}
	if _, err := l.term(9); !errors.Is(err, ErrCompacted) {
		t.Errorf("term(9) err = %v, want ErrCompacted", err)
	}
	if got, err := l.snapshot(); err != nil || got.Meta.Index != 10 || got.Meta.Term != 4 {
		t.Errorf("snapshot() = %+v, %v, want the restored one", got.Meta, err)
	}
	// Nothing is applied from the log until the snapshot is.
	if l.hasNextCommittedEntries() || l.nextCommittedEntries() != nil {
		t.Error("committed entries offered before the snapshot was applied")
	}
	// The leader's next entries follow the snapshot.
	if last, ok := l.maybeAppend(10, 4, 11, ents(11, 4)); !ok || last != 11 {
		t.Fatalf("append after snapshot = (%d, %v), want (11, true)", last, ok)
	}
	if l.committed != 11 {
		t.Fatalf("committed = %d, want 11", l.committed)
	}
}

func TestMemoryStorageAppend(t *testing.T) {
	ms := NewMemoryStorage([]uint64{1})
	mustAppend := func(e []Entry) {
		t.Helper()
		if err := ms.Append(e); err != nil {
			t.Fatalf("append %v: %v", indexesOf(e), err)
		}
	}
	mustAppend(ents(1, 1, 1, 1, 1, 1))

	// Overwrite from 3: 4 and 5 must go, even though the new run is shorter.
	mustAppend(ents(3, 2))
	if last, _ := ms.LastIndex(); last != 3 {
		t.Fatalf("after overwrite: last index %d, want 3", last)
	}
	if tm, _ := ms.Term(3); tm != 2 {
		t.Fatalf("after overwrite: term(3) = %d, want 2", tm)
	}
	if _, err := ms.Term(4); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("term(4) err = %v, want ErrUnavailable", err)
	}

	// Entries already compacted are skipped; the rest overwrite.
	if err := ms.Compact(2); err != nil {
		t.Fatal(err)
	}
	mustAppend(ents(1, 9, 9, 3, 3))
	got, err := ms.Entries(3, 5, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(termsOf(got), []uint64{3, 3}) {
		t.Fatalf("entries 3..4 terms %v, want [3 3]", termsOf(got))
	}
	if tm, _ := ms.Term(2); tm != 1 {
		t.Fatalf("compacted entry's term changed: term(2) = %d, want 1", tm)
	}
	mustAppend(ents(1, 9)) // wholly compacted: no-op

	if err := ms.Append(ents(7, 3)); err == nil {
		t.Fatal("append leaving a gap after last index 4 succeeded")
	}
}

func TestMemoryStorageCompact(t *testing.T) {
	ms := NewMemoryStorage([]uint64{1})
	if err := ms.Append(ents(1, 1, 1, 2, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if err := ms.Compact(3); err != nil {
		t.Fatal(err)
	}
	if first, _ := ms.FirstIndex(); first != 4 {
		t.Fatalf("first index %d, want 4", first)
	}
	if tm, err := ms.Term(3); err != nil || tm != 2 {
		t.Fatalf("term of the compaction point = %d, %v, want 2", tm, err)
	}
	if _, err := ms.Term(2); !errors.Is(err, ErrCompacted) {
		t.Errorf("term(2) err = %v, want ErrCompacted", err)
	}
	if _, err := ms.Entries(3, 5, 1<<30); !errors.Is(err, ErrCompacted) {
		t.Errorf("entries from 3 err = %v, want ErrCompacted", err)
	}
	if err := ms.Compact(3); !errors.Is(err, ErrCompacted) {
		t.Errorf("compacting again to 3: err = %v, want ErrCompacted", err)
	}
	if err := ms.Compact(6); !errors.Is(err, ErrUnavailable) {
		t.Errorf("compacting beyond the last index: err = %v, want ErrUnavailable", err)
	}
	if got, _ := ms.Entries(4, 6, 1<<30); !slices.Equal(indexesOf(got), []uint64{4, 5}) {
		t.Errorf("entries after compaction = %v, want [4 5]", indexesOf(got))
	}
}

func TestMemoryStorageCreateSnapshot(t *testing.T) {
	peers := []uint64{1, 2, 3}
	ms := NewMemoryStorage(peers)
	if err := ms.Append(ents(1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3)); err != nil {
		t.Fatal(err)
	}

	if err := ms.CreateSnapshot(8, peers, []byte("state@8"), 3); err != nil {
		t.Fatal(err)
	}
	snap, _ := ms.Snapshot()
	if snap.Meta.Index != 8 || snap.Meta.Term != 3 || string(snap.Data) != "state@8" || !slices.Equal(snap.Meta.Peers, peers) {
		t.Fatalf("snapshot %+v %q, want index 8 term 3 peers %v data state@8", snap.Meta, snap.Data, peers)
	}
	// Three entries before the snapshot stay for slow followers.
	if first, last := mustIndexes(t, ms); first != 6 || last != 10 {
		t.Fatalf("after snapshot at 8 retaining 3: [%d, %d], want [6, 10]", first, last)
	}

	if err := ms.CreateSnapshot(8, peers, nil, 0); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("second snapshot at 8: err = %v, want ErrSnapOutOfDate", err)
	}
	if err := ms.CreateSnapshot(11, peers, nil, 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("snapshot beyond last index: err = %v, want ErrUnavailable", err)
	}
	// Retaining more than is left compacts nothing (and is no error).
	if err := ms.CreateSnapshot(9, peers, []byte("state@9"), 5); err != nil {
		t.Fatal(err)
	}
	if first, _ := mustIndexes(t, ms); first != 6 {
		t.Fatalf("snapshot at 9 retaining 5 moved first index to %d, want 6", first)
	}
	if err := ms.CreateSnapshot(10, peers, []byte("state@10"), 0); err != nil {
		t.Fatal(err)
	}
	if first, last := mustIndexes(t, ms); first != 11 || last != 10 {
		t.Fatalf("after snapshot at 10 retaining 0: [%d, %d], want [11, 10]", first, last)
	}
	if tm, _ := ms.Term(10); tm != 3 {
		t.Fatalf("term(10) = %d, want 3", tm)
	}
}

func mustIndexes(t *testing.T, ms *MemoryStorage) (first, last uint64) {
	t.Helper()
	first, err := ms.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err = ms.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return first, last
}
