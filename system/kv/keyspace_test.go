package kv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/kv/kvpb"
)

// TestKeyspaceMatchesAMap: random puts, overwrites and deletes leave the
// keyspace holding what a plain map holds, through arena compactions and
// with every key's hash colliding with others'.
func TestKeyspaceMatchesAMap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hashMask uint64
	}{
		{"maphash", ^uint64(0)},
		// Eight hashes for 200 keys: most keys live in collided.
		{"colliding", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeyspace()
			k.hashMask = tc.hashMask
			type entry struct {
				value   []byte
				version uint64
			}
			want := map[string]entry{}
			rng := rand.New(rand.NewPCG(1, 2))
			compactions := 0
			for version := uint64(1); version <= 50_000; version++ {
				key := fmt.Sprintf("k%d", rng.IntN(200))
				if rng.IntN(5) == 0 {
					_, had := want[key]
					if got := k.remove(key); got != had {
						t.Fatalf("remove(%s) = %v, want %v", key, got, had)
					}
					delete(want, key)
					continue
				}
				value := bytes.Repeat([]byte{byte(version)}, rng.IntN(300))
				before := len(k.arena)
				k.put(key, value, version)
				if len(k.arena) < before {
					compactions++
				}
				want[key] = entry{value, version}
			}
			if compactions == 0 {
				t.Errorf("no compaction of the arena in 50,000 writes to 200 keys")
			}
			if k.len() != len(want) {
				t.Errorf("len %d, want %d", k.len(), len(want))
			}
			if tc.hashMask == 7 && len(k.collided) == 0 {
				t.Errorf("no key collided with a 3-bit hash")
			}
			for i := range 200 {
				key := fmt.Sprintf("k%d", i)
				value, version, found := k.get(key)
				w, ok := want[key]
				if found != ok || !bytes.Equal(value, w.value) || version != w.version {
					t.Errorf("get(%s) = %q@%d found %v, want %q@%d found %v", key, value, version, found, w.value, w.version, ok)
				}
			}
			if len(k.arena) > 2*k.live+compactAfter {
				t.Errorf("arena %d bytes for %d live", len(k.arena), k.live)
			}
		})
	}
}

// TestKeyspaceViewIsFrozen: a view keeps the records of its moment while
// writes, deletes and a compaction go on.
func TestKeyspaceViewIsFrozen(t *testing.T) {
	k := newKeyspace()
	for i := range 100 {
		k.put(fmt.Sprintf("k%03d", i), []byte(fmt.Sprint("v", i)), uint64(i+1))
	}
	v := k.view()
	value, _, _ := k.get("k007")
	big := bytes.Repeat([]byte("x"), 1000)
	for i := range 5000 { // enough dead bytes to compact
		k.put(fmt.Sprintf("k%03d", i%100), big, uint64(1000+i))
	}
	k.remove("k001")
	var snap kvpb.Snapshot
	if err := proto.Unmarshal(v.appendSnapshotKVs(nil), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Kvs) != 100 {
		t.Fatalf("view has %d records, want 100", len(snap.Kvs))
	}
	for i, r := range snap.Kvs {
		if r.Key != fmt.Sprintf("k%03d", i) || string(r.Value) != fmt.Sprint("v", i) || r.Version != uint64(i+1) {
			t.Fatalf("view's record %d = %s=%s@%d", i, r.Key, r.Value, r.Version)
		}
	}
	if string(value) != "v7" {
		t.Errorf("a value read before the writes reads %q now, want v7", value)
	}
	if n := k.len(); n != 99 {
		t.Errorf("%d keys after one delete of 100", n)
	}
}

// TestSnapshotEncodingIsProtos: the snapshot a state encodes from its
// arena is, byte for byte, proto's deterministic marshal of the same
// kvpb.Snapshot, empty keys, empty values and sessions included.
func TestSnapshotEncodingIsProtos(t *testing.T) {
	st := newState(0)
	st.data.put("b", []byte("two"), 7)
	st.data.put("", []byte("empty key"), 3)
	st.data.put("a", nil, 300)
	st.data.put("c", bytes.Repeat([]byte("x"), 200), 1<<40)
	st.remember(&kvpb.SessionRecord{ClientId: 9, Seq: 2, Response: &kvpb.TxnResponse{Succeeded: true, Version: 7}})
	st.remember(&kvpb.SessionRecord{ClientId: 4, Seq: 1})
	got, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&kvpb.Snapshot{
		Kvs: []*kvpb.KeyValue{
			{Key: "", Value: []byte("empty key"), Version: 3},
			{Key: "a", Version: 300},
			{Key: "b", Value: []byte("two"), Version: 7},
			{Key: "c", Value: bytes.Repeat([]byte("x"), 200), Version: 1 << 40},
		},
		Sessions: []*kvpb.SessionRecord{
			{ClientId: 9, Seq: 2, Response: &kvpb.TxnResponse{Succeeded: true, Version: 7}},
			{ClientId: 4, Seq: 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("snapshot bytes\n%x\nwant\n%x", got, want)
	}
}
