package kv

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/system/raft"
)

// stateLog feeds commands to a state machine as committed entries at
// increasing indexes, as a raft.Node would, and collects their results.
type stateLog struct {
	t     *testing.T
	st    *state
	index uint64
	reqID uint64
}

func newStateLog(t *testing.T, maxSessions int) *stateLog {
	return &stateLog{t: t, st: newState(maxSessions)}
}

// apply applies cmd as the next entry and returns its result.
func (l *stateLog) apply(cmd *kvpb.Command) applyResult {
	l.t.Helper()
	l.reqID++
	cmd.RequestId = l.reqID
	data, err := proto.Marshal(cmd)
	if err != nil {
		l.t.Fatal(err)
	}
	done := l.st.results.Wait(cmd.RequestId)
	l.index++
	l.st.Apply([]raft.Entry{{Term: 1, Index: l.index, Data: data}})
	select {
	case r := <-done:
		return r
	default:
		l.t.Fatalf("no result for the command at index %d", l.index)
		return applyResult{}
	}
}

// txn applies a transaction in the session (client, seq); client 0 means
// no session.
func (l *stateLog) txn(client, seq uint64, req *kvpb.TxnRequest) (*kvpb.TxnResponse, error) {
	l.t.Helper()
	if client != 0 {
		req.Session = &kvpb.Session{ClientId: client, Seq: seq}
	}
	r := l.apply(&kvpb.Command{Txn: req})
	return r.txn, r.err
}

// mustTxn is txn for transactions that must apply.
func (l *stateLog) mustTxn(client, seq uint64, ops ...*kvpb.Op) *kvpb.TxnResponse {
	l.t.Helper()
	resp, err := l.txn(client, seq, &kvpb.TxnRequest{Success: ops})
	if err != nil {
		l.t.Fatalf("txn (client %d seq %d) at index %d: %v", client, seq, l.index, err)
	}
	return resp
}

func (l *stateLog) value(key string) (string, bool) {
	r := l.st.read(key)
	if !r.Found {
		return "", false
	}
	return string(r.Kv.Value), true
}

func putOp(key, value string) *kvpb.Op {
	return &kvpb.Op{Op: &kvpb.Op_Put{Put: &kvpb.PutRequest{Key: key, Value: []byte(value)}}}
}

func appendOp(key, value string) *kvpb.Op {
	return &kvpb.Op{Op: &kvpb.Op_Append{Append: &kvpb.AppendRequest{Key: key, Value: []byte(value)}}}
}

func getOp(key string) *kvpb.Op {
	return &kvpb.Op{Op: &kvpb.Op_Get{Get: &kvpb.GetRequest{Key: key}}}
}

func deleteOp(key string) *kvpb.Op {
	return &kvpb.Op{Op: &kvpb.Op_Delete{Delete: &kvpb.DeleteRequest{Key: key}}}
}

