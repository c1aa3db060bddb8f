package kv

import (
	"bytes"
	"cmp"
	"container/list"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/internal/pending"
	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/system/raft"
)

// DefaultMaxSessions bounds the deduplication table. Sessions are evicted
// least recently used first; a client idle through that many other
// clients' writes loses exactly-once protection for a retry of its last
// write, and is told so (ErrSessionExpired) rather than applied twice.
const DefaultMaxSessions = 10000

// state is the replicated KV state machine: the keys, and the session
// table that makes writes exactly-once. It is applied by the raft.Node's
// goroutine and read by RPC handlers, hence the lock.
type state struct {
	mu          sync.RWMutex
	data        *keyspace
	sessions    map[uint64]*list.Element // of *kvpb.SessionRecord
	lru         *list.List               // least recently used at the front
	maxSessions int

	// results reach the RPCs on this node waiting for the commands they
	// proposed, by request id.
	results pending.Results[applyResult]
}

type applyResult struct {
	txn *kvpb.TxnResponse
	get *kvpb.GetResponse
	err error
}

func newState(maxSessions int) *state {
	if maxSessions <= 0 {
		maxSessions = DefaultMaxSessions
	}
	return &state{
		data:        newKeyspace(),
		sessions:    make(map[uint64]*list.Element),
		lru:         list.New(),
		maxSessions: maxSessions,
	}
}

// Apply implements raft.StateMachine.
func (s *state) Apply(ents []raft.Entry) {
	s.mu.Lock()
	type delivery struct {
		id uint64
		r  applyResult
	}
	results := make([]delivery, 0, len(ents))
	for _, e := range ents {
		if e.Data == nil {
			continue // a new leader's empty entry
		}
		var cmd kvpb.Command
		if err := proto.Unmarshal(e.Data, &cmd); err != nil {
			// Every replica fails the same way on the same entry, so the
			// state stays identical. The proposer hears why if the request
			// id was decoded; otherwise no result reaches it.
			results = append(results, delivery{cmd.RequestId, applyResult{err: fmt.Errorf("kv: undecodable command at index %d: %w", e.Index, err)}})
			continue
		}
		var r applyResult
		switch {
		case cmd.Txn != nil:
			r.txn, r.err = s.applyTxn(e.Index, cmd.Txn)
		case cmd.Get != nil:
			r.get = s.get(cmd.Get.Key)
		default:
			r.err = fmt.Errorf("kv: empty command at index %d", e.Index)
		}
		results = append(results, delivery{cmd.RequestId, r})
	}
	s.mu.Unlock()
	for _, res := range results {
		s.results.Deliver(res.id, res.r)
	}
}

// applyTxn runs a transaction once per session sequence number.
func (s *state) applyTxn(index uint64, txn *kvpb.TxnRequest) (*kvpb.TxnResponse, error) {
	sess := txn.Session
	if sess == nil || sess.ClientId == 0 {
		return s.execTxn(index, txn), nil
	}
	if el, ok := s.sessions[sess.ClientId]; ok {
		rec := el.Value.(*kvpb.SessionRecord)
		switch {
		case sess.Seq == rec.Seq:
			s.lru.MoveToBack(el)
			return rec.Response, nil // a retry: answer as the first time
		case sess.Seq < rec.Seq:
			return nil, fmt.Errorf("%w: client %d sent seq %d after %d", ErrStaleRequest, sess.ClientId, sess.Seq, rec.Seq)
		}
	} else if sess.Seq > 1 && s.lru.Len() >= s.maxSessions {
		// A client's first write is seq 1. A later one without a session,
		// once the table has been full (so has evicted), may be the retry
		// of a write already applied: refuse it rather than risk applying
		// it twice. The client starts a new session.
		return nil, fmt.Errorf("%w: client %d seq %d", ErrSessionExpired, sess.ClientId, sess.Seq)
	}
	resp := s.execTxn(index, txn)
	s.remember(&kvpb.SessionRecord{ClientId: sess.ClientId, Seq: sess.Seq, Response: resp})
	return resp, nil
}

func (s *state) remember(rec *kvpb.SessionRecord) {
	if el, ok := s.sessions[rec.ClientId]; ok {
		el.Value = rec
		s.lru.MoveToBack(el)
		return
	}
	s.sessions[rec.ClientId] = s.lru.PushBack(rec)
	for s.lru.Len() > s.maxSessions {
		oldest := s.lru.Front()
		s.lru.Remove(oldest)
		delete(s.sessions, oldest.Value.(*kvpb.SessionRecord).ClientId)
	}
}

func (s *state) execTxn(index uint64, txn *kvpb.TxnRequest) *kvpb.TxnResponse {
	ok := true
	for _, c := range txn.Compares {
		if !s.compare(c) {
			ok = false
			break
		}
	}
	ops := txn.Success
	if !ok {
		ops = txn.Failure
	}
	resp := &kvpb.TxnResponse{Succeeded: ok, Version: index, Results: make([]*kvpb.OpResult, len(ops))}
	for i, op := range ops {
		resp.Results[i] = s.execOp(index, op)
	}
	return resp
}

