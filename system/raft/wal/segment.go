package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/system/raft"
)

const segmentSuffix = ".wal"

// defaultSegmentSize is the size past which Save moves to a new segment.
const defaultSegmentSize = 64 << 20

// segment is one live WAL file, named by its sequence number.
type segment struct {
	seq uint64
	// maxIndex is the highest entry index any record in the segment wrote.
	// Once the log is compacted past it, nothing in the segment is needed:
	// every later segment repeats the cluster record and the hard state.
	maxIndex uint64
}

func segmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segmentSuffix) }

// listSegments returns the sequence numbers of the segment files in walDir,
// oldest first, and the paths of leftover temporary files. The sequence
// numbers must be consecutive: segments are only ever removed oldest first.
func listSegments(walDir string) (seqs []uint64, tmps []string, err error) {
	des, err := os.ReadDir(walDir)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: list segments: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			tmps = append(tmps, filepath.Join(walDir, name))
		case strings.HasSuffix(name, segmentSuffix):
			var seq uint64
			if _, err := fmt.Sscanf(name, "%016x"+segmentSuffix, &seq); err != nil || segmentName(seq) != name {
				return nil, nil, fmt.Errorf("wal: unexpected file %s in %s", name, walDir)
			}
			seqs = append(seqs, seq)
		}
	}
	if len(seqs) == 0 {
		return nil, nil, fmt.Errorf("wal: no segment files in %s", walDir)
	}
	slices.Sort(seqs)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			return nil, nil, fmt.Errorf("wal: segments missing in %s between %s and %s",
				walDir, segmentName(seqs[i-1]), segmentName(seqs[i]))
		}
	}
	return seqs, tmps, nil
}

// createSegment atomically creates segment seq in walDir, starting with the
// cluster record and hs, and returns it open for appending with its size.
// Built under a temporary name and renamed once synced, a segment file is
// never seen without its leading cluster record. lazy is
// Options.LoseUnsynced.
func createSegment(walDir string, seq uint64, peers []uint64, hs raft.HardState, lazy bool) (*file, int64, error) {
	buf := appendClusterRecord(nil, peers)
	if !hs.IsEmpty() {
		buf = appendHardStateRecord(buf, hs)
	}
	path := filepath.Join(walDir, segmentName(seq))
	tmp := path + tmpSuffix
	f, err := openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, lazy)
	if err != nil {
		return nil, 0, fmt.Errorf("wal: create segment: %w", err)
	}
	err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.abandon()
		os.Remove(tmp)
		return nil, 0, fmt.Errorf("wal: create segment %s: %w", path, err)
	}
	if err := syncDir(walDir); err != nil {
		f.abandon()
		return nil, 0, err
	}
	return f, int64(len(buf)), nil
}