func TestStateAppliesEveryOpKind(t *testing.T) {
	l := newStateLog(t, 0)

	put := l.mustTxn(0, 0, putOp("a", "1"))
	if v := put.Results[0].GetPut().Version; v != l.index || put.Version != l.index {
		t.Fatalf("put version = %d, txn version %d; want the entry index %d", v, put.Version, l.index)
	}
	putIndex := l.index

	get := l.mustTxn(0, 0, getOp("a"), getOp("missing")).Results
	if g := get[0].GetGet(); !g.Found || string(g.Kv.Value) != "1" || g.Kv.Version != putIndex {
		t.Fatalf("get a = %v; want 1 at version %d", g, putIndex)
	}
	if g := get[1].GetGet(); g.Found {
		t.Fatalf("get missing = %v; want not found", g)
	}

	if a := l.mustTxn(0, 0, appendOp("a", "2")).Results[0].GetAppend(); string(a.Value) != "12" || a.Version != l.index {
		t.Fatalf("append to a = %q at %d; want 12 at %d", a.Value, a.Version, l.index)
	}
	if a := l.mustTxn(0, 0, appendOp("b", "x")).Results[0].GetAppend(); string(a.Value) != "x" {
		t.Fatalf("append to absent b = %q; want x", a.Value)
	}

	// A read through the log (read mode "log") sees the state at its index.
	if r := l.apply(&kvpb.Command{Get: &kvpb.GetRequest{Key: "a"}}); r.err != nil || string(r.get.Kv.Value) != "12" {
		t.Fatalf("log read of a = %v, %v; want 12", r.get, r.err)
	}

	if d := l.mustTxn(0, 0, deleteOp("a")).Results[0].GetDelete(); !d.Deleted {
		t.Fatal("delete a: Deleted = false; want true")
	}
	if d := l.mustTxn(0, 0, deleteOp("a")).Results[0].GetDelete(); d.Deleted {
		t.Fatal("delete a again: Deleted = true; want false")
	}
	if v, ok := l.value("a"); ok {
		t.Fatalf("a = %q after delete; want absent", v)
	}

	// Ops in one transaction apply in order, at one version.
	resp := l.mustTxn(0, 0, putOp("c", "p"), appendOp("c", "q"), getOp("c"))
	if g := resp.Results[2].GetGet(); string(g.Kv.Value) != "pq" || g.Kv.Version != l.index {
		t.Fatalf("get after put+append in one txn = %v; want pq at %d", g, l.index)
	}

	// A new leader's empty entry is skipped; an undecodable one reports
	// why to its proposer (id 0 here).
	l.index++
	l.st.Apply([]raft.Entry{{Term: 2, Index: l.index}})
	garbled := l.st.results.Wait(0)
	l.index++
	l.st.Apply([]raft.Entry{{Term: 2, Index: l.index, Data: []byte{0xff, 0xff}}})
	if r := <-garbled; r.err == nil {
		t.Fatal("undecodable entry applied without an error")
	}
}

