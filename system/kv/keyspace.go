package kv

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// keyspace holds the store's keys and values in memory the Go collector
// never walks: each version of a key is a record appended to one byte
// slice (the arena), and the index maps a key's hash to its record's
// offset, a map with no pointers in it. Keeping every key and value as its
// own heap object instead cost a node about 400 bytes and three objects a
// key, and every collection marked them all.
//
// A record is never changed once written: an overwrite appends a new one,
// so a reader may keep a value sliced from the arena, and a capture (view)
// stays what it was while writes go on. When dead records outweigh live
// ones, the next write copies the live ones to a fresh arena; the old one
// lives on while a capture or a reader holds it.
//
// Two keys whose hashes collide cannot share the index: the second lives
// in collided, a map by key, which is nearly always empty.
type keyspace struct {
	arena    []byte
	index    map[uint64]uint64
	collided map[string]uint64
	live     int // bytes of the arena in records the index points at
	// hashMask keeps the hash's bits it has set: all of them, but a test
	// narrows it to make most keys collide.
	hashMask uint64
}

// A record: uvarint key length, key, uvarint value length, value, then
// the version as 8 bytes (big-endian).

// compactAfter is the dead bytes below which the arena is never copied:
// small stores would otherwise copy themselves every few writes.
const compactAfter = 1 << 20

// seed hashes keys. A per-process seed is enough: the index lives in one
// process and is rebuilt, not stored.
var seed = maphash.MakeSeed()

func newKeyspace() *keyspace {
	return &keyspace{
		index:    map[uint64]uint64{},
		collided: map[string]uint64{},
		hashMask: ^uint64(0),
	}
}

func (k *keyspace) hash(key string) uint64 { return maphash.String(seed, key) & k.hashMask }

// kvRecord is a record read from the arena; key and value alias it.
type kvRecord struct {
	key     []byte
	value   []byte
	version uint64
	size    int // bytes the record takes in the arena
}

func decodeRecord(arena []byte, off uint64) kvRecord {
	b := arena[off:]
	klen, n := binary.Uvarint(b)
	b = b[n:]
	key := b[:klen:klen]
	b = b[klen:]
	vlen, m := binary.Uvarint(b)
	b = b[m:]
	value := b[:vlen:vlen]
	version := binary.BigEndian.Uint64(b[vlen:])
	return kvRecord{key: key, value: value, version: version, size: n + int(klen) + m + int(vlen) + 8}
}

// keyAt reports whether the record at off is key's, without copying the
// key out of the arena.
func keyAt(arena []byte, off uint64, key string) bool {
	return string(keyOf(arena, off)) == key
}

// find returns the offset of key's record.
func (k *keyspace) find(key string) (uint64, bool) {
	if off, ok := k.index[k.hash(key)]; ok && keyAt(k.arena, off, key) {
		return off, true
	}
	off, ok := k.collided[key]
	return off, ok
}

// get returns key's value (aliasing the arena: never change it) and the
// version that wrote it.
func (k *keyspace) get(key string) (value []byte, version uint64, ok bool) {
	off, ok := k.find(key)
	if !ok {
		return nil, 0, false
	}
	r := decodeRecord(k.arena, off)
	return r.value, r.version, true
}

// put stores value as key's value at version.
func (k *keyspace) put(key string, value []byte, version uint64) {
	k.compactIfMostlyDead()
	if old, ok := k.find(key); ok {
		k.live -= decodeRecord(k.arena, old).size
	}
	off := uint64(len(k.arena))
	k.arena = binary.AppendUvarint(k.arena, uint64(len(key)))
	k.arena = append(k.arena, key...)
	k.arena = binary.AppendUvarint(k.arena, uint64(len(value)))
	k.arena = append(k.arena, value...)
	k.arena = binary.BigEndian.AppendUint64(k.arena, version)
	k.live += len(k.arena) - int(off)
	k.point(key, off)
}

// point makes key's index entry name the record at off.
func (k *keyspace) point(key string, off uint64) {
	h := k.hash(key)
	if _, ok := k.collided[key]; ok {
		k.collided[key] = off
		return
	}
	if cur, ok := k.index[h]; ok && !keyAt(k.arena, cur, key) {
		k.collided[key] = off
		return
	}
	k.index[h] = off
}

