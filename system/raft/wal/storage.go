package wal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/squall-chaos/squall/system/fault"
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
	lazy                 bool // Options.LoseUnsynced
	skipFsync            bool // Options.SkipFsync
	fps                  *fault.Failpoints

	// stopFlush ends SkipFsync's background flush, which closes flushDone
	// (both nil without SkipFsync); stopOnce guards the close.
	stopFlush, flushDone chan struct{}
	stopOnce             sync.Once

	// mem holds the log and the snapshot's metadata; the snapshot's
	// image stays in its file (see Snapshot).
	mem  *raft.MemoryStorage
	lock *os.File // flock on dir/LOCK, held until Close

	// snapMu is held while WriteSnapshot writes a snapshot file, and by
	// Close and Abandon: no file is written once the lock is released.
	snapMu sync.Mutex

	mu       sync.Mutex // serialises the writers below
	segments []segment  // live segment files, oldest first
	file     *file      // the last segment, open for appending
	size     int64      // bytes in file
	buf      []byte     // reused to encode one Save's records
	// unsynced is set while file holds records that a Save wrote and
	// did not sync (the SkipFsync bug).
	unsynced bool
	// written is the snapshot file WriteSnapshot last wrote (without its
	// data), for the CreateSnapshot that follows it.
	written *snapFile
	// err is set once a write may have left the files in a state the
	// memory does not reflect; every later write returns it. Reopening
	// recovers.
	err error
}

var (
	_ raft.DurableStorage = (*Storage)(nil)
	_ raft.SnapshotWriter = (*Storage)(nil)
)

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

func (s *Storage) Term(i uint64) (uint64, error) { return s.mem.Term(i) }
func (s *Storage) FirstIndex() (uint64, error)   { return s.mem.FirstIndex() }
func (s *Storage) LastIndex() (uint64, error)    { return s.mem.LastIndex() }

// Snapshot returns the latest snapshot, its image read from its file.
// Memory keeps only the metadata: the image is needed rarely (to restore
// the state machine at start, and for a follower the log has left
// behind), and keeping it would double a node's memory for its state.
func (s *Storage) Snapshot() (raft.Snapshot, error) {
	snap, err := s.mem.Snapshot()
	if err != nil || snap.IsEmpty() {
		return snap, err
	}
	// The current snapshot's file is removed only by a later snapshot,
	// which Save or CreateSnapshot installs on the caller's goroutine.
	sf, err := readSnapFile(filepath.Join(s.snapDir, snapName(snap.Meta.Index)))
	if err != nil {
		return raft.Snapshot{}, err
	}
	snap.Data = sf.snap.Data
	return snap, nil
}

// HardState returns the last hard state saved.
func (s *Storage) HardState() raft.HardState { return s.mem.HardState() }

// Save implements raft.DurableStorage. An installed snapshot goes to its
// own file first; then the snapshot, entry and hard state records are
// written with one write and made durable with one fsync, however many
// entries there are. The failpoints FailBeforeSync and FailAfterSync
// surround the fsync.
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
		if err := writeSnapFile(s.snapDir, sf, s.lazy); err != nil {
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
	if err := s.file.Write(buf); err != nil {
		return s.fail(fmt.Errorf("wal: write %s: %w", s.file.Name(), err))
	}
	if err := s.eval(FailBeforeSync); err != nil {
		return s.fail(err)
	}
	if s.skipFsync && !installing {
		// The planted bug: acknowledge now, sync in the background.
		s.unsynced = true
	} else if err := s.syncTail(); err != nil {
		return s.fail(err)
	}
	if err := s.eval(FailAfterSync); err != nil {
		return s.fail(err)
	}
	s.size += int64(len(buf))
	if len(ents) > 0 {
		seg := &s.segments[len(s.segments)-1]
		seg.maxIndex = max(seg.maxIndex, ents[len(ents)-1].Index)
	}

	if installing {
		snap = &raft.Snapshot{Meta: snap.Meta} // the image is in its file
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

// WriteSnapshot implements raft.SnapshotWriter: it writes and syncs the
// snapshot file, holding the log's lock only to read the terms the file
// records and to sync the log up to the snapshot. The CreateSnapshot at
// index that follows compacts memory and removes what the file replaces.
func (s *Storage) WriteSnapshot(index uint64, peers []uint64, data []byte, retain uint64) error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	sf, err := s.snapFileAt(index, peers, data, retain)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := writeSnapFile(s.snapDir, sf, s.lazy); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.fail(err)
	}
	sf.snap.Data = nil
	s.mu.Lock()
	s.written = sf
	s.mu.Unlock()
	return nil
}

// CreateSnapshot implements raft.DurableStorage. The snapshot file is
// written atomically before memory is compacted (unless WriteSnapshot
// wrote it); then the snapshots and segments nothing depends on any more
// are removed.
func (s *Storage) CreateSnapshot(index uint64, peers []uint64, data []byte, retain uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	sf := s.written
	s.written = nil
	if sf == nil || sf.snap.Meta.Index != index {
		var err error
		if sf, err = s.snapFileAt(index, peers, data, retain); err != nil {
			return err
		}
		if err := writeSnapFile(s.snapDir, sf, s.lazy); err != nil {
			return s.fail(err)
		}
	} else if cur, _ := s.mem.Snapshot(); index <= cur.Meta.Index {
		return raft.ErrSnapOutOfDate // a Save installed a newer one since
	}
	// Memory compacts to the point the file records (the log's first
	// index moves only here and at a Save's install, which made this
	// snapshot out of date).
	if err := s.mem.CreateSnapshot(index, peers, nil, index-sf.baseIndex); err != nil {
		return s.fail(fmt.Errorf("wal: wrote snapshot %d that memory refused: %w", index, err))
	}
	if err := purgeSnapFiles(s.snapDir); err != nil {
		return s.fail(err)
	}
	return s.removeSegmentsThrough(sf.baseIndex)
}