func TestStateTxnCompares(t *testing.T) {
	l := newStateLog(t, 0)
	l.mustTxn(0, 0, putOp("k", "m"))
	ver := l.index

	value := func(key string, op kvpb.Compare_Op, v string) *kvpb.Compare {
		return &kvpb.Compare{Key: key, Target: kvpb.Compare_VALUE, Op: op, Value: []byte(v)}
	}
	version := func(key string, op kvpb.Compare_Op, v uint64) *kvpb.Compare {
		return &kvpb.Compare{Key: key, Target: kvpb.Compare_VERSION, Op: op, Version: v}
	}
	const (
		eq = kvpb.Compare_EQUAL
		ne = kvpb.Compare_NOT_EQUAL
		lt = kvpb.Compare_LESS
		gt = kvpb.Compare_GREATER
	)
	tests := []struct {
		name     string
		compares []*kvpb.Compare
		want     bool
	}{
		{"no compares", nil, true},
		{"value equal", []*kvpb.Compare{value("k", eq, "m")}, true},
		{"value equal, differs", []*kvpb.Compare{value("k", eq, "n")}, false},
		{"value not equal", []*kvpb.Compare{value("k", ne, "n")}, true},
		{"value not equal, same", []*kvpb.Compare{value("k", ne, "m")}, false},
		{"value less", []*kvpb.Compare{value("k", lt, "n")}, true},
		{"value less, greater", []*kvpb.Compare{value("k", lt, "l")}, false},
		{"value less, equal", []*kvpb.Compare{value("k", lt, "m")}, false},
		{"value greater", []*kvpb.Compare{value("k", gt, "l")}, true},
		{"value greater, less", []*kvpb.Compare{value("k", gt, "z")}, false},
		{"value greater, prefix", []*kvpb.Compare{value("k", gt, "")}, true},
		{"version equal", []*kvpb.Compare{version("k", eq, ver)}, true},
		{"version equal, differs", []*kvpb.Compare{version("k", eq, ver+1)}, false},
		{"version not equal", []*kvpb.Compare{version("k", ne, 0)}, true},
		{"version less", []*kvpb.Compare{version("k", lt, ver+1)}, true},
		{"version less, equal", []*kvpb.Compare{version("k", lt, ver)}, false},
		{"version greater", []*kvpb.Compare{version("k", gt, ver-1)}, true},
		{"version greater, equal", []*kvpb.Compare{version("k", gt, ver)}, false},
		// An absent key has version 0 and no value at all: unequal to
		// every value, the empty one included, and ordered against none.
		{"absent version equal 0", []*kvpb.Compare{version("none", eq, 0)}, true},
		{"absent version less 1", []*kvpb.Compare{version("none", lt, 1)}, true},
		{"absent version greater 0", []*kvpb.Compare{version("none", gt, 0)}, false},
		{"absent value equal empty", []*kvpb.Compare{value("none", eq, "")}, false},
		{"absent value not equal empty", []*kvpb.Compare{value("none", ne, "")}, true},
		{"absent value less", []*kvpb.Compare{value("none", lt, "a")}, false},
		{"absent value greater", []*kvpb.Compare{value("none", gt, "")}, false},
		{"all hold", []*kvpb.Compare{value("k", eq, "m"), version("none", eq, 0)}, true},
		{"one fails", []*kvpb.Compare{value("k", eq, "m"), version("none", ne, 0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.index
			resp, err := l.txn(0, 0, &kvpb.TxnRequest{
				Compares: tt.compares,
				Success:  []*kvpb.Op{putOp("branch", "success")},
				Failure:  []*kvpb.Op{putOp("branch", "failure"), getOp("k")},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := map[bool]string{true: "success", false: "failure"}[tt.want]
			if got, _ := l.value("branch"); resp.Succeeded != tt.want || got != want {
				t.Fatalf("Succeeded = %v, branch %s; want %v, %s", resp.Succeeded, got, tt.want, want)
			}
			if wantResults := map[bool]int{true: 1, false: 2}[tt.want]; len(resp.Results) != wantResults {
				t.Fatalf("%d results; want %d, one per op of the branch taken", len(resp.Results), wantResults)
			}
			if resp.Version != before+1 {
				t.Fatalf("txn version %d; want %d", resp.Version, before+1)
			}
		})
	}
}

func TestStateAppliesEachSessionWriteOnce(t *testing.T) {
	l := newStateLog(t, 0)
	first := l.mustTxn(7, 1, appendOp("log", "a"))
	// The same write retried (a client that did not hear back), now in a
	// later entry: answered as the first time, not applied again.
	retry := l.mustTxn(7, 1, appendOp("log", "a"))
	if !proto.Equal(first, retry) {
		t.Fatalf("retry answered %v; want the first answer %v", retry, first)
	}
	if v, _ := l.value("log"); v != "a" {
		t.Fatalf("log = %q after a write and its retry; want a", v)
	}
	// Another client's write with the same sequence number is its own.
	l.mustTxn(8, 1, appendOp("log", "b"))
	l.mustTxn(7, 2, appendOp("log", "c"))
	if v, _ := l.value("log"); v != "abc" {
		t.Fatalf("log = %q; want abc", v)
	}
	// A session-less write is applied every time.
	l.mustTxn(0, 0, appendOp("log", "d"))
	l.mustTxn(0, 0, appendOp("log", "d"))
	if v, _ := l.value("log"); v != "abcdd" {
		t.Fatalf("log = %q; want abcdd", v)
	}
}

func TestStateRefusesStaleSequence(t *testing.T) {
	l := newStateLog(t, 0)
	l.mustTxn(7, 1, putOp("k", "1"))
	l.mustTxn(7, 2, putOp("k", "2"))
	// A delayed duplicate of write 1, arriving after write 2.
	_, err := l.txn(7, 1, &kvpb.TxnRequest{Success: []*kvpb.Op{putOp("k", "1")}})
	if !errors.Is(err, ErrStaleRequest) {
		t.Fatalf("stale write: err = %v; want ErrStaleRequest", err)
	}
	if v, _ := l.value("k"); v != "2" {
		t.Fatalf("k = %q after a stale write; want 2", v)
	}
}

func TestStateEvictsLeastRecentlyUsedSession(t *testing.T) {
	l := newStateLog(t, 2)
	l.mustTxn(1, 1, appendOp("k", "a"))
	l.mustTxn(2, 1, appendOp("k", "b"))
	// A retry by client 1 uses its session, so client 2's is now the
	// least recently used and goes when client 3 arrives.
	l.mustTxn(1, 1, appendOp("k", "a"))
	l.mustTxn(3, 1, appendOp("k", "c"))

	if _, err := l.txn(2, 2, &kvpb.TxnRequest{Success: []*kvpb.Op{appendOp("k", "B")}}); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("write by the evicted client 2: err = %v; want ErrSessionExpired", err)
	}
	if _, err := l.txn(1, 2, &kvpb.TxnRequest{Success: []*kvpb.Op{appendOp("k", "A")}}); err != nil {
		t.Fatalf("write by the kept client 1: %v", err)
	}
	if v, _ := l.value("k"); v != "abcA" {
		t.Fatalf("k = %q; want abcA", v)
	}
}

func TestStateSnapshotRestoresDataAndSessions(t *testing.T) {
	l := newStateLog(t, 3)
	l.mustTxn(1, 1, putOp("a", "1"))
	l.mustTxn(2, 1, putOp("b", "2"))
	last := l.mustTxn(1, 2, appendOp("a", "x"))
	l.mustTxn(3, 1, deleteOp("b"))
	l.mustTxn(0, 0, putOp("c", "3"))

	data, err := l.st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := &stateLog{t: t, st: newState(3), index: l.index, reqID: l.reqID}
	if err := restored.st.Restore(raft.Snapshot{Meta: raft.SnapshotMeta{Index: l.index, Term: 1}, Data: data}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b", "c"} {
		want, wantOK := l.value(key)
		if got, ok := restored.value(key); got != want || ok != wantOK {
			t.Fatalf("%s = %q, %v after restore; want %q, %v", key, got, ok, want, wantOK)
		}
	}

	// The dedup table came along: a retry of client 1's last write is
	// answered from it, an older write is stale, and the LRU order holds
	// (client 2 is the least recently used, so a new client evicts it).
	retry := restored.mustTxn(1, 2, appendOp("a", "x"))
	if !proto.Equal(retry, last) {
		t.Fatalf("retry after restore answered %v; want the first answer %v", retry, last)
	}
	if v, _ := restored.value("a"); v != "1x" {
		t.Fatalf("a = %q after a retry following restore; want 1x", v)
	}
	if _, err := restored.txn(1, 1, &kvpb.TxnRequest{Success: []*kvpb.Op{putOp("a", "1")}}); !errors.Is(err, ErrStaleRequest) {
		t.Fatalf("stale write after restore: err = %v; want ErrStaleRequest", err)
	}
	restored.mustTxn(4, 1, putOp("d", "4"))
	if _, err := restored.txn(2, 2, &kvpb.TxnRequest{Success: []*kvpb.Op{putOp("b", "x")}}); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("write by client 2 after eviction: err = %v; want ErrSessionExpired", err)
	}
}

func TestStateSnapshotBytesAreDeterministic(t *testing.T) {
	// Two replicas applying the same log; their maps iterate in
	// different orders.
	build := func(keys []string) *stateLog {
		l := newStateLog(t, 0)
		for i, key := range keys {
			l.mustTxn(uint64(i+1), 1, putOp(key, "v"))
		}
		l.mustTxn(0, 0, deleteOp(keys[0]))
		return l
	}
	snapshot := func(l *stateLog) []byte {
		data, err := l.st.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	keys := []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"}
	a, b := build(keys), build(keys)
	first := snapshot(a)
	for range 10 { // and differ from call to call
		if !bytes.Equal(first, snapshot(a)) || !bytes.Equal(first, snapshot(b)) {
			t.Fatal("snapshots of equal states differ")
		}
	}
}

// TestCaptureIsUnchangedByLaterApplies: a capture encodes to what
// Snapshot returned when it was taken, whatever is applied after it:
// puts, appends (to a value shared with the capture), deletes, retries
// and new sessions that evict old ones.
func TestCaptureIsUnchangedByLaterApplies(t *testing.T) {
	l := newStateLog(t, 3)
	l.mustTxn(1, 1, putOp("a", "1"))
	l.mustTxn(2, 1, appendOp("b", "x"))
	l.mustTxn(3, 1, putOp("c", "3"))
	want, err := l.st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	encode := l.st.CaptureSnapshot()

	l.mustTxn(1, 2, putOp("a", "2"))
	l.mustTxn(2, 2, appendOp("b", "y"))
	l.mustTxn(0, 0, deleteOp("c"))
	l.mustTxn(1, 2, putOp("a", "2")) // a retry, answered from its session
	l.mustTxn(4, 1, putOp("d", "4")) // evicts client 3's session
	l.mustTxn(5, 1, putOp("e", "5"))

	got, err := encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the capture's image differs from the snapshot taken with it")
	}
	if now, _ := l.st.Snapshot(); bytes.Equal(now, want) {
		t.Fatal("the state did not change after the capture; the test tests nothing")
	}
}
