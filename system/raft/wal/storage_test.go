package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/system/raft"
)

var testPeers = []uint64{1, 2, 3}

func openTest(t *testing.T, dir string, opts Options) *Storage {
	t.Helper()
	s, err := OpenWithOptions(dir, testPeers, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t *testing.T, s *Storage, opts Options) *Storage {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return openTest(t, s.dir, opts)
}

// entries returns entries lo..hi of term, with data naming both.
func entries(lo, hi, term uint64) []raft.Entry {
	var ents []raft.Entry
	for i := lo; i <= hi; i++ {
		ents = append(ents, raft.Entry{Index: i, Term: term, Data: fmt.Appendf(nil, "entry %d term %d", i, term)})
	}
	return ents
}

// save applies one Save to both the storage under test and the model.
func save(t *testing.T, s *Storage, model *raft.MemoryStorage, hs raft.HardState, ents []raft.Entry, snap *raft.Snapshot) {
	t.Helper()
	if err := s.Save(hs, ents, snap); err != nil {
		t.Fatalf("save: %v", err)
	}
	if err := model.Save(hs, ents, snap); err != nil {
		t.Fatalf("model save: %v", err)
	}
}

func createSnapshot(t *testing.T, s *Storage, model *raft.MemoryStorage, index uint64, data string, retain uint64) {
	t.Helper()
	if err := s.CreateSnapshot(index, testPeers, []byte(data), retain); err != nil {
		t.Fatalf("create snapshot at %d: %v", index, err)
	}
	if err := model.CreateSnapshot(index, testPeers, []byte(data), retain); err != nil {
		t.Fatalf("model create snapshot at %d: %v", index, err)
	}
}

// checkSame fails unless got reads exactly like want.
func checkSame(t *testing.T, got, want raft.Storage) {
	t.Helper()
	if err := diff(got, want); err != nil {
		t.Fatal(err)
	}
}

func diff(got, want raft.Storage) error {
	ghs, gpeers, _ := got.InitialState()
	whs, wpeers, _ := want.InitialState()
	if ghs != whs || !slices.Equal(gpeers, wpeers) {
		return fmt.Errorf("initial state %+v %v, want %+v %v", ghs, gpeers, whs, wpeers)
	}
	gfirst, _ := got.FirstIndex()
	wfirst, _ := want.FirstIndex()
	glast, _ := got.LastIndex()
	wlast, _ := want.LastIndex()
	if gfirst != wfirst || glast != wlast {
		return fmt.Errorf("indexes [%d, %d], want [%d, %d]", gfirst, glast, wfirst, wlast)
	}
	for i := wfirst - 1; i <= wlast; i++ {
		gt, gerr := got.Term(i)
		wt, werr := want.Term(i)
		if gt != wt || (gerr == nil) != (werr == nil) {
			return fmt.Errorf("term(%d) = %d, %v; want %d, %v", i, gt, gerr, wt, werr)
		}
	}
	if wlast >= wfirst {
		gents, gerr := got.Entries(wfirst, wlast+1, 1<<62)
		wents, werr := want.Entries(wfirst, wlast+1, 1<<62)
		if gerr != nil || werr != nil {
			return fmt.Errorf("entries: %v, model: %v", gerr, werr)
		}
		for i := range wents {
			g, w := gents[i], wents[i]
			if g.Index != w.Index || g.Term != w.Term || !bytes.Equal(g.Data, w.Data) {
				return fmt.Errorf("entry %d = %+v, want %+v", w.Index, g, w)
			}
		}
	}
	gsnap, _ := got.Snapshot()
	wsnap, _ := want.Snapshot()
	if gsnap.Meta.Index != wsnap.Meta.Index || gsnap.Meta.Term != wsnap.Meta.Term ||
		!slices.Equal(gsnap.Meta.Peers, wsnap.Meta.Peers) || !bytes.Equal(gsnap.Data, wsnap.Data) {
		return fmt.Errorf("snapshot %+v, want %+v", gsnap, wsnap)
	}
	return nil
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "wal", "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	paths := segmentFiles(t, dir)
	return paths[len(paths)-1]
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestRoundTripAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node") // Open creates missing directories
	s := openTest(t, dir, Options{})
	model := raft.NewMemoryStorage(testPeers)
	checkSame(t, s, model)

	save(t, s, model, raft.HardState{Term: 1, Vote: 2}, entries(1, 10, 1), nil)
	save(t, s, model, raft.HardState{Term: 1, Vote: 2, Commit: 7}, entries(11, 11, 1), nil)
	save(t, s, model, raft.HardState{}, []raft.Entry{{Index: 12, Term: 1}}, nil) // empty entry
	checkSame(t, s, model)

	s = reopen(t, s, Options{})
	checkSame(t, s, model)
	save(t, s, model, raft.HardState{Term: 2, Vote: 3, Commit: 12}, entries(13, 20, 2), nil)
	s = reopen(t, s, Options{})
	checkSame(t, s, model)
}

func TestSaveOfNothingWritesNothing(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	path := lastSegment(t, s.dir)
	before := fileSize(t, path)
	if err := s.Save(raft.HardState{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if after := fileSize(t, path); after != before {
		t.Fatalf("empty Save grew the segment from %d to %d bytes", before, after)
	}
}

func TestOverwriteAcrossReopen(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1}, entries(1, 10, 1), nil)
	s = reopen(t, s, Options{})
	save(t, s, model, raft.HardState{Term: 2}, entries(6, 8, 2), nil) // a new leader cut the tail at 6
	s = reopen(t, s, Options{})
	checkSame(t, s, model)
	if last, _ := s.LastIndex(); last != 8 {
		t.Fatalf("last index %d after overwrite, want 8", last)
	}
	save(t, s, model, raft.HardState{Term: 3}, entries(9, 12, 3), nil)
	save(t, s, model, raft.HardState{Term: 4}, entries(3, 3, 4), nil)
	s = reopen(t, s, Options{})
	checkSame(t, s, model)
}

func TestHardStateLatestWins(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Vote: 1}, nil, nil)
	save(t, s, model, raft.HardState{Term: 2, Vote: 3}, entries(1, 3, 2), nil)
	save(t, s, model, raft.HardState{}, entries(4, 5, 2), nil) // no new hard state
	save(t, s, model, raft.HardState{Term: 2, Vote: 3, Commit: 5}, nil, nil)
	s = reopen(t, s, Options{})
	checkSame(t, s, model)
	if hs := s.HardState(); hs != (raft.HardState{Term: 2, Vote: 3, Commit: 5}) {
		t.Fatalf("hard state %+v after reopen", hs)
	}
}

