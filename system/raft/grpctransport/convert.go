package grpctransport

import (
	"fmt"

	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/raftpb"
)

// Conversions between raft's types and their wire forms. Bytes fields keep
// nil apart from empty (raft.Entry gives nil Data a meaning); repeated
// fields cannot, so an empty Entries or Peers arrives as nil, which raft
// treats the same.

// messageToPB converts m to its wire form. The result shares m's byte
// slices, so m must not change until the result has been marshalled.
func messageToPB(m *raft.Message) *raftpb.Message {
	pm := &raftpb.Message{
		Type:       raftpb.MessageType(m.Type),
		From:       m.From,
		To:         m.To,
		Term:       m.Term,
		LogTerm:    m.LogTerm,
		Index:      m.Index,
		Commit:     m.Commit,
		Reject:     m.Reject,
		RejectHint: m.RejectHint,
		Context:    m.Context,
	}
	if len(m.Entries) > 0 {
		// One allocation for all entries instead of one each: a MsgApp
		// may carry hundreds.
		block := make([]raftpb.Entry, len(m.Entries))
		pm.Entries = make([]*raftpb.Entry, len(m.Entries))
		for i := range m.Entries {
			e := &block[i]
			e.Term, e.Index, e.Data = m.Entries[i].Term, m.Entries[i].Index, m.Entries[i].Data
			pm.Entries[i] = e
		}
	}
	if m.Snapshot != nil {
		pm.Snapshot = &raftpb.Snapshot{
			Meta: &raftpb.SnapshotMeta{
				Index: m.Snapshot.Meta.Index,
				Term:  m.Snapshot.Meta.Term,
				Peers: m.Snapshot.Meta.Peers,
			},
			Data: m.Snapshot.Data,
		}
	}
	return pm
}

// messageFromPB converts a received message back, refusing types that are
// unknown or never cross the wire. The result shares pm's byte slices,
// which the protobuf decoder allocated afresh for pm.
func messageFromPB(pm *raftpb.Message) (raft.Message, error) {
	if pt := pm.GetType(); pt < 0 || pt > raftpb.MessageType_MsgUnreachable || raft.MessageType(pt).IsLocal() {
		return raft.Message{}, fmt.Errorf("message type %v (%d) is not sent between peers", pt, int32(pt))
	}
	m := raft.Message{
		Type:       raft.MessageType(pm.GetType()),
		From:       pm.GetFrom(),
		To:         pm.GetTo(),
		Term:       pm.GetTerm(),
		LogTerm:    pm.GetLogTerm(),
		Index:      pm.GetIndex(),
		Commit:     pm.GetCommit(),
		Reject:     pm.GetReject(),
		RejectHint: pm.GetRejectHint(),
		Context:    pm.GetContext(),
	}
	if len(pm.GetEntries()) > 0 {
		m.Entries = make([]raft.Entry, len(pm.Entries))
		for i, e := range pm.Entries {
			m.Entries[i] = raft.Entry{Term: e.GetTerm(), Index: e.GetIndex(), Data: e.GetData()}
		}
	}
	if ps := pm.GetSnapshot(); ps != nil {
		meta := ps.GetMeta()
		m.Snapshot = &raft.Snapshot{
			Meta: raft.SnapshotMeta{
				Index: meta.GetIndex(),
				Term:  meta.GetTerm(),
				Peers: meta.GetPeers(),
			},
			Data: ps.GetData(),
		}
	}
	return m, nil
}

// wireSize estimates the encoded size of m, to keep one call's envelope
// under the receiver's message size limit without marshalling twice. It
// counts payload bytes exactly and generously bounds everything else.
func wireSize(m *raft.Message) int {
	const fixed = 128 // the scalar fields and their tags
	const perEntry = 32
	n := fixed + len(m.Context)
	for i := range m.Entries {
		n += perEntry + len(m.Entries[i].Data)
	}
	if m.Snapshot != nil {
		n += fixed + 10*len(m.Snapshot.Meta.Peers) + len(m.Snapshot.Data)
	}
	return n
}
