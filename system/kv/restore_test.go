package kv

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/system/raft"
)

// TestRestoreDropsOldFields: a snapshot written by an older node, with
// SessionRecord.last_used (4) and Snapshot.applied (3), restores, and the
// next snapshot is the bytes a new node writes for the same state.
func TestRestoreDropsOldFields(t *testing.T) {
	rec := &kvpb.SessionRecord{ClientId: 7, Seq: 3, Response: &kvpb.TxnResponse{}}
	recB, _ := proto.Marshal(rec)
	recOld := protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), recB...), 4, protowire.VarintType), 99)
	snap := &kvpb.Snapshot{Kvs: []*kvpb.KeyValue{{Key: "a", Value: []byte("1"), Version: 2}}}
	snapB, _ := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	old := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), snapB...), 2, protowire.BytesType), recOld)
	old = protowire.AppendVarint(protowire.AppendTag(old, 3, protowire.VarintType), 42)

	snap.Sessions = []*kvpb.SessionRecord{rec}
	clean, _ := proto.MarshalOptions{Deterministic: true}.Marshal(snap)

	st := newState(10)
	if err := st.Restore(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 1}, Data: old}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, clean) {
		t.Fatalf("snapshot after restoring an old one:\n%x\nwant\n%x", got, clean)
	}
}