func TestEntriesMustBeConsecutiveAndContiguous(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	if err := s.Save(raft.HardState{}, entries(2, 3, 1), nil); err == nil {
		t.Fatal("Save accepted entries starting at 2 in an empty log")
	}
	bad := []raft.Entry{{Index: 1, Term: 1}, {Index: 3, Term: 1}}
	if err := s.Save(raft.HardState{}, bad, nil); err == nil {
		t.Fatal("Save accepted entries 1 and 3 in one batch")
	}
	if last, _ := s.LastIndex(); last != 0 {
		t.Fatalf("refused Saves left last index %d", last)
	}
	// The refusals were not sticky.
	if err := s.Save(raft.HardState{}, entries(1, 1, 1), nil); err != nil {
		t.Fatal(err)
	}
}

func TestPeersMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	s.Close()
	_, err := Open(dir, []uint64{1, 2, 4})
	if err == nil {
		t.Fatal("reopened with other peers")
	}
	for _, want := range []string{dir, "[1 2 3]", "[1 2 4]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// Order does not matter.
	s2, err := Open(dir, []uint64{3, 1, 2})
	if err != nil {
		t.Fatalf("reopen with the same peers reordered: %v", err)
	}
	s2.Close()
}

func TestClosedStorageRefusesWrites(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	s.Close()
	if err := s.Save(raft.HardState{Term: 1}, nil, nil); err == nil {
		t.Fatal("Save after Close succeeded")
	}
}

func TestSegmentRotation(t *testing.T) {
	opts := Options{SegmentSize: 1 << 10}
	s := openTest(t, t.TempDir(), opts)
	model := raft.NewMemoryStorage(testPeers)
	for i := uint64(0); i < 40; i++ {
		save(t, s, model, raft.HardState{Term: 1 + i/10, Commit: i * 5}, entries(i*5+1, i*5+5, 1+i/10), nil)
	}
	if n := len(segmentFiles(t, s.dir)); n < 5 {
		t.Fatalf("%d segments after writing ~%d bytes with 1 KiB segments", n, 40*5*30)
	}
	s = reopen(t, s, opts)
	checkSame(t, s, model)
	// Overwrite across a segment boundary and reopen again.
	save(t, s, model, raft.HardState{Term: 9, Commit: 150}, entries(151, 160, 9), nil)
	s = reopen(t, s, opts)
	checkSame(t, s, model)
}

