package wal

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/system/raft"
)

// copyDir copies the storage directory src to a new directory and returns it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tornFixture is a closed storage whose last two Saves wrote one entries
// record, ending at entsEnd, and then one hard state record, ending at hsEnd.
type tornFixture struct {
	dir                       string
	entsStart, entsEnd, hsEnd int64
	// states after the Saves before the last two, after the entries Save,
	// and after both
	before, afterEnts, afterAll *raft.MemoryStorage
}

func newTornFixture(t *testing.T) tornFixture {
	t.Helper()
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Vote: 1}, entries(1, 5, 1), nil)
	save(t, s, model, raft.HardState{Term: 1, Vote: 1, Commit: 5}, entries(6, 8, 1), nil)
	f := tornFixture{dir: s.dir}
	path := lastSegment(t, s.dir)
	f.before = cloneModel(model)
	f.entsStart = fileSize(t, path)
	save(t, s, model, raft.HardState{}, entries(9, 11, 1), nil)
	f.afterEnts = cloneModel(model)
	f.entsEnd = fileSize(t, path)
	save(t, s, model, raft.HardState{Term: 1, Vote: 1, Commit: 11}, nil, nil)
	f.afterAll = model
	f.hsEnd = fileSize(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// cloneModel copies a MemoryStorage that holds no snapshot.
func cloneModel(ms *raft.MemoryStorage) *raft.MemoryStorage {
	hs, peers, _ := ms.InitialState()
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	c := raft.NewMemoryStorage(peers)
	c.SetHardState(hs)
	if last >= first {
		ents, _ := ms.Entries(first, last+1, 1<<62)
		c.Append(ents)
	}
	return c
}

// checkRecoveredAndWritable checks that dir opens to want with its last
// segment cut back to size, and that the storage takes further Saves that
// survive another reopen.
func checkRecoveredAndWritable(t *testing.T, dir string, want *raft.MemoryStorage, size int64) {
	t.Helper()
	s, err := Open(dir, testPeers)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() { s.Close() }()
	if err := diff(s, want); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if got := fileSize(t, lastSegment(t, dir)); got != size {
		t.Fatalf("last segment is %d bytes after recovery, want %d", got, size)
	}
	model := cloneModel(want)
	last, _ := model.LastIndex()
	save(t, s, model, raft.HardState{Term: 2, Vote: 2, Commit: last}, entries(last+1, last+3, 2), nil)
	s.Close()
	if s, err = Open(dir, testPeers); err != nil {
		t.Fatalf("second open: %v", err)
	}
	if err := diff(s, model); err != nil {
		t.Fatalf("after writing past the repaired tail and reopening: %v", err)
	}
}

func TestTornTailEveryCut(t *testing.T) {
	f := newTornFixture(t)
	whole := readFile(t, lastSegment(t, f.dir))
	for cut := f.entsStart; cut < f.hsEnd; cut++ {
		dir := copyDir(t, f.dir)
		writeFile(t, lastSegment(t, dir), whole[:cut])
		want, size := f.before, f.entsStart
		if cut >= f.entsEnd {
			want, size = f.afterEnts, f.entsEnd
		}
		t.Run("", func(t *testing.T) {
			t.Logf("segment cut at byte %d of %d", cut, len(whole))
			checkRecoveredAndWritable(t, dir, want, size)
		})
	}
}

func TestTornTailGarbageThenZeros(t *testing.T) {
	f := newTornFixture(t)
	whole := readFile(t, lastSegment(t, f.dir))
	for off := f.entsEnd; off < f.hsEnd; off++ {
		damaged := append([]byte(nil), whole...)
		damaged[off] ^= 0x5a
		damaged = append(damaged, make([]byte, 512)...) // a filesystem may zero-fill what it never wrote
		dir := copyDir(t, f.dir)
		writeFile(t, lastSegment(t, dir), damaged)
		t.Run("", func(t *testing.T) {
			t.Logf("byte %d of the last record damaged", off-f.entsEnd)
			checkRecoveredAndWritable(t, dir, f.afterEnts, f.entsEnd)
		})
	}
}

func TestZeroFilledTailTruncated(t *testing.T) {
	f := newTornFixture(t)
	path := lastSegment(t, f.dir)
	writeFile(t, path, append(readFile(t, path), make([]byte, 4096)...))
	var log bytes.Buffer
	s, err := OpenWithOptions(f.dir, testPeers, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(log.String(), "torn tail") || !strings.Contains(log.String(), path) {
		t.Errorf("truncation not logged with the file's name; log:\n%s", log.String())
	}
	checkRecoveredAndWritable(t, f.dir, f.afterAll, f.hsEnd)
}

// checkRefused checks that opening dir fails with a CorruptError naming
// path and offset, and that no file changed.
func checkRefused(t *testing.T, dir, path string, offset int64) {
	t.Helper()
	before := snapshotTree(t, dir)
	_, err := Open(dir, testPeers)
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("open: %v, want a CorruptError", err)
	}
	if ce.Path != path || ce.Offset != offset {
		t.Fatalf("error %q names %s at %d, want %s at %d", err, ce.Path, ce.Offset, path, offset)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
	if after := snapshotTree(t, dir); !equalTrees(before, after) {
		t.Fatal("a refused Open modified the directory")
	}
}

func snapshotTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files[path] = readFile(t, path)
		}
		return err
	})
	return files
}