// snapFileAt is the snapshot file for data at index: the terms at the
// index and at the compaction point, retain entries behind it. Under the
// SkipFsync bug it first syncs the log, so that a crash never leaves a
// snapshot whose log the WAL lost. s.mu must be held.
func (s *Storage) snapFileAt(index uint64, peers []uint64, data []byte, retain uint64) (*snapFile, error) {
	if s.err != nil {
		return nil, s.err
	}
	if cur, _ := s.mem.Snapshot(); index <= cur.Meta.Index {
		return nil, raft.ErrSnapOutOfDate
	}
	term, err := s.mem.Term(index)
	if err != nil {
		return nil, fmt.Errorf("wal: snapshot at %d: %w", index, err)
	}
	// The compaction point: retain entries behind index, never before
	// what is compacted already.
	first, _ := s.mem.FirstIndex()
	base := first - 1
	if index > retain {
		base = max(base, index-retain)
	}
	baseTerm, err := s.mem.Term(base)
	if err != nil {
		return nil, fmt.Errorf("wal: snapshot at %d: term of compaction point %d: %w", index, base, err)
	}
	if s.unsynced {
		if err := s.syncTail(); err != nil {
			return nil, s.fail(err)
		}
	}
	return &snapFile{
		snap:      raft.Snapshot{Meta: raft.SnapshotMeta{Index: index, Term: term, Peers: peers}, Data: data},
		baseIndex: base,
		baseTerm:  baseTerm,
	}, nil
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

// rotate moves appending to a new segment. The old one is synced first
// if a Save left it unsynced (the SkipFsync bug): segments before the last
// are always wholly durable.
func (s *Storage) rotate() error {
	if s.unsynced {
		if err := s.syncTail(); err != nil {
			return err
		}
	}
	seq := s.segments[len(s.segments)-1].seq + 1
	f, size, err := createSegment(s.walDir, seq, s.peers, s.mem.HardState(), s.lazy)
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

// syncTail makes everything written to the last segment durable.
func (s *Storage) syncTail() error {
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", s.file.Name(), err)
	}
	s.unsynced = false
	return nil
}

// eval evaluates the failpoint name, if the storage has a registry.
func (s *Storage) eval(name string) error {
	if s.fps == nil {
		return nil
	}
	return s.fps.Eval(context.Background(), name)
}

// flushLoop is the background flush of the SkipFsync bug: every tick it
// syncs what Saves left unsynced.
func (s *Storage) flushLoop(ticker fault.Ticker) {
	defer close(s.flushDone)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C():
			s.flushUnsynced()
		case <-s.stopFlush:
			return
		}
	}
}

func (s *Storage) flushUnsynced() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || !s.unsynced {
		return
	}
	if err := s.syncTail(); err != nil {
		s.logger.Error("wal: background flush failed", "err", err)
		s.fail(err)
	}
}

// stopFlushing ends the background flush, if there is one, and waits for
// it. It must be called without s.mu held.
func (s *Storage) stopFlushing() {
	if s.stopFlush == nil {
		return
	}
	s.stopOnce.Do(func() { close(s.stopFlush) })
	<-s.flushDone
}

// fail makes err sticky: after a failed write the files may hold more or
// less than memory, and only a reopen can tell which.
func (s *Storage) fail(err error) error {
	s.err = fmt.Errorf("wal: refusing writes after an earlier failure: %w", err)
	return err
}

// Close implements raft.DurableStorage. What was written and not synced
// (with LoseUnsynced) is handed to the operating system unsynced, as a
// process that exits cleanly leaves its writes in the page cache; after a
// failed write it is dropped.
func (s *Storage) Close() error {
	s.stopFlushing()
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return errClosed
	}
	var err error
	if s.err != nil {
		s.file.abandon()
		err = s.lock.Close()
	} else {
		err = errors.Join(s.file.Close(), s.lock.Close())
	}
	s.file = nil
	s.err = errClosed
	if err != nil {
		return fmt.Errorf("wal: close %s: %w", s.dir, err)
	}
	return nil
}

// Abandon releases the storage as a process killed at this moment would:
// it writes and syncs nothing more and closes its files, which releases
// the directory's lock. With LoseUnsynced, what was written and not synced
// is lost, as a power cut loses it; without, it is in the operating
// system's page cache and survives, as it would a kill. It is for tests
// that simulate a crash without ending their process; Open recovers the
// directory afterwards as it would after a real crash. The Storage refuses
// everything once abandoned.
func (s *Storage) Abandon() {
	s.stopFlushing()
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return
	}
	s.file.abandon()
	s.lock.Close()
	s.file = nil
	s.err = errClosed
}
