package grpctransport

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/raftpb"
)

// overTheWire converts m, marshals and unmarshals it as gRPC would, and
// converts it back.
func overTheWire(t *testing.T, m raft.Message) raft.Message {
	t.Helper()
	b, err := proto.Marshal(messageToPB(&m))
	if err != nil {
		t.Fatalf("marshal %+v: %v", m, err)
	}
	var pm raftpb.Message
	if err := proto.Unmarshal(b, &pm); err != nil {
		t.Fatalf("unmarshal %+v: %v", m, err)
	}
	got, err := messageFromPB(&pm)
	if err != nil {
		t.Fatalf("convert back %+v: %v", m, err)
	}
	return got
}

// fullMessage sets every field of raft.Message; TestFullMessageSetsEveryField
// keeps it that way when raft.Message grows.
func fullMessage() raft.Message {
	return raft.Message{
		Type:    raft.MsgSnap,
		From:    1,
		To:      2,
		Term:    3,
		LogTerm: 4,
		Index:   5,
		Entries: []raft.Entry{
			{Term: 3, Index: 6, Data: []byte("put x 1")},
			{Term: 3, Index: 7, Data: nil},
			{Term: 3, Index: 8, Data: []byte{}},
		},
		Commit: 9,
		Snapshot: &raft.Snapshot{
			Meta: raft.SnapshotMeta{Index: 10, Term: 2, Peers: []uint64{1, 2, 3}},
			Data: []byte("image"),
		},
		Reject:     true,
		RejectHint: 11,
		Context:    []byte("read-42"),
	}
}

func TestFullMessageSetsEveryField(t *testing.T) {
	v := reflect.ValueOf(fullMessage())
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("fullMessage leaves raft.Message.%s zero; set it so the round trip covers it", v.Type().Field(i).Name)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	withoutSnapshot := fullMessage()
	withoutSnapshot.Type, withoutSnapshot.Snapshot = raft.MsgApp, nil

	emptyBytes := raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Context: []byte{},
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 1, Term: 1}, Data: []byte{}}}
	nilBytes := raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 1, Term: 1}}}

	for _, tc := range []struct {
		name string
		m    raft.Message
	}{
		{"every field", fullMessage()},
		{"nil snapshot", withoutSnapshot},
		{"empty bytes stay empty", emptyBytes},
		{"nil bytes stay nil", nilBytes},
		{"zero vote", raft.Message{Type: raft.MsgVote, From: 3, To: 1, Term: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := overTheWire(t, tc.m)
			if !reflect.DeepEqual(got, tc.m) {
				t.Errorf("round trip changed the message:\n got %#v\nwant %#v", got, tc.m)
			}
		})
	}
}

func TestEmptyRepeatedFieldsArriveNil(t *testing.T) {
	m := raft.Message{Type: raft.MsgApp, From: 1, To: 2, Entries: []raft.Entry{},
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 1, Peers: []uint64{}}}}
	got := overTheWire(t, m)
	if got.Entries != nil || got.Snapshot.Meta.Peers != nil {
		t.Errorf("got Entries %#v, Peers %#v; want both nil", got.Entries, got.Snapshot.Meta.Peers)
	}
}

func TestMessageTypesMatchWire(t *testing.T) {
	n := len(raftpb.MessageType_name)
	for i := range n {
		if got, want := raftpb.MessageType(i).String(), raft.MessageType(i).String(); got != want {
			t.Errorf("wire type %d is %s, raft type %d is %s", i, got, i, want)
		}
	}
	if s := raft.MessageType(n).String(); s != "MsgUnknown" {
		t.Errorf("raft type %d is %s but has no wire type; add it to raft.proto", n, s)
	}
}

func TestLocalAndUnknownTypesRefused(t *testing.T) {
	for _, pt := range []raftpb.MessageType{
		raftpb.MessageType_MsgHup, raftpb.MessageType_MsgProp,
		raftpb.MessageType_MsgUnreachable, raftpb.MessageType_MsgSnapStatus, 99, -1,
	} {
		if _, err := messageFromPB(&raftpb.Message{Type: pt}); err == nil {
			t.Errorf("type %v accepted from the wire", pt)
		}
	}
}
