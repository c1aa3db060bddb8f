package percolator

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

// writeKind is the kind of a write-column record.
type writeKind uint8

const (
	writePut writeKind = iota
	writeDelete
	// writeRollback marks a transaction rolled back on a key, so that a
	// late prewrite or commit of it is refused.
	writeRollback
)

func writeKindOf(op pb.Mutation_Op) writeKind {
	if op == pb.Mutation_DELETE {
		return writeDelete
	}
	return writePut
}

// writeRecord is one record of the write column: the transaction started
// at startTS committed (or rolled back, at commitTS == startTS) the key.
type writeRecord struct {
	commitTS uint64
	startTS  uint64
	kind     writeKind
}

// keyState is everything the lock and write columns hold for one key.
type keyState struct {
	lock *pb.LockInfo // nil when unlocked
	// writes is ordered by commitTS, newest first: reads and conflict
	// checks look at the newest records.
	writes []writeRecord
	// gen is the generation of the mvcc that may change this state in
	// place. A state of an older generation is shared with a clone, and
	// is copied before it changes (see mvcc.key).
	gen uint64
}

// dataKey addresses the data column.
type dataKey struct {
	key     string
	startTS uint64
}

// mvcc is one shard's Percolator columns and the operations on them. It
// is deterministic and does no locking or I/O: the shard's state machine
// applies replicated commands to it in log order, so every replica holds
// the same columns. Each operation checks every key before it changes
// anything, so a refused command leaves no trace.
type mvcc struct {
	bugs Bugs
	keys map[string]*keyState
	data map[dataKey][]byte
	// gen is bumped by clone, which leaves every key's state shared.
	gen uint64
}

func newMVCC(bugs Bugs) *mvcc {
	return &mvcc{bugs: bugs, keys: make(map[string]*keyState), data: make(map[dataKey][]byte)}
}

// key returns k's state for changing: created if k has none, and a copy
// of its own if the state is shared with a clone.
func (m *mvcc) key(k []byte) *keyState {
	ks := m.keys[string(k)]
	switch {
	case ks == nil:
		ks = &keyState{gen: m.gen}
		m.keys[string(k)] = ks
	case ks.gen != m.gen:
		ks = &keyState{lock: ks.lock, writes: slices.Clone(ks.writes), gen: m.gen}
		m.keys[string(k)] = ks
	}
	return ks
}

// peek returns k's state for reading, without creating it.
func (m *mvcc) peek(k []byte) *keyState {
	if ks := m.keys[string(k)]; ks != nil {
		return ks
	}
	return &keyState{}
}

// recordOf returns the write record of the transaction started at
// startTS, if any. Its commitTS is at least startTS, so the search stops
// at the first older record.
func (ks *keyState) recordOf(startTS uint64) (writeRecord, bool) {
	for _, w := range ks.writes {
		if w.commitTS < startTS {
			break
		}
		if w.startTS == startTS {
			return w, true
		}
	}
	return writeRecord{}, false
}

func (ks *keyState) addWrite(w writeRecord) {
	i, _ := slices.BinarySearchFunc(ks.writes, w.commitTS, func(have writeRecord, ts uint64) int {
		switch {
		case have.commitTS > ts:
			return -1
		case have.commitTS < ts:
			return 1
		}
		return 0
	})
	ks.writes = slices.Insert(ks.writes, i, w)
}

func lockedError(l *pb.LockInfo) *pb.KeyError {
	return &pb.KeyError{Locked: l, Message: fmt.Sprintf("key %q is locked by the transaction started at %d", l.Key, l.StartTs)}
}

func lockNotFound(key []byte, startTS uint64) *pb.KeyError {
	return &pb.KeyError{TxnLockNotFound: true, Message: fmt.Sprintf("key %q holds no lock of the transaction started at %d", key, startTS)}
}