func (s *state) compare(c *kvpb.Compare) bool {
	value, version, found := s.data.get(c.Key)
	var order int
	switch c.Target {
	case kvpb.Compare_VERSION:
		order = cmp.Compare(version, c.Version)
	default:
		if !found {
			// An absent key has no value: only NOT_EQUAL holds.
			return c.Op == kvpb.Compare_NOT_EQUAL
		}
		order = bytes.Compare(value, c.Value)
	}
	switch c.Op {
	case kvpb.Compare_EQUAL:
		return order == 0
	case kvpb.Compare_NOT_EQUAL:
		return order != 0
	case kvpb.Compare_LESS:
		return order < 0
	case kvpb.Compare_GREATER:
		return order > 0
	}
	return false
}

func (s *state) execOp(index uint64, op *kvpb.Op) *kvpb.OpResult {
	switch o := op.Op.(type) {
	case *kvpb.Op_Get:
		return &kvpb.OpResult{Result: &kvpb.OpResult_Get{Get: s.get(o.Get.Key)}}
	case *kvpb.Op_Put:
		s.data.put(o.Put.Key, o.Put.Value, index)
		return &kvpb.OpResult{Result: &kvpb.OpResult_Put{Put: &kvpb.PutResponse{Version: index}}}
	case *kvpb.Op_Append:
		old, _, _ := s.data.get(o.Append.Key)
		value := slices.Concat(old, o.Append.Value)
		s.data.put(o.Append.Key, value, index)
		return &kvpb.OpResult{Result: &kvpb.OpResult_Append{Append: &kvpb.AppendResponse{Version: index, Value: value}}}
	case *kvpb.Op_Delete:
		found := s.data.remove(o.Delete.Key)
		return &kvpb.OpResult{Result: &kvpb.OpResult_Delete{Delete: &kvpb.DeleteResponse{Deleted: found}}}
	}
	return &kvpb.OpResult{}
}

// get reads a key; the caller holds mu.
func (s *state) get(key string) *kvpb.GetResponse {
	value, version, found := s.data.get(key)
	if !found {
		return &kvpb.GetResponse{}
	}
	// value aliases the keyspace's arena, whose records never change.
	return &kvpb.GetResponse{Found: true, Kv: &kvpb.KeyValue{Key: key, Value: value, Version: version}}
}

// read reads a key from the local state, for reads already made
// linearizable by the caller (or deliberately not, for the planted bug).
func (s *state) read(key string) *kvpb.GetResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.get(key)
}

func (s *state) size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.data.len()
}

// Snapshot implements raft.StateMachine.
func (s *state) Snapshot() ([]byte, error) { return s.capture().encode() }

// CaptureSnapshot implements raft.SnapshotCapturer: the Raft goroutine
// only gathers where the keys' records are in the keyspace's arena, and
// the pointers to the session records; none of them is changed once
// stored (every write stores a new record). Sorting and encoding happen
// on the goroutine that calls encode.
func (s *state) CaptureSnapshot() (encode func() ([]byte, error)) { return s.capture().encode }

var _ raft.SnapshotCapturer = (*state)(nil)

// capture is the state's records at this moment.
func (s *state) capture() capturedState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := capturedState{kvs: s.data.view(), sessions: make([]*kvpb.SessionRecord, 0, s.lru.Len())}
	for el := s.lru.Front(); el != nil; el = el.Next() {
		c.sessions = append(c.sessions, el.Value.(*kvpb.SessionRecord))
	}
	return c
}

// capturedState is a snapshot's records, not yet encoded.
type capturedState struct {
	kvs      view
	sessions []*kvpb.SessionRecord // least recently used first
}

func (c capturedState) encode() ([]byte, error) {
	// Deterministic bytes: replicas' snapshots of one state compare equal.
	// The bytes are those of proto's deterministic marshal of a
	// kvpb.Snapshot: kvs in key order, then sessions.
	b := c.kvs.appendSnapshotKVs(make([]byte, 0, c.kvs.snapshotKVsSize()))
	marshal := proto.MarshalOptions{Deterministic: true}
	for _, rec := range c.sessions {
		b = protowire.AppendTag(b, snapshotSessionsField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(marshal.Size(rec)))
		var err error
		if b, err = marshal.MarshalAppend(b, rec); err != nil {
			return nil, fmt.Errorf("kv: encode session %d: %w", rec.ClientId, err)
		}
	}
	return b, nil
}

// Restore implements raft.StateMachine.
func (s *state) Restore(rs raft.Snapshot) error {
	var snap kvpb.Snapshot
	// Fields older nodes wrote (see kv.proto's reserved numbers) are
	// dropped, so that a snapshot taken after this one is the same bytes
	// on every replica.
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rs.Data, &snap); err != nil {
		return fmt.Errorf("kv: decode snapshot at index %d: %w", rs.Meta.Index, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = newKeyspace()
	for _, kv := range snap.Kvs {
		s.data.put(kv.Key, kv.Value, kv.Version)
	}
	s.sessions = make(map[uint64]*list.Element, len(snap.Sessions))
	s.lru = list.New()
	for _, rec := range snap.Sessions {
		s.sessions[rec.ClientId] = s.lru.PushBack(rec)
	}
	return nil
}
