package percolator

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/system/raft"
)

// Timestamps in these tests: physical milliseconds 1000, 2000, ... so
// that ttls in milliseconds make sense.
func ts(ms uint64) uint64 { return ComposeTS(ms, 0) }

const ttl = 500 // ms

func put(key, value string) *pb.Mutation {
	return &pb.Mutation{Op: pb.Mutation_PUT, Key: []byte(key), Value: []byte(value)}
}

func del(key string) *pb.Mutation { return &pb.Mutation{Op: pb.Mutation_DELETE, Key: []byte(key)} }

func keys(ks ...string) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = []byte(k)
	}
	return out
}

// prewrite prewrites muts with the first one's key as the primary.
func prewrite(m *mvcc, start uint64, muts ...*pb.Mutation) *pb.PrewriteResponse {
	return m.prewrite(&pb.PrewriteRequest{Mutations: muts, Primary: muts[0].Key, StartTs: start, LockTtlMs: ttl})
}

// mustCommitTxn prewrites and commits muts as one transaction.
func mustCommitTxn(t testing.TB, m *mvcc, start, commit uint64, muts ...*pb.Mutation) {
	t.Helper()
	if resp := prewrite(m, start, muts...); len(resp.Errors) > 0 {
		t.Fatalf("prewrite at %d: %v", start, resp.Errors)
	}
	var ks [][]byte
	for _, mut := range muts {
		ks = append(ks, mut.Key)
	}
	if err := m.commit(ks, start, commit); err != nil {
		t.Fatalf("commit %d at %d: %v", start, commit, err)
	}
}

// expectValue checks what Get(key, at) answers.
func expectValue(t *testing.T, m *mvcc, key string, at uint64, want string, wantFound bool) {
	t.Helper()
	resp := m.get([]byte(key), at)
	if resp.Error != nil {
		t.Fatalf("get %q at %d: %v", key, at, resp.Error)
	}
	if resp.Found != wantFound || string(resp.Value) != want {
		t.Fatalf("get %q at %d = (%q, found %v), want (%q, found %v)", key, at, resp.Value, resp.Found, want, wantFound)
	}
}

func expectLocked(t *testing.T, m *mvcc, key string, at, lockTS uint64) {
	t.Helper()
	resp := m.get([]byte(key), at)
	if l := resp.GetError().GetLocked(); l == nil || l.StartTs != lockTS || string(l.Key) != key {
		t.Fatalf("get %q at %d = %v, want locked by %d", key, at, resp, lockTS)
	}
}

func TestGetReadsTheVersionOfItsTimestamp(t *testing.T) {
	m := newMVCC(Bugs{})
	mustCommitTxn(t, m, ts(10), ts(11), put("k", "v1"))
	mustCommitTxn(t, m, ts(20), ts(21), put("k", "v2"))
	mustCommitTxn(t, m, ts(30), ts(31), del("k"))
	mustCommitTxn(t, m, ts(40), ts(41), put("k", "v4"))
	for _, tc := range []struct {
		at    uint64
		want  string
		found bool
	}{
		{ts(5), "", false},
		{ts(10), "", false}, // started, not committed at 10
		{ts(11), "v1", true},
		{ts(25), "v2", true},
		{ts(31), "", false}, // deleted
		{ts(39), "", false},
		{ts(41), "v4", true},
		{ts(99), "v4", true},
	} {
		expectValue(t, m, "k", tc.at, tc.want, tc.found)
	}
	if resp := m.get([]byte("k"), ts(25)); resp.CommitTs != ts(21) {
		t.Errorf("get at %d: commit_ts %d, want %d", ts(25), resp.CommitTs, ts(21))
	}
	expectValue(t, m, "other", ts(99), "", false)
}

