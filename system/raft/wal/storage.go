package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/squall-chaos/squall/system/raft"
)

// Storage is a raft.DurableStorage kept in files under one directory. The
// read side is a raft.MemoryStorage holding every live entry; the files are
// the durable copy it is rebuilt from by Open.
type Storage struct {
	dir, walDir, snapDir string
	peers                []uint64 // as given to Open; repeated at the head of every segment
	segmentSize          int64
	logger               *slog.Logger

	mem  *raft.MemoryStorage
	lock *os.File // flock on dir/LOCK, held until Close

	mu       sync.Mutex // serialises the writers below
	segments []segment  // live segment files, oldest first
	file     *os.File   // the last segment, open for appending
	size     int64      // bytes in file
	buf      []byte     // reused to encode one Save's records
	// err is set once a write may have left the files in a state the
	// memory does not reflect; every later write returns it. Reopening
	// recovers.
	err error
}

var _ raft.DurableStorage = (*Storage)(nil)

var errClosed = errors.New("wal: storage is closed")

// bufRetainLimit bounds the encoding buffer kept between Saves, so one huge
// batch does not pin its memory for good.
const bufRetainLimit = 4 << 20

// The read side, raft.Storage, is served from memory.

func (s *Storage) InitialState() (raft.HardState, []uint64, error) {
	return s.mem.InitialState()
}

func (s *Storage) Entries(lo, hi, maxBytes uint64) ([]raft.Entry, error) {
	return s.mem.Entries(lo, hi, maxBytes)
}

func (s *Storage) Term(i uint64) (uint64, error)    { return s.mem.Term(i) }
func (s *Storage) FirstIndex() (uint64, error)      { return s.mem.FirstIndex() }
func (s *Storage) LastIndex() (uint64, error)       { return s.mem.LastIndex() }
func (s *Storage) Snapshot() (raft.Snapshot, error) { return s.mem.Snapshot() }

// HardState returns the last hard state saved.
func (s *Storage) HardState() raft.HardState { return s.mem.HardState() }

