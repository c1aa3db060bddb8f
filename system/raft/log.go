package raft

import (
	"errors"
	"fmt"
)

// raftLog is the core's view of the log: the persisted part in Storage and,
// after it, the unstable part the driver has not yet persisted. Only the
// core's goroutine touches it.
type raftLog struct {
	storage  Storage
	unstable unstable

	// committed is the highest index known to be stored on a quorum.
	committed uint64
	// applied is the highest index handed to the driver for applying.
	applied uint64

	maxApplyBytes uint64
}

func newLog(storage Storage, maxApplyBytes uint64) (*raftLog, error) {
	first, err := storage.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("raft: read first index: %w", err)
	}
	last, err := storage.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("raft: read last index: %w", err)
	}
	return &raftLog{
		storage:       storage,
		unstable:      unstable{offset: last + 1},
		committed:     first - 1,
		applied:       first - 1,
		maxApplyBytes: maxApplyBytes,
	}, nil
}

func (l *raftLog) firstIndex() uint64 {
	if s := l.unstable.snapshot; s != nil {
		return s.Meta.Index + 1
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(err) // storage contract: FirstIndex does not fail once opened
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if n := len(l.unstable.entries); n > 0 {
		return l.unstable.offset + uint64(n) - 1
	}
	if s := l.unstable.snapshot; s != nil {
		return s.Meta.Index
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(err)
	}
	return i
}

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: term of last index: %v", err))
	}
	return t
}

// term returns the term of entry i, or an error if i is compacted or beyond
// the log.
func (l *raftLog) term(i uint64) (uint64, error) {
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	if t, ok := l.unstable.term(i); ok {
		return t, nil
	}
	t, err := l.storage.Term(i)
	if err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return t, err
	}
	panic(err)
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	return err == nil && t == term
}

// maybeAppend appends ents from a leader's MsgApp if the log matches at
// (index, logTerm), and advances commit. It returns the last index the
// message covered.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []Entry) (uint64, bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastNew := index + uint64(len(ents))
	if ci := l.findConflict(ents); ci != 0 {
		if ci <= l.committed {
			panic(fmt.Sprintf("raft: entry %d conflicts with committed entry (committed %d)", ci, l.committed))
		}
		l.append(ents[ci-(index+1):]...)
	}
	l.commitTo(min(committed, lastNew))
	return lastNew, true
}

// findConflict returns the index of the first entry of ents that is not
// already in the log with the same term, or 0 if all are.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, and that term. Leader and follower both use it to skip a whole
// divergent term per round trip (fast backtracking, Raft thesis 5.3).
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0 // compacted or missing: no better guess
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

func (l *raftLog) append(ents ...Entry) {
	if len(ents) == 0 {
		return
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("raft: append after %d is below committed %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
}

// entries returns entries from i on, at most maxBytes of them.
func (l *raftLog) entries(i, maxBytes uint64) ([]Entry, error) {
	if i > l.lastIndex() {
		return nil, nil
	}
	return l.slice(i, l.lastIndex()+1, maxBytes)
}

// slice returns entries [lo, hi), reading the persisted part from storage
// and the rest from unstable.
func (l *raftLog) slice(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("raft: slice [%d,%d) beyond last index %d", lo, hi, l.lastIndex()))
	}
	if lo == hi {
		return nil, nil
	}
	var ents []Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxBytes)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		} else if err != nil {
			panic(err)
		}
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil // size limit reached
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		from := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) > 0 {
			// Copy: appending to storage's slice could overwrite its memory.
			ents = append(append([]Entry(nil), ents...), from...)
		} else {
			ents = from
		}
	}
	return limitSize(ents, maxBytes), nil
}

// nextCommittedEntries returns committed entries not yet handed out for
// applying.
func (l *raftLog) nextCommittedEntries() []Entry {
	if l.unstable.snapshot != nil {
		return nil // the snapshot must be applied first
	}
	lo := max(l.applied+1, l.firstIndex())
	if l.committed+1 <= lo {
		return nil
	}
	ents, err := l.slice(lo, l.committed+1, l.maxApplyBytes)
	if err != nil {
		panic(fmt.Sprintf("raft: committed entries [%d,%d]: %v", lo, l.committed, err))
	}
	return ents
}

func (l *raftLog) hasNextCommittedEntries() bool {
	return l.unstable.snapshot == nil && l.committed > max(l.applied, l.firstIndex()-1)
}

func (l *raftLog) commitTo(i uint64) {
	if i <= l.committed {
		return
	}
	if i > l.lastIndex() {
		panic(fmt.Sprintf("raft: commit %d beyond last index %d", i, l.lastIndex()))
	}
	l.committed = i
}

// maybeCommit commits up to i if entry i is of term: a leader only counts
// replicas of its own term's entries (Raft paper 5.4.2, Figure 8).
func (l *raftLog) maybeCommit(i, term uint64) bool {
	if i > l.committed && l.matchTerm(i, term) {
		l.commitTo(i)
		return true
	}
	return false
}

func (l *raftLog) appliedTo(i uint64) {
	if i == 0 || i <= l.applied {
		return
	}
	if i > l.committed {
		panic(fmt.Sprintf("raft: applied %d beyond committed %d", i, l.committed))
	}
	l.applied = i
}

// isUpToDate reports whether a log ending at (index, term) is at least as
// up to date as ours (Raft paper 5.4.1).
func (l *raftLog) isUpToDate(index, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && index >= l.lastIndex())
}

func (l *raftLog) snapshot() (Snapshot, error) {
	if s := l.unstable.snapshot; s != nil {
		return *s, nil
	}
	return l.storage.Snapshot()
}

// restore replaces the log with a snapshot received from the leader.
func (l *raftLog) restore(s Snapshot) {
	l.committed = s.Meta.Index
	l.unstable = unstable{offset: s.Meta.Index + 1, snapshot: &s}
}

// unstable holds what the core has decided but the driver has not yet
// persisted: an incoming snapshot, and entries starting at offset.
type unstable struct {
	snapshot *Snapshot
	entries  []Entry
	offset   uint64
}

func (u *unstable) term(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Meta.Index == i {
			return u.snapshot.Meta.Term, true
		}
		return 0, false
	}
	if j := i - u.offset; j < uint64(len(u.entries)) {
		return u.entries[j].Term, true
	}
	return 0, false
}

func (u *unstable) slice(lo, hi uint64) []Entry {
	return u.entries[lo-u.offset : hi-u.offset : hi-u.offset]
}

func (u *unstable) truncateAndAppend(ents []Entry) {
	after := ents[0].Index
	switch {
	case after == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case after <= u.offset:
		// Replaces everything unstable, and (once persisted) the stored
		// entries from after on.
		u.offset = after
		u.entries = append([]Entry(nil), ents...)
	default:
		kept := u.entries[:after-u.offset]
		u.entries = append(append(make([]Entry, 0, len(kept)+len(ents)), kept...), ents...)
	}
}

// stableTo marks entries up to (i, t) as persisted.
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.term(i)
	if !ok || gt != t || i < u.offset {
		return // superseded by a later append; keep it
	}
	u.entries = u.entries[i+1-u.offset:]
	u.offset = i + 1
	if len(u.entries) == 0 {
		u.entries = nil
	}
}

func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Meta.Index == i {
		u.snapshot = nil
	}
}