func TestGetSkipsRollbackRecords(t *testing.T) {
	m := newMVCC(Bugs{})
	mustCommitTxn(t, m, ts(10), ts(11), put("k", "v1"))
	prewrite(m, ts(20), put("k", "doomed"))
	if err := m.rollback(keys("k"), ts(20)); err != nil {
		t.Fatal(err)
	}
	expectValue(t, m, "k", ts(30), "v1", true)
}

func TestGetReportsLocksAtOrBeforeItsTimestamp(t *testing.T) {
	m := newMVCC(Bugs{})
	mustCommitTxn(t, m, ts(10), ts(11), put("k", "v1"))
	prewrite(m, ts(20), put("k", "v2"))
	expectLocked(t, m, "k", ts(20), ts(20))
	expectLocked(t, m, "k", ts(30), ts(20))
	// A lock taken after the read's timestamp cannot commit below it.
	expectValue(t, m, "k", ts(15), "v1", true)

	lock := m.get([]byte("k"), ts(30)).Error.Locked
	if string(lock.Primary) != "k" || lock.TtlMs != ttl || lock.Kind != pb.Mutation_PUT {
		t.Errorf("lock = %v, want primary k, ttl %d, kind PUT", lock, ttl)
	}
}

func TestGetIgnoresLocksBug(t *testing.T) {
	m := newMVCC(Bugs{GetIgnoresLocks: true})
	mustCommitTxn(t, m, ts(10), ts(11), put("k", "v1"))
	prewrite(m, ts(20), put("k", "v2"))
	expectValue(t, m, "k", ts(30), "v1", true)
}

func TestPrewrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bugs  Bugs
		setup func(t *testing.T, m *mvcc)
		muts  []*pb.Mutation
		start uint64
		// check inspects the one error expected, or is nil for success.
		check func(t *testing.T, ke *pb.KeyError)
	}{
		{
			name:  "fresh keys",
			setup: func(t *testing.T, m *mvcc) {},
			muts:  []*pb.Mutation{put("a", "1"), del("b")},
			start: ts(20),
		},
		{
			name:  "write committed before start",
			setup: func(t *testing.T, m *mvcc) { mustCommitTxn(t, m, ts(10), ts(11), put("a", "0")) },
			muts:  []*pb.Mutation{put("a", "1")},
			start: ts(20),
		},
		{
			name:  "write committed after start",
			setup: func(t *testing.T, m *mvcc) { mustCommitTxn(t, m, ts(10), ts(25), put("a", "0")) },
			muts:  []*pb.Mutation{put("a", "1")},
			start: ts(20),
			check: func(t *testing.T, ke *pb.KeyError) {
				if c := ke.Conflict; c == nil || c.ConflictCommitTs != ts(25) || c.StartTs != ts(20) || string(c.Key) != "a" {
					t.Errorf("error %v, want a conflict with commit %d", ke, ts(25))
				}
			},
		},
		{
			name:  "write committed after start, conflict check skipped",
			bugs:  Bugs{SkipWriteConflictCheck: true},
			setup: func(t *testing.T, m *mvcc) { mustCommitTxn(t, m, ts(10), ts(25), put("a", "0")) },
			muts:  []*pb.Mutation{put("a", "1")},
			start: ts(20),
		},
		{
			name: "locked by another transaction",
			setup: func(t *testing.T, m *mvcc) {
				prewrite(m, ts(15), put("a", "0"))
			},
			muts:  []*pb.Mutation{put("a", "1")},
			start: ts(20),
			check: func(t *testing.T, ke *pb.KeyError) {
				if l := ke.Locked; l == nil || l.StartTs != ts(15) {
					t.Errorf("error %v, want locked by %d", ke, ts(15))
				}
			},
		},
		{
			name: "locked by this transaction: a retry",
			setup: func(t *testing.T, m *mvcc) {
				prewrite(m, ts(20), put("a", "1"))
			},
			muts:  []*pb.Mutation{put("a", "1")},
			start: ts(20),
		},
		{
			name: "rolled back before it arrived",
			setup: func(t *testing.T, m *mvcc) {
				if err := m.rollback(keys("a"), ts(20)); err != nil {
					t.Fatal(err)
				}
			},
			muts:  []*pb.Mutation{put("a", "1")},
			start: ts(20),
			check: expectRolledBackConflict,
		},
		{
			name: "rolled back before it arrived, conflict check skipped",
			bugs: Bugs{SkipWriteConflictCheck: true},
			setup: func(t *testing.T, m *mvcc) {
				if err := m.rollback(keys("a"), ts(20)); err != nil {
					t.Fatal(err)
				}
			},
			muts:  []*pb.Mutation{put("a", "1")},
			start: ts(20),
			check: expectRolledBackConflict,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMVCC(tc.bugs)
			tc.setup(t, m)
			// A free key alongside: it must be locked only if all are.
			muts := append(tc.muts, put("free", "x"))
			resp := prewrite(m, tc.start, muts...)
			locked := m.peek([]byte("free")).lock != nil
			if tc.check == nil {
				if len(resp.Errors) > 0 {
					t.Fatalf("prewrite refused: %v", resp.Errors)
				}
				for _, mut := range muts {
					l := m.peek(mut.Key).lock
					if l == nil || l.StartTs != tc.start || l.Kind != mut.Op || !bytes.Equal(l.Primary, muts[0].Key) {
						t.Errorf("key %q: lock %v, want one of %d", mut.Key, l, tc.start)
					}
				}
				return
			}
			if len(resp.Errors) != 1 {
				t.Fatalf("prewrite: errors %v, want exactly one", resp.Errors)
			}
			tc.check(t, resp.Errors[0])
			if locked {
				t.Error("a refused prewrite locked another key of the request")
			}
			if _, ok := m.data[dataKey{"free", tc.start}]; ok {
				t.Error("a refused prewrite stored another key's value")
			}
		})
	}
}