func TestCompactionRemovesSegments(t *testing.T) {
	opts := Options{SegmentSize: 1 << 10}
	s := openTest(t, t.TempDir(), opts)
	model := raft.NewMemoryStorage(testPeers)
	for i := uint64(0); i < 40; i++ {
		save(t, s, model, raft.HardState{Term: 1, Commit: i * 5}, entries(i*5+1, i*5+5, 1), nil)
	}
	before := segmentFiles(t, s.dir)
	createSnapshot(t, s, model, 150, "state at 150", 20)
	after := segmentFiles(t, s.dir)
	if len(after) >= len(before) {
		t.Fatalf("%d segments before compaction, %d after", len(before), len(after))
	}
	checkSame(t, s, model)
	if first, _ := s.FirstIndex(); first != 131 {
		t.Fatalf("first index %d, want 131 (snapshot at 150 keeping 20)", first)
	}
	s = reopen(t, s, opts)
	checkSame(t, s, model)

	// Compact again past everything but the last segment, then keep going.
	createSnapshot(t, s, model, 200, "state at 200", 0)
	if n := len(segmentFiles(t, s.dir)); n != 1 {
		t.Fatalf("%d segments after compacting the whole log, want 1", n)
	}
	save(t, s, model, raft.HardState{Term: 2, Commit: 205}, entries(201, 205, 2), nil)
	s = reopen(t, s, opts)
	checkSame(t, s, model)
	snaps, _ := filepath.Glob(filepath.Join(s.dir, "snap", "*"+snapSuffix))
	if len(snaps) != keepSnapshots {
		t.Fatalf("%d snapshot files kept, want %d: %v", len(snaps), keepSnapshots, snaps)
	}
}

func TestCreateSnapshotOutOfDate(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 10}, entries(1, 10, 1), nil)
	createSnapshot(t, s, model, 5, "five", 0)
	if err := s.CreateSnapshot(5, testPeers, nil, 0); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("second snapshot at 5: %v, want ErrSnapOutOfDate", err)
	}
	if err := s.CreateSnapshot(11, testPeers, nil, 0); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("snapshot beyond the log: %v, want ErrUnavailable", err)
	}
	old := &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 4, Term: 1, Peers: testPeers}}
	if err := s.Save(raft.HardState{}, nil, old); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("installing an older snapshot: %v, want ErrSnapOutOfDate", err)
	}
	checkSame(t, s, model)
}

func TestInstalledSnapshotAcrossReopen(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 5}, entries(1, 30, 1), nil)
	snap := &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 20, Term: 2, Peers: testPeers}, Data: []byte("from leader")}
	save(t, s, model, raft.HardState{Term: 2, Commit: 20}, entries(18, 22, 2), snap)
	s = reopen(t, s, Options{})
	checkSame(t, s, model)
	if last, _ := s.LastIndex(); last != 22 {
		t.Fatalf("last index %d, want 22: the snapshot discards the old tail", last)
	}
	// An installation alone, with nothing after it, also discards the tail.
	snap = &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 21, Term: 3, Peers: testPeers}, Data: []byte("again")}
	save(t, s, model, raft.HardState{}, nil, snap)
	s = reopen(t, s, Options{})
	checkSame(t, s, model)
}

func TestOpenRefusesDirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, []uint64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, []uint64{1, 2, 3}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second Open of %s: got %v, want an in-use error", dir, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, []uint64{1, 2, 3})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	s.Close()
}

// writeSnapshot is the node's way with a SnapshotWriter: the file first
// (off the node's goroutine), then CreateSnapshot without data.
func writeSnapshot(t *testing.T, s *Storage, model *raft.MemoryStorage, index uint64, data string, retain uint64) {
	t.Helper()
	if err := s.WriteSnapshot(index, testPeers, []byte(data), retain); err != nil {
		t.Fatalf("write snapshot at %d: %v", index, err)
	}
	if err := s.CreateSnapshot(index, testPeers, nil, retain); err != nil {
		t.Fatalf("create written snapshot at %d: %v", index, err)
	}
	if err := model.CreateSnapshot(index, testPeers, []byte(data), retain); err != nil {
		t.Fatalf("model create snapshot at %d: %v", index, err)
	}
}

// TestWrittenSnapshotCompactsLikeCreate: WriteSnapshot then CreateSnapshot
// without data leaves the storage as CreateSnapshot with data does, before
// and after a reopen.
func TestWrittenSnapshotCompactsLikeCreate(t *testing.T) {
	opts := Options{SegmentSize: 1 << 10}
	s := openTest(t, t.TempDir(), opts)
	model := raft.NewMemoryStorage(testPeers)
	for i := uint64(0); i < 40; i++ {
		save(t, s, model, raft.HardState{Term: 1, Commit: i * 5}, entries(i*5+1, i*5+5, 1), nil)
	}
	before := len(segmentFiles(t, s.dir))
	writeSnapshot(t, s, model, 150, "state at 150", 20)
	if after := len(segmentFiles(t, s.dir)); after >= before {
		t.Fatalf("%d segments before compaction, %d after", before, after)
	}
	checkSame(t, s, model)
	s = reopen(t, s, opts)
	checkSame(t, s, model)
	writeSnapshot(t, s, model, 200, "state at 200", 0)
	save(t, s, model, raft.HardState{Term: 2, Commit: 205}, entries(201, 205, 2), nil)
	s = reopen(t, s, opts)
	checkSame(t, s, model)
}

