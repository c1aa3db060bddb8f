package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/squall-chaos/squall/system/raft"
)

// replayed is what reading the segments against one snapshot yields.
//
// Replay tracks only the part of the log after the snapshot's base: entries
// at or below it are compacted, and every segment that could hold a live
// entry above it is still on disk (see segment.maxIndex).
type replayed struct {
	peers     []uint64 // from the cluster records
	baseIndex uint64
	baseTerm  uint64
	ents      []raft.Entry // live entries after the base, consecutive
	hs        raft.HardState
	// confirmed is set when a snapshot record names the snapshot replayed
	// against: the Save that installed it completed.
	confirmed bool
	segments  []segment
	// lastSize is the length of the valid prefix of the last segment, and
	// torn what lies after it, if anything.
	lastSize int64
	torn     *badRecord
}

// replaySegments reads every segment in order and applies its records on
// top of sf (nil for none). It modifies no file: a torn tail is reported in
// the result, anything else unreadable is a *CorruptError.
func replaySegments(walDir string, seqs []uint64, sf *snapFile) (*replayed, error) {
	r := &replayed{}
	if sf != nil {
		r.baseIndex, r.baseTerm = sf.baseIndex, sf.baseTerm
	}
	for i, seq := range seqs {
		path := filepath.Join(walDir, segmentName(seq))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("wal: read segment: %w", err)
		}
		last := i == len(seqs)-1
		seg := segment{seq: seq}
		rr := recordReader{data: data}
		for n := 0; ; n++ {
			rec, err := rr.next()
			if err == io.EOF {
				if n == 0 {
					return nil, &CorruptError{Path: path, Offset: 0, Reason: "empty segment"}
				}
				break
			}
			var bad *badRecord
			if errors.As(err, &bad) {
				if n > 0 && last && bad.torn {
					r.torn = bad
					break
				}
				return nil, &CorruptError{Path: path, Offset: bad.offset, Reason: bad.reason}
			}
			if err := r.apply(rec, n == 0, sf, &seg); err != nil {
				return nil, &CorruptError{Path: path, Offset: rec.offset, Reason: err.Error()}
			}
		}
		r.segments = append(r.segments, seg)
		if last {
			r.lastSize = int64(rr.off)
		}
	}
	return r, nil
}

// apply replays one record; first says whether it opens its segment.
func (r *replayed) apply(rec record, first bool, sf *snapFile, seg *segment) error {
	if first != (rec.typ == clusterRecord) {
		if first {
			return fmt.Errorf("segment starts with record type %d, not a cluster record", rec.typ)
		}
		return fmt.Errorf("cluster record after the start of the segment")
	}
	switch rec.typ {
	case clusterRecord:
		peers, err := decodeCluster(rec.payload)
		if err != nil {
			return err
		}
		if r.peers != nil && !samePeers(peers, r.peers) {
			return fmt.Errorf("cluster record names peers %v, earlier segments %v", peers, r.peers)
		}
		r.peers = peers
	case hardStateRecord:
		hs, err := decodeHardState(rec.payload)
		if err != nil {
			return err
		}
		r.hs = hs
	case entriesRecord:
		ents, err := decodeEntries(rec.payload)
		if err != nil {
			return err
		}
		if len(ents) > 0 {
			seg.maxIndex = max(seg.maxIndex, ents[len(ents)-1].Index)
		}
		return r.append(ents)
	case snapshotRecord:
		index, term, err := decodeSnapshotRecord(rec.payload)
		if err != nil {
			return err
		}
		if index > r.baseIndex {
			return fmt.Errorf("records installing the snapshot at index %d, but no snapshot file holds it (newest usable base is %d)", index, r.baseIndex)
		}
		// The installation discarded every entry held before it; those at
		// or below the base are gone anyway.
		r.ents = r.ents[:0]
		if sf != nil && sf.installed && index == sf.snap.Meta.Index && term == sf.snap.Meta.Term {
			r.confirmed = true
		}
	default:
		return fmt.Errorf("unknown record type %d", rec.typ)
	}
	return nil
}

// append mirrors raft.MemoryStorage.Append on the entries after the base.
//
// Save only writes entries the log held no compacted entry for when it
// wrote them, so a record starting at i did discard every entry at or after
// i, even where i is below the base compacted since: then it discarded all
// entries after the base that came before it.
func (r *replayed) append(ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	if ents[0].Index <= r.baseIndex {
		r.ents = r.ents[:0]
		if ents[len(ents)-1].Index <= r.baseIndex {
			return nil
		}
		ents = ents[r.baseIndex+1-ents[0].Index:]
	}
	next := r.baseIndex + uint64(len(r.ents)) + 1
	if ents[0].Index > next {
		return fmt.Errorf("entries from index %d leave a gap after index %d", ents[0].Index, next-1)
	}
	r.ents = append(r.ents[:ents[0].Index-r.baseIndex-1], ents...)
	return nil
}

// memoryStorage builds the read side that the replayed state stands for:
// sf's snapshot, the log compacted to the base, the live entries after it,
// and the latest hard state.
func (r *replayed) memoryStorage(peers []uint64, sf *snapFile) (*raft.MemoryStorage, error) {
	ms := raft.NewMemoryStorage(peers)
	ms.SetHardState(r.hs)
	if sf == nil {
		return ms, ms.Append(r.ents)
	}
	// Memory keeps the snapshot's metadata; its image stays in the file.
	snap := raft.Snapshot{Meta: sf.snap.Meta}
	if r.baseIndex == snap.Meta.Index {
		if err := ms.ApplySnapshot(snap); err != nil {
			return nil, err
		}
		return ms, ms.Append(r.ents)
	}
	// CreateSnapshot kept entries from before the snapshot's index. MemoryStorage
	// can only hold them under an older snapshot, so install a placeholder at the
	// base, append, and let CreateSnapshot put the real snapshot in its place
	// without compacting any further.
	if r.baseIndex > 0 {
		base := raft.Snapshot{Meta: raft.SnapshotMeta{Index: r.baseIndex, Term: r.baseTerm, Peers: snap.Meta.Peers}}
		if err := ms.ApplySnapshot(base); err != nil {
			return nil, err
		}
	}
	if err := ms.Append(r.ents); err != nil {
		return nil, err
	}
	if term, err := ms.Term(snap.Meta.Index); err != nil || term != snap.Meta.Term {
		return nil, fmt.Errorf("log holds term %d (%v) at index %d, snapshot says term %d",
			term, err, snap.Meta.Index, snap.Meta.Term)
	}
	if err := ms.CreateSnapshot(snap.Meta.Index, snap.Meta.Peers, nil, snap.Meta.Index-r.baseIndex); err != nil {
		return nil, err
	}
	return ms, nil
}