func expectRolledBackConflict(t *testing.T, ke *pb.KeyError) {
	t.Helper()
	if c := ke.Conflict; c == nil || c.ConflictCommitTs != 0 || c.StartTs != ts(20) {
		t.Errorf("error %v, want a conflict with this transaction's rollback (commit_ts 0)", ke)
	}
}

func TestPrewriteReportsEveryRefusedKey(t *testing.T) {
	m := newMVCC(Bugs{})
	prewrite(m, ts(10), put("a", "0"))
	mustCommitTxn(t, m, ts(11), ts(30), put("b", "0"))
	resp := prewrite(m, ts(20), put("a", "1"), put("b", "1"), put("c", "1"))
	if len(resp.Errors) != 2 || resp.Errors[0].Locked == nil || resp.Errors[1].Conflict == nil {
		t.Fatalf("errors %v, want a lock on a and a conflict on b", resp.Errors)
	}
}

func TestCommit(t *testing.T) {
	m := newMVCC(Bugs{})
	mustCommitTxn(t, m, ts(5), ts(6), put("b", "old"))
	prewrite(m, ts(20), put("a", "1"), del("b"))
	if err := m.commit(keys("a", "b"), ts(20), ts(25)); err != nil {
		t.Fatal(err)
	}
	expectValue(t, m, "a", ts(25), "1", true)
	expectValue(t, m, "b", ts(25), "", false)
	expectValue(t, m, "b", ts(24), "old", true)
	if l := m.peek([]byte("a")).lock; l != nil {
		t.Errorf("lock %v left after commit", l)
	}
	// A retry, whatever its commit_ts, changes nothing.
	if err := m.commit(keys("a", "b"), ts(20), ts(26)); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	if n := len(m.peek([]byte("a")).writes); n != 1 {
		t.Errorf("retried commit: %d write records, want 1", n)
	}
}

func TestCommitRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, m *mvcc)
	}{
		{"never prewritten", func(t *testing.T, m *mvcc) {}},
		{"rolled back", func(t *testing.T, m *mvcc) {
			prewrite(m, ts(20), put("a", "1"))
			if err := m.rollback(keys("a"), ts(20)); err != nil {
				t.Fatal(err)
			}
		}},
		{"locked by another transaction", func(t *testing.T, m *mvcc) {
			prewrite(m, ts(15), put("a", "1"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMVCC(Bugs{})
			tc.setup(t, m)
			prewrite(m, ts(20), put("ok", "1"))
			before := m.marshal()
			ke := m.commit(keys("ok", "a"), ts(20), ts(25))
			if !ke.GetTxnLockNotFound() {
				t.Fatalf("commit: %v, want txn_lock_not_found", ke)
			}
			if !bytes.Equal(m.marshal(), before) {
				t.Error("a refused commit changed the columns")
			}
		})
	}
}

func TestRollback(t *testing.T) {
	m := newMVCC(Bugs{})
	prewrite(m, ts(20), put("a", "1"))
	if err := m.rollback(keys("a", "never"), ts(20)); err != nil {
		t.Fatal(err)
	}
	if l := m.peek([]byte("a")).lock; l != nil {
		t.Errorf("lock %v left after rollback", l)
	}
	if _, ok := m.data[dataKey{"a", ts(20)}]; ok {
		t.Error("value left after rollback")
	}
	// Idempotent: one rollback record per key.
	if err := m.rollback(keys("a"), ts(20)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "never"} {
		if w := m.peek([]byte(k)).writes; len(w) != 1 || w[0].kind != writeRollback || w[0].startTS != ts(20) {
			t.Errorf("key %s: writes %v, want one rollback record", k, w)
		}
	}
	// Another transaction's lock stays.
	prewrite(m, ts(30), put("b", "1"))
	if err := m.rollback(keys("b"), ts(20)); err != nil {
		t.Fatal(err)
	}
	if l := m.peek([]byte("b")).lock; l == nil || l.StartTs != ts(30) {
		t.Errorf("rollback of another transaction removed lock %v", l)
	}
}

func TestRollbackOfCommittedIsRefused(t *testing.T) {
	m := newMVCC(Bugs{})
	mustCommitTxn(t, m, ts(20), ts(25), put("a", "1"))
	prewrite(m, ts(20), put("b", "1")) // not yet committed
	ke := m.rollback(keys("b", "a"), ts(20))
	if ke.GetCommittedTs() != ts(25) {
		t.Fatalf("rollback: %v, want committed_ts %d", ke, ts(25))
	}
	if m.peek([]byte("b")).lock == nil {
		t.Error("a refused rollback removed a lock")
	}
}

func checkStatus(m *mvcc, primary string, lockTS, current uint64) *pb.CheckTxnStatusResponse {
	return m.checkTxnStatus(&pb.CheckTxnStatusRequest{PrimaryKey: []byte(primary), LockTs: lockTS, CurrentTs: current})
}

func TestCheckTxnStatus(t *testing.T) {
	t.Run("locked, ttl not expired", func(t *testing.T) {
		m := newMVCC(Bugs{})
		prewrite(m, ts(1000), put("p", "1"))
		resp := checkStatus(m, "p", ts(1000), ts(1000+ttl))
		if resp.Status != pb.CheckTxnStatusResponse_LOCKED || resp.LockTtlMs != ttl {
			t.Fatalf("status %v, want LOCKED with ttl %d", resp, ttl)
		}
		if m.peek([]byte("p")).lock == nil {
			t.Error("the lock was removed")
		}
	})
	t.Run("locked, ttl expired", func(t *testing.T) {
		m := newMVCC(Bugs{})
		prewrite(m, ts(1000), put("p", "1"))
		resp := checkStatus(m, "p", ts(1000), ts(1000+ttl+1))
		if resp.Status != pb.CheckTxnStatusResponse_ROLLED_BACK {
			t.Fatalf("status %v, want ROLLED_BACK", resp)
		}
		if m.peek([]byte("p")).lock != nil {
			t.Error("the expired lock was left")
		}
		if ke := m.commit(keys("p"), ts(1000), ts(3000)); !ke.GetTxnLockNotFound() {
			t.Errorf("commit after the rollback: %v, want txn_lock_not_found", ke)
		}
	})
	t.Run("committed", func(t *testing.T) {
		m := newMVCC(Bugs{})
		mustCommitTxn(t, m, ts(1000), ts(1001), put("p", "1"))
		resp := checkStatus(m, "p", ts(1000), ts(9000))
		if resp.Status != pb.CheckTxnStatusResponse_COMMITTED || resp.CommitTs != ts(1001) {
			t.Fatalf("status %v, want COMMITTED at %d", resp, ts(1001))
		}
	})
	t.Run("rolled back earlier", func(t *testing.T) {
		m := newMVCC(Bugs{})
		prewrite(m, ts(1000), put("p", "1"))
		m.rollback(keys("p"), ts(1000))
		if resp := checkStatus(m, "p", ts(1000), ts(1001)); resp.Status != pb.CheckTxnStatusResponse_ROLLED_BACK {
			t.Fatalf("status %v, want ROLLED_BACK", resp)
		}
	})
	t.Run("never prewritten", func(t *testing.T) {
		m := newMVCC(Bugs{})
		if resp := checkStatus(m, "p", ts(1000), ts(1001)); resp.Status != pb.CheckTxnStatusResponse_ROLLED_BACK {
			t.Fatalf("status %v, want ROLLED_BACK", resp)
		}
		// The answer stands: the primary's late prewrite is refused.
		resp := prewrite(m, ts(1000), put("p", "1"))
		if len(resp.Errors) != 1 || resp.Errors[0].Conflict == nil {
			t.Fatalf("late prewrite: %v, want refused", resp.Errors)
		}
	})
	t.Run("another transaction's lock", func(t *testing.T) {
		m := newMVCC(Bugs{})
		prewrite(m, ts(2000), put("p", "2"))
		if resp := checkStatus(m, "p", ts(1000), ts(9000)); resp.Status != pb.CheckTxnStatusResponse_ROLLED_BACK {
			t.Fatalf("status %v, want ROLLED_BACK", resp)
		}
		if l := m.peek([]byte("p")).lock; l == nil || l.StartTs != ts(2000) {
			t.Errorf("the other transaction's lock became %v", l)
		}
	})
}

func TestResolveLock(t *testing.T) {
	setup := func(t *testing.T) *mvcc {
		t.Helper()
		m := newMVCC(Bugs{})
		mustCommitTxn(t, m, ts(5), ts(6), put("s2", "old"))
		prewrite(m, ts(20), put("p", "1"), put("s1", "1"), del("s2"))
		prewrite(m, ts(30), put("other", "x"))
		return m
	}
	t.Run("forward", func(t *testing.T) {
		m := setup(t)
		if err := m.commit(keys("p"), ts(20), ts(25)); err != nil {
			t.Fatal(err)
		}
		req := &pb.ResolveLockRequest{StartTs: ts(20), CommitTs: ts(25), Keys: keys("p", "s1", "s2", "other", "missing")}
		m.resolveLock(req)
		expectValue(t, m, "s1", ts(26), "1", true)
		expectValue(t, m, "s2", ts(26), "", false)
		expectLocked(t, m, "other", ts(40), ts(30))
		before := m.marshal()
		m.resolveLock(req)
		if !bytes.Equal(m.marshal(), before) {
			t.Error("resolving again changed the columns")
		}
	})
	t.Run("back", func(t *testing.T) {
		m := setup(t)
		m.resolveLock(&pb.ResolveLockRequest{StartTs: ts(20), Keys: keys("p", "s1", "s2", "other")})
		expectValue(t, m, "s1", ts(40), "", false)
		expectValue(t, m, "s2", ts(40), "old", true)
		expectLocked(t, m, "other", ts(40), ts(30))
		if resp := prewrite(m, ts(20), put("s1", "1")); len(resp.Errors) != 1 {
			t.Errorf("late prewrite after resolving back: %v, want refused", resp.Errors)
		}
	})
}

func TestSnapshotRoundTrip(t *testing.T) {
	m := newMVCC(Bugs{})
	mustCommitTxn(t, m, ts(10), ts(11), put("a", "1"), put("b", ""))
	mustCommitTxn(t, m, ts(12), ts(13), del("a"))
	prewrite(m, ts(20), put("c", "3"), del("b"))
	m.rollback(keys("d"), ts(21))

	data := m.marshal()
	for range 5 { // map order must not show in the bytes
		if !bytes.Equal(m.marshal(), data) {
			t.Fatal("two snapshots of the same columns differ")
		}
	}
	st := newShardState(Bugs{})
	if err := st.Restore(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 7}, Data: data}); err != nil {
		t.Fatal(err)
	}
	got := st.mvcc
	if !bytes.Equal(got.marshal(), data) {
		t.Fatal("restored columns encode differently")
	}
	expectValue(t, got, "a", ts(11), "1", true)
	expectValue(t, got, "a", ts(13), "", false)
	expectValue(t, got, "b", ts(11), "", true)
	expectLocked(t, got, "c", ts(30), ts(20))
	if resp := prewrite(got, ts(21), put("d", "x")); len(resp.Errors) != 1 {
		t.Errorf("prewrite after restored rollback: %v, want refused", resp.Errors)
	}

	for _, bad := range [][]byte{nil, {9}, data[:len(data)-1], append(data[:len(data):len(data)], 0)} {
		if err := st.Restore(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 8}, Data: bad}); err == nil {
			t.Errorf("restore of %d damaged bytes succeeded", len(bad))
		}
	}
}

