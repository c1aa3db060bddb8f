package raft

// entryLog holds a log's entries with no pointer per entry, so that the
// garbage collector marks a few chunk headers however long the log grows
// (a follower that lags holds compaction back, and a node that never
// compacts would otherwise give every GC cycle millions of small objects
// to walk): each entry is a fixed-size record of its term and where its
// data lies, and the data is a range of a large byte chunk.
//
// Bytes written to a chunk are never written again: an Entry's Data that
// entries handed out stays as it was after the entry is overwritten or
// compacted away.
type entryLog struct {
	// recs[0] is a dummy record standing for the last compacted entry
	// (the snapshot's): its index is first, and it keeps that entry's term.
	first uint64
	recs  []entryRecord
	// chunks[i] is chunk number chunkBase+i. Data is only appended to the
	// last one.
	chunks    [][]byte
	chunkBase uint32
}

type entryRecord struct {
	term       uint64
	chunk      uint32
	start, end uint32
}

// chunkSize is the size of a data chunk; larger entries get one of their
// own.
const chunkSize = 1 << 20

func newEntryLog(index, term uint64) entryLog {
	return entryLog{first: index, recs: []entryRecord{{term: term}}}
}

// offset is the index of the dummy record.
func (l *entryLog) offset() uint64    { return l.first }
func (l *entryLog) lastIndex() uint64 { return l.first + uint64(len(l.recs)) - 1 }

// term is the term of entry i, offset() <= i <= lastIndex().
func (l *entryLog) term(i uint64) uint64 { return l.recs[i-l.first].term }

// entries returns entries [lo, hi), offset() < lo <= hi <= lastIndex()+1,
// as limitSize cuts them to maxBytes.
func (l *entryLog) entries(lo, hi, maxBytes uint64) []Entry {
	if lo >= hi {
		return nil
	}
	recs := l.recs[lo-l.first : hi-l.first]
	ents := make([]Entry, 0, len(recs))
	var size uint64
	for i, r := range recs {
		data := l.data(r)
		size += uint64(len(data))
		if i > 0 {
			size += entryOverhead
			if size > maxBytes {
				break
			}
		}
		ents = append(ents, Entry{Term: r.term, Index: lo + uint64(i), Data: data})
	}
	return ents
}

func (l *entryLog) data(r entryRecord) []byte {
	if r.start == r.end {
		return nil
	}
	c := l.chunks[r.chunk-l.chunkBase]
	return c[r.start:r.end:r.end]
}

// append adds ents, whose first index is at most lastIndex()+1 and above
// offset(), discarding the records from ents[0].Index on.
func (l *entryLog) append(ents []Entry) {
	l.recs = l.recs[:ents[0].Index-l.first]
	for _, e := range ents {
		r := entryRecord{term: e.Term}
		if len(e.Data) > 0 {
			r.chunk, r.start, r.end = l.store(e.Data)
		}
		l.recs = append(l.recs, r)
	}
}

// store copies data to the end of the last chunk, or to a new one if it
// does not fit.
func (l *entryLog) store(data []byte) (chunk, start, end uint32) {
	n := len(l.chunks)
	if n == 0 || cap(l.chunks[n-1])-len(l.chunks[n-1]) < len(data) {
		l.chunks = append(l.chunks, make([]byte, 0, max(chunkSize, len(data))))
		n++
	}
	c := l.chunks[n-1]
	start = uint32(len(c))
	l.chunks[n-1] = append(c, data...)
	return l.chunkBase + uint32(n-1), start, uint32(len(c) + len(data))
}

// compact drops the entries up to and including index, offset() < index
// <= lastIndex(), and the chunks only they used.
func (l *entryLog) compact(index uint64) {
	i := index - l.first
	rest := make([]entryRecord, 1, uint64(len(l.recs))-i)
	rest[0] = entryRecord{term: l.recs[i].term}
	l.recs = append(rest, l.recs[i+1:]...)
	l.first = index
	// Later entries never lie in earlier chunks (data is only appended),
	// so the first live entry's chunk is the oldest still needed; the last
	// chunk stays, to be filled.
	keep := uint32(len(l.chunks))
	if keep > 0 {
		keep--
	}
	for _, r := range l.recs[1:] {
		if r.start != r.end {
			keep = min(keep, r.chunk-l.chunkBase)
			break
		}
	}
	clear(l.chunks[:keep]) // let the GC have them
	l.chunks = l.chunks[keep:]
	l.chunkBase += keep
}