// TestWrittenSnapshotSurvivesCrashBeforeCompaction: a crash between the
// written file and the compaction recovers from the file.
func TestWrittenSnapshotSurvivesCrashBeforeCompaction(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("lose-unsynced=%v", lose), func(t *testing.T) {
			opts := Options{SegmentSize: 1 << 10, LoseUnsynced: lose}
			s := openTest(t, t.TempDir(), opts)
			model := raft.NewMemoryStorage(testPeers)
			save(t, s, model, raft.HardState{Term: 1, Commit: 100}, entries(1, 100, 1), nil)
			if err := s.WriteSnapshot(90, testPeers, []byte("state at 90"), 10); err != nil {
				t.Fatal(err)
			}
			if err := model.CreateSnapshot(90, testPeers, []byte("state at 90"), 10); err != nil {
				t.Fatal(err)
			}
			s.Abandon()
			checkSame(t, openTest(t, s.dir, opts), model)
		})
	}
}

// TestWrittenSnapshotOvertakenByInstall: a snapshot installed from the
// leader while one was written makes the written one out of date, before
// or after its file is written, and the installed one stands.
func TestWrittenSnapshotOvertakenByInstall(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 10}, entries(1, 12, 1), nil)
	if err := s.WriteSnapshot(10, testPeers, []byte("local at 10"), 0); err != nil {
		t.Fatal(err)
	}
	installed := &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 20, Term: 2, Peers: testPeers}, Data: []byte("leader's at 20")}
	save(t, s, model, raft.HardState{Term: 2, Commit: 20}, nil, installed)
	if err := s.CreateSnapshot(10, testPeers, nil, 0); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("compacting to the written snapshot after an install: %v, want ErrSnapOutOfDate", err)
	}
	if err := s.WriteSnapshot(15, testPeers, []byte("local at 15"), 0); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("writing a snapshot older than the installed one: %v, want ErrSnapOutOfDate", err)
	}
	checkSame(t, s, model)
	s = reopen(t, s, Options{})
	checkSame(t, s, model)
}

// TestSnapshotImageIsNotKeptInMemory: once written, a snapshot's image is
// read from its file, not held by the log's memory, whether created,
// installed or recovered.
func TestSnapshotImageIsNotKeptInMemory(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 10}, entries(1, 10, 1), nil)
	check := func(when string, want string) {
		t.Helper()
		if held, _ := s.mem.Snapshot(); held.Data != nil {
			t.Errorf("%s: memory holds the %d-byte image", when, len(held.Data))
		}
		snap, err := s.Snapshot()
		if err != nil || string(snap.Data) != want {
			t.Errorf("%s: Snapshot() = %q, %v; want %q", when, snap.Data, err, want)
		}
	}
	createSnapshot(t, s, model, 5, "created at 5", 0)
	check("created", "created at 5")
	writeSnapshot(t, s, model, 8, "written at 8", 0)
	check("written", "written at 8")
	save(t, s, model, raft.HardState{Term: 2, Commit: 20}, nil,
		&raft.Snapshot{Meta: raft.SnapshotMeta{Index: 20, Term: 2, Peers: testPeers}, Data: []byte("installed at 20")})
	check("installed", "installed at 20")
	s = reopen(t, s, Options{})
	check("recovered", "installed at 20")
	checkSame(t, s, model)
}

// TestWriteSnapshotBesideSaves: the file is written while the node goes on
// saving entries (run under -race).
func TestWriteSnapshotBesideSaves(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{SegmentSize: 1 << 12})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 100}, entries(1, 100, 1), nil)
	written := make(chan error, 1)
	go func() { written <- s.WriteSnapshot(100, testPeers, bytes.Repeat([]byte("x"), 1<<20), 10) }()
	for i := uint64(0); i < 50; i++ {
		save(t, s, model, raft.HardState{Term: 1, Commit: 100 + i*4}, entries(101+i*4, 104+i*4, 1), nil)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSnapshot(100, testPeers, nil, 10); err != nil {
		t.Fatal(err)
	}
	if err := model.CreateSnapshot(100, testPeers, bytes.Repeat([]byte("x"), 1<<20), 10); err != nil {
		t.Fatal(err)
	}
	checkSame(t, s, model)
	s = reopen(t, s, Options{SegmentSize: 1 << 12})
	checkSame(t, s, model)
}