func TestShardStateAppliesCommandsAndAnswersWaiters(t *testing.T) {
	st := newShardState(Bugs{})
	entry := func(index uint64, cmd *pb.ShardCommand) raft.Entry {
		data, err := proto.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return raft.Entry{Index: index, Term: 1, Data: data}
	}
	prewriteDone := st.results.Wait(1)
	commitDone := st.results.Wait(2)
	st.Apply([]raft.Entry{
		{Index: 1, Term: 1}, // a leader's empty entry
		entry(2, &pb.ShardCommand{RequestId: 1, Cmd: &pb.ShardCommand_Prewrite{Prewrite: &pb.PrewriteRequest{
			Mutations: []*pb.Mutation{put("k", "v")}, Primary: []byte("k"), StartTs: ts(10), LockTtlMs: ttl}}}),
		entry(3, &pb.ShardCommand{RequestId: 2, Cmd: &pb.ShardCommand_Commit{Commit: &pb.CommitRequest{
			Keys: keys("k"), StartTs: ts(10), CommitTs: ts(11)}}}),
		{Index: 4, Term: 1, Data: []byte{0xff, 0xff}}, // undecodable: refused, not fatal
	})
	if r := <-prewriteDone; r.err != nil || len(r.resp.(*pb.PrewriteResponse).Errors) > 0 {
		t.Errorf("prewrite result %v", r)
	}
	if r := <-commitDone; r.err != nil || r.resp.(*pb.CommitResponse).Error != nil {
		t.Errorf("commit result %v", r)
	}
	if resp := st.get(keys("k"), ts(12))[0]; string(resp.Value) != "v" {
		t.Errorf("get after apply: %v", resp)
	}
}