// get reads key as of ts: the newest put or delete committed at or
// before ts, unless a lock taken at or before ts blocks it (that
// transaction may commit below ts).
func (m *mvcc) get(key []byte, ts uint64) *pb.GetResponse {
	ks := m.peek(key)
	if l := ks.lock; l != nil && l.StartTs <= ts && !m.bugs.GetIgnoresLocks {
		return &pb.GetResponse{Error: lockedError(l)}
	}
	for _, w := range ks.writes {
		if w.commitTS > ts || w.kind == writeRollback {
			continue
		}
		if w.kind == writeDelete {
			return &pb.GetResponse{}
		}
		return &pb.GetResponse{Found: true, Value: m.data[dataKey{string(key), w.startTS}], CommitTs: w.commitTS}
	}
	return &pb.GetResponse{}
}

// prewrite locks every mutation's key for the transaction started at
// req.StartTs and stores its values, or, if any key is refused, changes
// nothing and reports every refused key.
func (m *mvcc) prewrite(req *pb.PrewriteRequest) *pb.PrewriteResponse {
	var errs []*pb.KeyError
	var fresh []*pb.Mutation // keys not already locked by this transaction
	for _, mut := range req.Mutations {
		ks := m.peek(mut.Key)
		if l := ks.lock; l != nil {
			if l.StartTs != req.StartTs {
				errs = append(errs, lockedError(l))
			}
			continue // our own lock: a retried prewrite
		}
		if conflict := m.writeConflict(ks, mut.Key, req); conflict != nil {
			errs = append(errs, conflict)
			continue
		}
		fresh = append(fresh, mut)
	}
	if len(errs) > 0 {
		return &pb.PrewriteResponse{Errors: errs}
	}
	for _, mut := range fresh {
		m.key(mut.Key).lock = &pb.LockInfo{Key: mut.Key, Primary: req.Primary, StartTs: req.StartTs, TtlMs: req.LockTtlMs, Kind: mut.Op}
		if mut.Op == pb.Mutation_PUT {
			m.data[dataKey{string(mut.Key), req.StartTs}] = mut.Value
		}
	}
	return &pb.PrewriteResponse{}
}

// writeConflict refuses a prewrite of key when its newest write record
// is at or after the transaction's start: another transaction committed
// the key since (a write conflict), or this one was rolled back there.
func (m *mvcc) writeConflict(ks *keyState, key []byte, req *pb.PrewriteRequest) *pb.KeyError {
	if m.bugs.SkipWriteConflictCheck {
		if w, ok := ks.recordOf(req.StartTs); ok && w.kind == writeRollback {
			return rolledBackConflict(key, req)
		}
		return nil
	}
	if len(ks.writes) == 0 || ks.writes[0].commitTS < req.StartTs {
		return nil
	}
	newest := ks.writes[0]
	if w, ok := ks.recordOf(req.StartTs); ok && w.kind == writeRollback {
		return rolledBackConflict(key, req)
	}
	return &pb.KeyError{
		Conflict: &pb.WriteConflict{Key: key, StartTs: req.StartTs, ConflictCommitTs: newest.commitTS, Primary: req.Primary},
		Message:  fmt.Sprintf("write conflict on key %q: committed at %d, after the transaction's start at %d", key, newest.commitTS, req.StartTs),
	}
}

func rolledBackConflict(key []byte, req *pb.PrewriteRequest) *pb.KeyError {
	return &pb.KeyError{
		Conflict: &pb.WriteConflict{Key: key, StartTs: req.StartTs, Primary: req.Primary},
		Message:  fmt.Sprintf("key %q: the transaction started at %d was rolled back", key, req.StartTs),
	}
}

// commit turns the transaction's locks on keys into write records at
// commitTS. A key already committed by it is fine (a retry); a key where
// it holds no lock and did not commit refuses the whole command.
func (m *mvcc) commit(keys [][]byte, startTS, commitTS uint64) *pb.KeyError {
	for _, k := range keys {
		ks := m.peek(k)
		if l := ks.lock; l != nil && l.StartTs == startTS {
			continue
		}
		if w, ok := ks.recordOf(startTS); !ok || w.kind == writeRollback {
			return lockNotFound(k, startTS)
		}
	}
	for _, k := range keys {
		m.commitKey(m.key(k), startTS, commitTS)
	}
	return nil
}

