package raft

import (
	"fmt"
	"slices"
	"sync"
)

// MemoryStorage is a DurableStorage that keeps everything in memory. It is
// what the deterministic tests use, and what wal.Storage keeps its read side
// in. "Durable" here only means "survives as long as the value does": tests
// simulate a crash by building a new core on the same MemoryStorage.
//
// The log keeps the index and term of the last compacted entry (the
// snapshot's), so Term(FirstIndex()-1) needs no special case; it holds no
// pointer per entry (entryLog).
type MemoryStorage struct {
	mu    sync.Mutex
	hard  HardState
	snap  Snapshot
	log   entryLog
	peers []uint64
}

// NewMemoryStorage returns an empty storage for a cluster of peers.
func NewMemoryStorage(peers []uint64) *MemoryStorage {
	return &MemoryStorage{log: newEntryLog(0, 0), peers: slices.Clone(peers)}
}

func (ms *MemoryStorage) InitialState() (HardState, []uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hard, slices.Clone(ms.peers), nil
}

// HardState returns the last hard state saved.
func (ms *MemoryStorage) HardState() HardState {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hard
}

func (ms *MemoryStorage) SetHardState(hs HardState) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hard = hs
}

func (ms *MemoryStorage) offset() uint64    { return ms.log.offset() }
func (ms *MemoryStorage) lastIndex() uint64 { return ms.log.lastIndex() }

func (ms *MemoryStorage) Entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if lo <= ms.offset() {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, fmt.Errorf("entries [%d,%d) beyond last index %d: %w", lo, hi, ms.lastIndex(), ErrUnavailable)
	}
	return ms.log.entries(lo, hi, maxBytes), nil
}

func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i < ms.offset() {
		return 0, ErrCompacted
	}
	if i > ms.lastIndex() {
		return 0, ErrUnavailable
	}
	return ms.log.term(i), nil
}

func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.offset() + 1, nil
}

func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snap, nil
}

// ApplySnapshot replaces the whole log with snap.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if snap.Meta.Index <= ms.snap.Meta.Index {
		return ErrSnapOutOfDate
	}
	ms.snap = snap
	ms.peers = slices.Clone(snap.Meta.Peers)
	ms.log = newEntryLog(snap.Meta.Index, snap.Meta.Term)
	return nil
}

// Append adds ents after the entry preceding ents[0], discarding any held
// entries from ents[0].Index on (a leader overwrote them). Entries already
// compacted are skipped.
func (ms *MemoryStorage) Append(ents []Entry) error {
	if len(ents) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.offset() + 1
	if last := ents[len(ents)-1].Index; last < first {
		return nil
	}
	if ents[0].Index < first {
		ents = ents[first-ents[0].Index:]
	}
	if ents[0].Index > ms.lastIndex()+1 {
		return fmt.Errorf("append at index %d leaves a gap after last index %d", ents[0].Index, ms.lastIndex())
	}
	ms.log.append(ents)
	return nil
}

// Compact discards entries up to and including index; the dummy entry keeps
// index's term.
func (ms *MemoryStorage) Compact(index uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if index <= ms.offset() {
		return ErrCompacted
	}
	if index > ms.lastIndex() {
		return fmt.Errorf("compact to %d beyond last index %d: %w", index, ms.lastIndex(), ErrUnavailable)
	}
	ms.log.compact(index)
	return nil
}

// Save implements DurableStorage.
func (ms *MemoryStorage) Save(hs HardState, ents []Entry, snap *Snapshot) error {
	if !snap.IsEmpty() {
		if err := ms.ApplySnapshot(*snap); err != nil {
			return err
		}
	}
	if err := ms.Append(ents); err != nil {
		return err
	}
	if !hs.IsEmpty() {
		ms.SetHardState(hs)
	}
	return nil
}

// CreateSnapshot implements DurableStorage.
func (ms *MemoryStorage) CreateSnapshot(index uint64, peers []uint64, data []byte, retain uint64) error {
	ms.mu.Lock()
	if index <= ms.snap.Meta.Index {
		ms.mu.Unlock()
		return ErrSnapOutOfDate
	}
	if index > ms.lastIndex() {
		ms.mu.Unlock()
		return fmt.Errorf("snapshot at %d beyond last index %d: %w", index, ms.lastIndex(), ErrUnavailable)
	}
	term := ms.log.term(index)
	ms.snap = Snapshot{Meta: SnapshotMeta{Index: index, Term: term, Peers: slices.Clone(peers)}, Data: data}
	ms.mu.Unlock()
	if index <= retain {
		return nil
	}
	if err := ms.Compact(index - retain); err != nil && err != ErrCompacted {
		return err
	}
	return nil
}

// Close implements DurableStorage.
func (ms *MemoryStorage) Close() error { return nil }

// limitSize returns the longest prefix of ents whose data fits in maxBytes,
// but at least one entry.
func limitSize(ents []Entry, maxBytes uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := uint64(len(ents[0].Data))
	for i := 1; i < len(ents); i++ {
		size += uint64(len(ents[i].Data)) + entryOverhead
		if size > maxBytes {
			return ents[:i]
		}
	}
	return ents
}

// entryOverhead approximates the bytes an entry costs beyond its data, so
// that many empty entries still count toward a message's size limit.
const entryOverhead = 16