// remove deletes key, reporting whether it was there.
func (k *keyspace) remove(key string) bool {
	off, ok := k.find(key)
	if !ok {
		return false
	}
	k.live -= decodeRecord(k.arena, off).size
	if _, ok := k.collided[key]; ok {
		delete(k.collided, key)
	} else {
		delete(k.index, k.hash(key))
	}
	return true
}

func (k *keyspace) len() int { return len(k.index) + len(k.collided) }

// compactIfMostlyDead copies the live records to a fresh arena once dead
// bytes outweigh them: the arena stays under twice its live bytes, and
// each copy is paid for by as many bytes of writes since the last.
func (k *keyspace) compactIfMostlyDead() {
	dead := len(k.arena) - k.live
	if dead < compactAfter || dead < k.live {
		return
	}
	fresh := make([]byte, 0, k.live+k.live/4)
	move := func(off uint64) uint64 {
		r := decodeRecord(k.arena, off)
		at := uint64(len(fresh))
		fresh = append(fresh, k.arena[off:off+uint64(r.size)]...)
		return at
	}
	for h, off := range k.index {
		k.index[h] = move(off)
	}
	for key, off := range k.collided {
		k.collided[key] = move(off)
	}
	k.arena = fresh
}

// view is the keyspace as it was at one moment: the arena then and the
// offsets of its live records. Later writes neither change nor free it.
type view struct {
	arena   []byte
	offsets []uint64
}

func (k *keyspace) view() view {
	v := view{arena: k.arena, offsets: make([]uint64, 0, k.len())}
	for _, off := range k.index {
		v.offsets = append(v.offsets, off)
	}
	for _, off := range k.collided {
		v.offsets = append(v.offsets, off)
	}
	return v
}

// keyOf is the key of the record at off, aliasing the arena.
func keyOf(arena []byte, off uint64) []byte {
	b := arena[off:]
	klen, n := binary.Uvarint(b)
	return b[n : n+int(klen)]
}

// appendSnapshotKVs appends the view's records to b in key order as the
// kvs field of a kvpb.Snapshot (repeated KeyValue, field 1), in the wire
// form proto's deterministic marshal gives them: a key's message made as
// a KeyValue would cost an object per key, and the copies, for as long as
// the encoding runs.
func (v view) appendSnapshotKVs(b []byte) []byte {
	type keyed struct {
		key []byte // aliases the arena
		off uint64
	}
	order := make([]keyed, len(v.offsets))
	for i, off := range v.offsets {
		order[i] = keyed{keyOf(v.arena, off), off}
	}
	slices.SortFunc(order, func(a, b keyed) int { return bytes.Compare(a.key, b.key) })
	for _, k := range order {
		r := decodeRecord(v.arena, k.off)
		size := 0
		if len(r.key) > 0 {
			size += 1 + protowire.SizeBytes(len(r.key))
		}
		if len(r.value) > 0 {
			size += 1 + protowire.SizeBytes(len(r.value))
		}
		if r.version != 0 {
			size += 1 + protowire.SizeVarint(r.version)
		}
		b = protowire.AppendTag(b, snapshotKVsField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		if len(r.key) > 0 {
			b = protowire.AppendTag(b, keyValueKeyField, protowire.BytesType)
			b = protowire.AppendBytes(b, r.key)
		}
		if len(r.value) > 0 {
			b = protowire.AppendTag(b, keyValueValueField, protowire.BytesType)
			b = protowire.AppendBytes(b, r.value)
		}
		if r.version != 0 {
			b = protowire.AppendTag(b, keyValueVersionField, protowire.VarintType)
			b = protowire.AppendVarint(b, r.version)
		}
	}
	return b
}

// Field numbers of kv.proto's Snapshot and KeyValue.
const (
	snapshotKVsField      protowire.Number = 1
	snapshotSessionsField protowire.Number = 2
	keyValueKeyField      protowire.Number = 1
	keyValueValueField    protowire.Number = 2
	keyValueVersionField  protowire.Number = 3
)

// snapshotKVsSize bounds the bytes appendSnapshotKVs appends, to size its
// buffer once.
func (v view) snapshotKVsSize() int {
	// A record's length prefixes are no shorter than its fields' wire
	// prefixes; each field adds a tag byte, the message its tag and length.
	n := 0
	for _, off := range v.offsets {
		n += decodeRecord(v.arena, off).size + 3 + 1 + binary.MaxVarintLen64
	}
	return n
}