// commitKey commits ks's lock if the transaction started at startTS holds
// it, and does nothing otherwise.
func (m *mvcc) commitKey(ks *keyState, startTS, commitTS uint64) {
	l := ks.lock
	if l == nil || l.StartTs != startTS {
		return
	}
	ks.addWrite(writeRecord{commitTS: commitTS, startTS: startTS, kind: writeKindOf(l.Kind)})
	ks.lock = nil
}

// rollback rolls the transaction back on keys, unless it committed on one
// of them, which refuses the whole command.
func (m *mvcc) rollback(keys [][]byte, startTS uint64) *pb.KeyError {
	for _, k := range keys {
		if w, ok := m.peek(k).recordOf(startTS); ok && w.kind != writeRollback {
			return &pb.KeyError{CommittedTs: w.commitTS, Message: fmt.Sprintf("key %q: the transaction started at %d committed at %d", k, startTS, w.commitTS)}
		}
	}
	for _, k := range keys {
		m.rollbackKey(k, startTS)
	}
	return nil
}

// rollbackKey removes the transaction's lock and value from key, if
// there, and leaves a rollback record (once) so that a late prewrite of
// the transaction is refused. The caller has checked that it did not
// commit key.
func (m *mvcc) rollbackKey(key []byte, startTS uint64) {
	ks := m.key(key)
	if l := ks.lock; l != nil && l.StartTs == startTS {
		ks.lock = nil
		delete(m.data, dataKey{string(key), startTS})
	}
	if _, ok := ks.recordOf(startTS); !ok {
		ks.addWrite(writeRecord{commitTS: startTS, startTS: startTS, kind: writeRollback})
	}
}

// checkTxnStatus decides the fate of the transaction started at lockTS
// from its primary key: committed, rolled back, or still locked. A lock
// whose ttl expired by currentTS is rolled back, and so is a primary never
// prewritten, so that its late prewrite fails and the answer stands.
func (m *mvcc) checkTxnStatus(req *pb.CheckTxnStatusRequest) *pb.CheckTxnStatusResponse {
	ks := m.peek(req.PrimaryKey)
	if l := ks.lock; l != nil && l.StartTs == req.LockTs {
		if !LockExpired(l.StartTs, l.TtlMs, req.CurrentTs) {
			return &pb.CheckTxnStatusResponse{Status: pb.CheckTxnStatusResponse_LOCKED, LockTtlMs: l.TtlMs}
		}
		m.rollbackKey(req.PrimaryKey, req.LockTs)
		return &pb.CheckTxnStatusResponse{Status: pb.CheckTxnStatusResponse_ROLLED_BACK}
	}
	if w, ok := ks.recordOf(req.LockTs); ok {
		if w.kind == writeRollback {
			return &pb.CheckTxnStatusResponse{Status: pb.CheckTxnStatusResponse_ROLLED_BACK}
		}
		return &pb.CheckTxnStatusResponse{Status: pb.CheckTxnStatusResponse_COMMITTED, CommitTs: w.commitTS}
	}
	m.rollbackKey(req.PrimaryKey, req.LockTs)
	return &pb.CheckTxnStatusResponse{Status: pb.CheckTxnStatusResponse_ROLLED_BACK}
}

// resolveLock rolls the transaction's remaining locks on keys forward (at
// commitTS) or back (commitTS 0). Keys it does not lock are skipped, so
// resolving twice is harmless.
func (m *mvcc) resolveLock(req *pb.ResolveLockRequest) {
	for _, k := range req.Keys {
		if l := m.peek(k).lock; l == nil || l.StartTs != req.StartTs {
			continue
		}
		if req.CommitTs == 0 {
			m.rollbackKey(k, req.StartTs)
		} else {
			m.commitKey(m.key(k), req.StartTs, req.CommitTs)
		}
	}
}

// snapshotVersion is the first byte of an encoded mvcc.
const snapshotVersion = 1

// clone returns a copy of m that later operations on m leave as it is,
// in time proportional to the number of keys but without copying any
// key's state: both maps are copied, and the states they point to become
// shared, to be copied by whichever of m and the clone changes one first
// (see key). Locks and values are shared for good, for operations replace
// them and never change them in place.
func (m *mvcc) clone() *mvcc {
	m.gen++
	return &mvcc{bugs: m.bugs, keys: maps.Clone(m.keys), data: maps.Clone(m.data), gen: m.gen}
}