// Save implements raft.DurableStorage. An installed snapshot goes to its
// own file first; then the snapshot, entry and hard state records are
// written with one write and made durable with one fsync, however many
// entries there are.
func (s *Storage) Save(hs raft.HardState, ents []raft.Entry, snap *raft.Snapshot) error {
	installing := !snap.IsEmpty()
	if hs.IsEmpty() && len(ents) == 0 && !installing {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	// Check everything MemoryStorage would refuse before writing anything,
	// so that replay never meets a record memory did not accept.
	if installing {
		if cur, _ := s.mem.Snapshot(); snap.Meta.Index <= cur.Meta.Index {
			return raft.ErrSnapOutOfDate
		}
	}
	ents, err := s.entriesToAppend(ents, snap)
	if err != nil {
		return err
	}

	if installing {
		sf := &snapFile{snap: *snap, installed: true, baseIndex: snap.Meta.Index, baseTerm: snap.Meta.Term}
		if err := writeSnapFile(s.snapDir, sf); err != nil {
			return s.fail(err)
		}
	}
	if s.size >= s.segmentSize {
		if err := s.rotate(); err != nil {
			return s.fail(err)
		}
	}
	buf := s.buf[:0]
	if installing {
		buf = appendSnapshotRecord(buf, snap.Meta)
	}
	buf = appendEntriesRecords(buf, ents)
	if !hs.IsEmpty() {
		buf = appendHardStateRecord(buf, hs)
	}
	if cap(buf) <= bufRetainLimit {
		s.buf = buf
	}
	if _, err := s.file.Write(buf); err != nil {
		return s.fail(fmt.Errorf("wal: write %s: %w", s.file.Name(), err))
	}
	if err := s.file.Sync(); err != nil {
		return s.fail(fmt.Errorf("wal: sync %s: %w", s.file.Name(), err))
	}
	s.size += int64(len(buf))
	if len(ents) > 0 {
		seg := &s.segments[len(s.segments)-1]
		seg.maxIndex = max(seg.maxIndex, ents[len(ents)-1].Index)
	}

	if err := s.mem.Save(hs, ents, snap); err != nil {
		return s.fail(fmt.Errorf("wal: saved records that memory refused: %w", err))
	}
	if installing {
		// Only now is the older snapshot no longer needed to recover from.
		if err := purgeSnapFiles(s.snapDir); err != nil {
			return s.fail(err)
		}
		return s.removeSegmentsThrough(snap.Meta.Index)
	}
	return nil
}

// entriesToAppend checks ents as MemoryStorage.Append would after snap (if
// any) is installed, and returns the part it would keep.
func (s *Storage) entriesToAppend(ents []raft.Entry, snap *raft.Snapshot) ([]raft.Entry, error) {
	if len(ents) == 0 {
		return nil, nil
	}
	for i, e := range ents {
		if i > 0 && e.Index != ents[i-1].Index+1 {
			return nil, fmt.Errorf("wal: entry %d follows entry %d in one batch", e.Index, ents[i-1].Index)
		}
		if len(e.Data) > maxEntryData {
			return nil, fmt.Errorf("wal: entry %d holds %d bytes, more than the limit of %d", e.Index, len(e.Data), maxEntryData)
		}
	}
	first, _ := s.mem.FirstIndex()
	last, _ := s.mem.LastIndex()
	if !snap.IsEmpty() {
		first, last = snap.Meta.Index+1, snap.Meta.Index
	}
	if ents[len(ents)-1].Index < first {
		return nil, nil
	}
	if ents[0].Index < first {
		ents = ents[first-ents[0].Index:]
	}
	if ents[0].Index > last+1 {
		return nil, fmt.Errorf("wal: append at index %d leaves a gap after last index %d", ents[0].Index, last)
	}
	return ents, nil
}

// CreateSnapshot implements raft.DurableStorage. The snapshot file is
// written atomically before memory is compacted; then the snapshots and
// segments nothing depends on any more are removed.
func (s *Storage) CreateSnapshot(index uint64, peers []uint64, data []byte, retain uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if cur, _ := s.mem.Snapshot(); index <= cur.Meta.Index {
		return raft.ErrSnapOutOfDate
	}
	term, err := s.mem.Term(index)
	if err != nil {
		return fmt.Errorf("wal: snapshot at %d: %w", index, err)
	}
	// The compaction point MemoryStorage.CreateSnapshot will reach.
	first, _ := s.mem.FirstIndex()
	base := first - 1
	if index > retain {
		base = max(base, index-retain)
	}
	baseTerm, err := s.mem.Term(base)
	if err != nil {
		return fmt.Errorf("wal: snapshot at %d: term of compaction point %d: %w", index, base, err)
	}
	sf := &snapFile{
		snap:      raft.Snapshot{Meta: raft.SnapshotMeta{Index: index, Term: term, Peers: peers}, Data: data},
		baseIndex: base,
		baseTerm:  baseTerm,
	}
	if err := writeSnapFile(s.snapDir, sf); err != nil {
		return s.fail(err)
	}
	if err := s.mem.CreateSnapshot(index, peers, data, retain); err != nil {
		return s.fail(fmt.Errorf("wal: wrote snapshot %d that memory refused: %w", index, err))
	}
	if err := purgeSnapFiles(s.snapDir); err != nil {
		return s.fail(err)
	}
	return s.removeSegmentsThrough(base)
}

// removeSegmentsThrough removes, oldest first, the segments that wrote no
// entry after index, always keeping the last.
func (s *Storage) removeSegmentsThrough(index uint64) error {
	for len(s.segments) > 1 && s.segments[0].maxIndex <= index {
		path := filepath.Join(s.walDir, segmentName(s.segments[0].seq))
		if err := os.Remove(path); err != nil {
			return s.fail(fmt.Errorf("wal: remove segment: %w", err))
		}
		// Sync each removal so that a crash never leaves a gap in the
		// sequence, which Open would take for lost data.
		if err := syncDir(s.walDir); err != nil {
			return s.fail(err)
		}
		s.segments = s.segments[1:]
	}
	return nil
}

// rotate moves appending to a new segment.
func (s *Storage) rotate() error {
	seq := s.segments[len(s.segments)-1].seq + 1
	f, size, err := createSegment(s.walDir, seq, s.peers, s.mem.HardState())
	if err != nil {
		return err
	}
	old := s.file
	s.file, s.size = f, size
	s.segments = append(s.segments, segment{seq: seq})
	if err := old.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", old.Name(), err)
	}
	return nil
}

// fail makes err sticky: after a failed write the files may hold more or
// less than memory, and only a reopen can tell which.
func (s *Storage) fail(err error) error {
	s.err = fmt.Errorf("wal: refusing writes after an earlier failure: %w", err)
	return err
}

// Close implements raft.DurableStorage.
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return errClosed
	}
	err := errors.Join(s.file.Close(), s.lock.Close())
	s.file = nil
	s.err = errClosed
	if err != nil {
		return fmt.Errorf("wal: close %s: %w", s.dir, err)
	}
	return nil
}