// TestCloneIsUnchangedByLaterOperations: a snapshot's capture must encode
// the columns as they were when it was taken, whatever is applied to the
// shard afterwards: new keys and versions, a commit that inserts a write
// record into an existing key's list, locks taken and released.
func TestCloneIsUnchangedByLaterOperations(t *testing.T) {
	m := newMVCC(Bugs{})
	mustCommitTxn(t, m, ts(10), ts(11), put("a", "1"), put("b", "2"))
	mustCommitTxn(t, m, ts(30), ts(31), put("a", "3"))
	prewrite(m, ts(40), put("c", "4"))
	prewrite(m, ts(42), put("e", "8"), put("f", "9"))
	// g and h the original leaves alone after the clone; h is locked.
	mustCommitTxn(t, m, ts(20), ts(21), put("g", "12"), put("h", "13"))
	prewrite(m, ts(44), put("h", "14"))
	// Room in a's and g's lists, so that the inserts below would happen
	// in place.
	m.keys["a"].writes = slices.Grow(m.keys["a"].writes, 4)
	m.keys["g"].writes = slices.Grow(m.keys["g"].writes, 4)
	before := m.marshal()
	c := m.clone()
	cloned := c.marshal()
	if !bytes.Equal(cloned, before) {
		t.Fatal("the clone differs from the original")
	}

	// A rollback record at 20 goes between a's records at 31 and 11: an
	// insert into the middle of a's list.
	if err := m.rollback(keys("a"), ts(20)); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		mustCommitTxn(t, m, ts(uint64(32+2*i)), ts(uint64(33+2*i)), put(fmt.Sprintf("k%d", i), "x"))
	}
	if err := m.commit(keys("c"), ts(40), ts(41)); err != nil {
		t.Fatal(err)
	}
	mustCommitTxn(t, m, ts(50), ts(51), put("a", "5"), del("b"), put("d", "6"))
	if resp := prewrite(m, ts(60), put("b", "7")); len(resp.Errors) != 0 {
		t.Fatal(resp.Errors)
	}
	// Resolving locks rolls one forward and one back.
	m.resolveLock(&pb.ResolveLockRequest{Keys: keys("e"), StartTs: ts(42), CommitTs: ts(43)})
	m.resolveLock(&pb.ResolveLockRequest{Keys: keys("f"), StartTs: ts(42)})

	if !bytes.Equal(c.marshal(), before) {
		t.Fatal("the clone changed with operations applied to the original")
	}
	after := m.marshal()
	if bytes.Equal(after, before) {
		t.Fatal("the operations changed nothing: the test tests nothing")
	}

	// The clone is a full mvcc too: changing it, on keys the original
	// has not changed since (g, and h's lock), leaves the original be;
	// and so on for a clone of the clone.
	cc := c.clone()
	if err := c.rollback(keys("g"), ts(15)); err != nil { // an insert into g's list
		t.Fatal(err)
	}
	mustCommitTxn(t, c, ts(70), ts(71), put("g", "15"))
	if err := c.commit(keys("h"), ts(44), ts(45)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.marshal(), after) {
		t.Fatal("the original changed with operations applied to the clone")
	}
	if !bytes.Equal(cc.marshal(), before) {
		t.Fatal("the clone's clone changed with operations applied to the clone")
	}
	cloneAfter := c.marshal()
	mustCommitTxn(t, cc, ts(80), ts(81), put("g", "16"), put("a", "17"))
	cc.rollback(keys("h"), ts(44))
	if !bytes.Equal(c.marshal(), cloneAfter) || !bytes.Equal(m.marshal(), after) {
		t.Fatal("the clone or the original changed with operations applied to the clone's clone")
	}
}

// BenchmarkCaptureSnapshot measures what a snapshot costs the shard's
// Raft goroutine, which stops while the shard's columns are captured:
// 100,000 keys with three versions each, about what the benchmark
// transactions leave in a shard after 150,000 commits. The snapshot is
// encoded elsewhere, from the capture.
func BenchmarkCaptureSnapshot(b *testing.B) {
	m := newMVCC(Bugs{})
	const keys = 100_000
	for v := range uint64(3) {
		for i := range keys {
			mustCommitTxn(b, m, ts(10+10*v), ts(10+10*v)+1, put(fmt.Sprintf("key-%d", i), "value"))
		}
	}
	for b.Loop() {
		m.clone()
	}
}