// marshal encodes the columns, in key (and start_ts) order so that
// replicas holding the same columns produce the same bytes:
//
//	version byte
//	uvarint #keys, then per key: bytes key, byte has-lock,
//	  [bytes primary, uvarint start_ts, uvarint ttl_ms, uvarint kind],
//	  uvarint #writes, then per write: uvarint commit_ts, uvarint start_ts, byte kind
//	uvarint #values, then per value: bytes key, uvarint start_ts, bytes value
//
// where bytes is a uvarint length and the bytes.
func (m *mvcc) marshal() []byte {
	buf := []byte{snapshotVersion}
	keys := slices.Sorted(maps.Keys(m.keys))
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		ks := m.keys[k]
		buf = appendBytes(buf, []byte(k))
		if l := ks.lock; l == nil {
			buf = append(buf, 0)
		} else {
			buf = append(buf, 1)
			buf = appendBytes(buf, l.Primary)
			buf = binary.AppendUvarint(buf, l.StartTs)
			buf = binary.AppendUvarint(buf, l.TtlMs)
			buf = binary.AppendUvarint(buf, uint64(l.Kind))
		}
		buf = binary.AppendUvarint(buf, uint64(len(ks.writes)))
		for _, w := range ks.writes {
			buf = binary.AppendUvarint(buf, w.commitTS)
			buf = binary.AppendUvarint(buf, w.startTS)
			buf = append(buf, byte(w.kind))
		}
	}
	values := slices.SortedFunc(maps.Keys(m.data), func(a, b dataKey) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.startTS, b.startTS)
	})
	buf = binary.AppendUvarint(buf, uint64(len(values)))
	for _, dk := range values {
		buf = appendBytes(buf, []byte(dk.key))
		buf = binary.AppendUvarint(buf, dk.startTS)
		buf = appendBytes(buf, m.data[dk])
	}
	return buf
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// unmarshalMVCC decodes what marshal encoded.
func unmarshalMVCC(b []byte, bugs Bugs) (*mvcc, error) {
	d := &decoder{buf: b}
	if v := d.byte(); d.err == nil && v != snapshotVersion {
		return nil, fmt.Errorf("mvcc snapshot: version %d, want %d", v, snapshotVersion)
	}
	m := newMVCC(bugs)
	for n := d.count(); d.err == nil && n > 0; n-- {
		key := string(d.bytes())
		ks := &keyState{}
		if d.byte() == 1 {
			ks.lock = &pb.LockInfo{Key: []byte(key), Primary: d.bytes(), StartTs: d.uvarint(), TtlMs: d.uvarint(), Kind: pb.Mutation_Op(d.uvarint())}
		}
		for w := d.count(); d.err == nil && w > 0; w-- {
			ks.writes = append(ks.writes, writeRecord{commitTS: d.uvarint(), startTS: d.uvarint(), kind: writeKind(d.byte())})
		}
		m.keys[key] = ks
	}
	for n := d.count(); d.err == nil && n > 0; n-- {
		dk := dataKey{key: string(d.bytes()), startTS: d.uvarint()}
		m.data[dk] = d.bytes()
	}
	if d.err == nil && d.off != len(b) {
		d.err = fmt.Errorf("%d trailing bytes", len(b)-d.off)
	}
	if d.err != nil {
		return nil, fmt.Errorf("mvcc snapshot at offset %d: %w", d.off, d.err)
	}
	return m, nil
}

// decoder reads marshal's encoding; after the first error every read
// returns zero and err says what went wrong.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.err = errors.New("bad or truncated varint")
		return 0
	}
	d.off += n
	return v
}

// count reads a length that must fit in what remains.
func (d *decoder) count() uint64 {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.buf)-d.off) {
		d.err = fmt.Errorf("count %d exceeds the %d bytes left", n, len(d.buf)-d.off)
		return 0
	}
	return n
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.buf) {
		d.err = errors.New("truncated")
		return 0
	}
	d.off++
	return d.buf[d.off-1]
}

func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	b := slices.Clone(d.buf[d.off : d.off+int(n)])
	d.off += int(n)
	return b
}
