package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/system/raft"
)

// snapFile is a snapshot as stored under dir/snap.
type snapFile struct {
	snap raft.Snapshot
	// installed marks a snapshot that Save received from a leader, as
	// opposed to one CreateSnapshot took of the local state machine. An
	// installed snapshot replaces the whole log, so it takes effect only
	// once the WAL holds the snapshot record written after it.
	installed bool
	// baseIndex and baseTerm are the last compacted log position when the
	// snapshot was written: recovery keeps the entries after it.
	baseIndex, baseTerm uint64
}

// A snapshot file is
//
//	crc        uint32  CRC-32C of everything after it
//	installed  uint8   1 if Save installed it, 0 if CreateSnapshot took it
//	index      uint64
//	term       uint64
//	baseIndex  uint64
//	baseTerm   uint64
//	peerCount  uint32
//	peers      peerCount × uint64
//	data       the rest of the file
const snapHeaderSize = 4 + 1 + 8*4 + 4

const snapSuffix = ".snap"

// keepSnapshots is how many snapshot files survive a purge: the newest,
// and one older in case the newest was installed by a Save that never
// finished.
const keepSnapshots = 2

func snapName(index uint64) string { return fmt.Sprintf("%016x%s", index, snapSuffix) }

func encodeSnapFile(sf *snapFile) []byte {
	meta := sf.snap.Meta
	buf := make([]byte, 4, snapHeaderSize+8*len(meta.Peers)+len(sf.snap.Data))
	var installed byte
	if sf.installed {
		installed = 1
	}
	buf = append(buf, installed)
	buf = binary.LittleEndian.AppendUint64(buf, meta.Index)
	buf = binary.LittleEndian.AppendUint64(buf, meta.Term)
	buf = binary.LittleEndian.AppendUint64(buf, sf.baseIndex)
	buf = binary.LittleEndian.AppendUint64(buf, sf.baseTerm)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(meta.Peers)))
	for _, p := range meta.Peers {
		buf = binary.LittleEndian.AppendUint64(buf, p)
	}
	buf = append(buf, sf.snap.Data...)
	binary.LittleEndian.PutUint32(buf, crc32.Checksum(buf[4:], crcTable))
	return buf
}

func decodeSnapFile(b []byte) (*snapFile, error) {
	if len(b) < snapHeaderSize {
		return nil, fmt.Errorf("%d bytes is shorter than a snapshot header", len(b))
	}
	if crc32.Checksum(b[4:], crcTable) != binary.LittleEndian.Uint32(b) {
		return nil, fmt.Errorf("crc mismatch")
	}
	sf := &snapFile{installed: b[4] == 1}
	sf.snap.Meta.Index = binary.LittleEndian.Uint64(b[5:])
	sf.snap.Meta.Term = binary.LittleEndian.Uint64(b[13:])
	sf.baseIndex = binary.LittleEndian.Uint64(b[21:])
	sf.baseTerm = binary.LittleEndian.Uint64(b[29:])
	n := binary.LittleEndian.Uint32(b[37:])
	rest := b[snapHeaderSize:]
	if uint64(n)*8 > uint64(len(rest)) {
		return nil, fmt.Errorf("%d peers do not fit in the file", n)
	}
	sf.snap.Meta.Peers = make([]uint64, n)
	for i := range sf.snap.Meta.Peers {
		sf.snap.Meta.Peers[i] = binary.LittleEndian.Uint64(rest[8*i:])
	}
	if data := rest[8*n:]; len(data) > 0 {
		sf.snap.Data = data
	}
	if sf.snap.Meta.Index == 0 || sf.baseIndex > sf.snap.Meta.Index {
		return nil, fmt.Errorf("snapshot index %d with base index %d", sf.snap.Meta.Index, sf.baseIndex)
	}
	return sf, nil
}

func writeSnapFile(snapDir string, sf *snapFile, lazy bool) error {
	return writeFileAtomic(snapDir, filepath.Join(snapDir, snapName(sf.snap.Meta.Index)), encodeSnapFile(sf), lazy)
}

func readSnapFile(path string) (*snapFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wal: read snapshot: %w", err)
	}
	sf, err := decodeSnapFile(b)
	if err != nil {
		return nil, &CorruptError{Path: path, Offset: -1, Reason: err.Error()}
	}
	return sf, nil
}

// listSnapFiles returns the indexes of the snapshot files in snapDir,
// oldest first, and the paths of leftover temporary files.
func listSnapFiles(snapDir string) (indexes []uint64, tmps []string, err error) {
	des, err := os.ReadDir(snapDir)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: list snapshots: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			tmps = append(tmps, filepath.Join(snapDir, name))
		case strings.HasSuffix(name, snapSuffix):
			var index uint64
			if _, err := fmt.Sscanf(name, "%016x"+snapSuffix, &index); err != nil || snapName(index) != name {
				return nil, nil, fmt.Errorf("wal: unexpected file %s in %s", name, snapDir)
			}
			indexes = append(indexes, index)
		}
	}
	slices.Sort(indexes)
	return indexes, tmps, nil
}

// purgeSnapFiles removes all but the newest keepSnapshots snapshot files.
func purgeSnapFiles(snapDir string) error {
	indexes, _, err := listSnapFiles(snapDir)
	if err != nil || len(indexes) <= keepSnapshots {
		return err
	}
	for _, index := range indexes[:len(indexes)-keepSnapshots] {
		if err := os.Remove(filepath.Join(snapDir, snapName(index))); err != nil {
			return fmt.Errorf("wal: purge snapshot: %w", err)
		}
	}
	return syncDir(snapDir)
}
