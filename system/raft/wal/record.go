package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/squall-chaos/squall/system/raft"
)

// recordType says what a record's payload holds.
type recordType uint8

const (
	// clusterRecord holds the peers the WAL was created for. It is the
	// first record of every segment, so a segment can be read on its own.
	clusterRecord recordType = 1 + iota
	// hardStateRecord holds a HardState; the last one replayed wins.
	hardStateRecord
	// entriesRecord holds consecutive entries; replaying it discards any
	// entries at or after its first index.
	entriesRecord
	// snapshotRecord says that Save installed the snapshot at (index, term):
	// every entry held before it is discarded.
	snapshotRecord
)

// A record is framed as
//
//	length  uint32  payload bytes
//	type    uint8
//	crc     uint32  CRC-32C (Castagnoli) of type and payload
//	payload
//
// all integers little-endian.
const headerSize = 4 + 1 + 4

// recordSizeHint is the payload size at which an entries record is closed
// and the rest of a batch goes into the next one. It keeps records small
// enough that a reader never needs huge contiguous buffers per record.
const recordSizeHint = 1 << 20

// maxEntryData bounds one entry's data so that any record length fits the
// 32-bit length field.
const maxEntryData = 1 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func recordCRC(t recordType, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, crcTable, []byte{byte(t)}), crcTable, payload)
}

// beginRecord reserves a header at the end of buf; the caller appends the
// payload and then calls finishRecord with the header's position.
func beginRecord(buf []byte) []byte {
	var header [headerSize]byte
	return append(buf, header[:]...)
}

func finishRecord(buf []byte, start int, t recordType) []byte {
	payload := buf[start+headerSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	buf[start+4] = byte(t)
	binary.LittleEndian.PutUint32(buf[start+5:], recordCRC(t, payload))
	return buf
}

func appendClusterRecord(buf []byte, peers []uint64) []byte {
	start := len(buf)
	buf = beginRecord(buf)
	for _, p := range peers {
		buf = binary.LittleEndian.AppendUint64(buf, p)
	}
	return finishRecord(buf, start, clusterRecord)
}

func appendHardStateRecord(buf []byte, hs raft.HardState) []byte {
	start := len(buf)
	buf = beginRecord(buf)
	buf = binary.LittleEndian.AppendUint64(buf, hs.Term)
	buf = binary.LittleEndian.AppendUint64(buf, hs.Vote)
	buf = binary.LittleEndian.AppendUint64(buf, hs.Commit)
	return finishRecord(buf, start, hardStateRecord)
}

func appendSnapshotRecord(buf []byte, meta raft.SnapshotMeta) []byte {
	start := len(buf)
	buf = beginRecord(buf)
	buf = binary.LittleEndian.AppendUint64(buf, meta.Index)
	buf = binary.LittleEndian.AppendUint64(buf, meta.Term)
	return finishRecord(buf, start, snapshotRecord)
}

// appendEntriesRecords encodes consecutive entries as one or more records
// of the form: first index uint64, then per entry term uint64, data length
// uint32, data.
func appendEntriesRecords(buf []byte, ents []raft.Entry) []byte {
	for len(ents) > 0 {
		start := len(buf)
		buf = beginRecord(buf)
		buf = binary.LittleEndian.AppendUint64(buf, ents[0].Index)
		n := 0
		for n < len(ents) && (n == 0 || len(buf)-start < recordSizeHint) {
			buf = binary.LittleEndian.AppendUint64(buf, ents[n].Term)
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(ents[n].Data)))
			buf = append(buf, ents[n].Data...)
			n++
		}
		buf = finishRecord(buf, start, entriesRecord)
		ents = ents[n:]
	}
	return buf
}

func decodeCluster(p []byte) ([]uint64, error) {
	if len(p)%8 != 0 {
		return nil, fmt.Errorf("cluster record of %d bytes is not a list of peer ids", len(p))
	}
	peers := make([]uint64, len(p)/8)
	for i := range peers {
		peers[i] = binary.LittleEndian.Uint64(p[8*i:])
	}
	return peers, nil
}

func decodeHardState(p []byte) (raft.HardState, error) {
	if len(p) != 24 {
		return raft.HardState{}, fmt.Errorf("hard state record of %d bytes, want 24", len(p))
	}
	return raft.HardState{
		Term:   binary.LittleEndian.Uint64(p),
		Vote:   binary.LittleEndian.Uint64(p[8:]),
		Commit: binary.LittleEndian.Uint64(p[16:]),
	}, nil
}

func decodeSnapshotRecord(p []byte) (index, term uint64, err error) {
	if len(p) != 16 {
		return 0, 0, fmt.Errorf("snapshot record of %d bytes, want 16", len(p))
	}
	return binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]), nil
}

// decodeEntries decodes an entries record. The entries' data is copied so
// that they do not pin the buffer holding a whole segment file.
func decodeEntries(p []byte) ([]raft.Entry, error) {
	if len(p) < 8 {
		return nil, fmt.Errorf("entries record of %d bytes has no first index", len(p))
	}
	index := binary.LittleEndian.Uint64(p)
	p = p[8:]
	var ents []raft.Entry
	for len(p) > 0 {
		if len(p) < 12 {
			return nil, fmt.Errorf("entry %d: truncated entry header", index)
		}
		term := binary.LittleEndian.Uint64(p)
		n := binary.LittleEndian.Uint32(p[8:])
		p = p[12:]
		if uint64(n) > uint64(len(p)) {
			return nil, fmt.Errorf("entry %d: data length %d exceeds the %d bytes left", index, n, len(p))
		}
		e := raft.Entry{Term: term, Index: index}
		if n > 0 {
			e.Data = append([]byte(nil), p[:n]...)
		}
		ents = append(ents, e)
		p = p[n:]
		index++
	}
	return ents, nil
}

type record struct {
	typ     recordType
	payload []byte
	offset  int64 // of the record's header in its file
}

// badRecord says why the bytes at offset are not a valid record.
type badRecord struct {
	offset int64
	reason string
	// torn is set when the damage looks like an interrupted write: the
	// record runs past the end of the file, or nothing but zero bytes
	// follows it. Only the last segment may legitimately end that way.
	torn bool
}

func (b *badRecord) Error() string { return b.reason }

// recordReader splits the contents of a segment file into records.
type recordReader struct {
	data []byte
	off  int
}

// next returns the next record, io.EOF at the end of the data, or a
// *badRecord if the bytes at the current offset do not form a record.
func (r *recordReader) next() (record, error) {
	rest := r.data[r.off:]
	if len(rest) == 0 {
		return record{}, io.EOF
	}
	bad := func(reason string, torn bool) error {
		return &badRecord{offset: int64(r.off), reason: reason, torn: torn}
	}
	if allZero(rest) {
		return record{}, bad(fmt.Sprintf("%d zero bytes where a record should start", len(rest)), true)
	}
	if len(rest) < headerSize {
		return record{}, bad(fmt.Sprintf("incomplete record header (%d of %d bytes)", len(rest), headerSize), true)
	}
	n := binary.LittleEndian.Uint32(rest)
	t := recordType(rest[4])
	sum := binary.LittleEndian.Uint32(rest[5:])
	if uint64(n) > uint64(len(rest)-headerSize) {
		return record{}, bad(fmt.Sprintf("record length %d runs past end of file", n), true)
	}
	payload := rest[headerSize : headerSize+int(n)]
	if recordCRC(t, payload) != sum {
		return record{}, bad("crc mismatch", allZero(rest[headerSize+int(n):]))
	}
	rec := record{typ: t, payload: payload, offset: int64(r.off)}
	r.off += headerSize + int(n)
	return rec, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