func equalTrees(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func TestCorruptRecordInMiddleRefused(t *testing.T) {
	f := newTornFixture(t)
	path := lastSegment(t, f.dir)
	whole := readFile(t, path)
	// The first entries record follows the cluster record.
	start := int64(headerSize + 8*len(testPeers))
	if got := recordStartBefore(t, whole, start); got != start {
		t.Fatalf("second record starts at %d, not %d", got, start)
	}
	for _, tc := range []struct {
		name string
		off  int64
	}{
		{"type", start + 4},
		{"crc", start + 5},
		{"payload", start + headerSize + 3},
		{"last payload byte before the final records", f.entsStart - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, f.dir)
			damaged := append([]byte(nil), whole...)
			damaged[tc.off] ^= 0x01
			p := lastSegment(t, dir)
			writeFile(t, p, damaged)
			checkRefused(t, dir, p, recordStartBefore(t, whole, tc.off))
		})
	}
}

// recordStartBefore returns the offset of the record holding byte off.
func recordStartBefore(t *testing.T, data []byte, off int64) int64 {
	t.Helper()
	rr := recordReader{data: data}
	for {
		rec, err := rr.next()
		if err != nil {
			t.Fatalf("no record holds byte %d: %v", off, err)
		}
		if int64(rr.off) > off {
			return rec.offset
		}
	}
}

func TestDamageInEarlierSegmentRefused(t *testing.T) {
	opts := Options{SegmentSize: 512}
	s := openTest(t, t.TempDir(), opts)
	model := raft.NewMemoryStorage(testPeers)
	for i := uint64(0); i < 20; i++ {
		save(t, s, model, raft.HardState{Term: 1, Commit: i * 3}, entries(i*3+1, i*3+3, 1), nil)
	}
	s.Close()
	segs := segmentFiles(t, s.dir)
	if len(segs) < 3 {
		t.Fatalf("only %d segments", len(segs))
	}
	first := readFile(t, segs[0])

	t.Run("truncated", func(t *testing.T) {
		dir := copyDir(t, s.dir)
		p := segmentFiles(t, dir)[0]
		writeFile(t, p, first[:len(first)-5])
		checkRefused(t, dir, p, recordStartBefore(t, first, int64(len(first)-5)))
	})
	t.Run("zero tail", func(t *testing.T) {
		dir := copyDir(t, s.dir)
		p := segmentFiles(t, dir)[0]
		writeFile(t, p, append(append([]byte(nil), first...), make([]byte, 64)...))
		checkRefused(t, dir, p, int64(len(first)))
	})
	t.Run("missing", func(t *testing.T) {
		dir := copyDir(t, s.dir)
		os.Remove(segmentFiles(t, dir)[1])
		if _, err := Open(dir, testPeers); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("open with a segment missing: %v", err)
		}
	})
}

func TestLeftoverTempFilesRemoved(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 10}, entries(1, 10, 1), nil)
	createSnapshot(t, s, model, 5, "five", 2)
	s.Close()
	leftovers := []string{
		filepath.Join(s.dir, "snap", snapName(9)+tmpSuffix),
		filepath.Join(s.dir, "wal", segmentName(2)+tmpSuffix),
	}
	for _, p := range leftovers {
		writeFile(t, p, []byte("half-written garbage"))
	}
	s = openTest(t, s.dir, Options{})
	checkSame(t, s, model)
	for _, p := range leftovers {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leftover %s still there: %v", p, err)
		}
	}
}

func TestCorruptSnapshotRefused(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 10}, entries(1, 10, 1), nil)
	createSnapshot(t, s, model, 4, "four", 0)
	createSnapshot(t, s, model, 8, "eight", 0)
	s.Close()
	path := filepath.Join(s.dir, "snap", snapName(8))
	b := readFile(t, path)
	b[len(b)-1] ^= 0xff
	writeFile(t, path, b)
	checkRefused(t, s.dir, path, -1)
}

func TestUnfinishedInstallDiscarded(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 10}, entries(1, 10, 1), nil)
	path := lastSegment(t, s.dir)
	walBefore := readFile(t, path)
	snap := &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 20, Term: 2, Peers: testPeers}, Data: []byte("leader's")}
	if err := s.Save(raft.HardState{Term: 2, Commit: 20}, nil, snap); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Crash after the snapshot file was written but before the WAL records
	// reached the disk.
	writeFile(t, path, walBefore)
	s = openTest(t, s.dir, Options{})
	checkSame(t, s, model)
	if _, err := os.Stat(filepath.Join(s.dir, "snap", snapName(20))); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unfinished snapshot file still there: %v", err)
	}
}

func TestSnapshotsWithoutWALRefused(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	model := raft.NewMemoryStorage(testPeers)
	save(t, s, model, raft.HardState{Term: 1, Commit: 3}, entries(1, 3, 1), nil)
	createSnapshot(t, s, model, 3, "three", 0)
	s.Close()
	if err := os.RemoveAll(filepath.Join(s.dir, "wal")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.dir, testPeers); err == nil {
		t.Fatal("opened a directory whose WAL is gone but whose snapshots remain")
	}
}
