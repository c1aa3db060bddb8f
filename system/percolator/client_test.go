package percolator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/internal/member"
	"github.com/squall-chaos/squall/system/internal/rpcerr"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

func TestErrConflictIsDefinite(t *testing.T) {
	if !errors.Is(ErrConflict, ErrDefinite) {
		t.Fatal("ErrConflict does not wrap ErrDefinite")
	}
	if errors.Is(ErrConflict, ErrIndeterminate) {
		t.Fatal("ErrConflict wraps ErrIndeterminate")
	}
}

// TestClassifyLast checks the taxonomy of an RPC's last error after
// retries: refusals and unsent requests are definite, unless an earlier
// attempt may have taken effect.
func TestClassifyLast(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		sent bool
		want error
	}{
		{"not leader", status.Error(codes.FailedPrecondition, "not leader"), false, ErrDefinite},
		{"injected refusal", status.Error(codes.Aborted, "failpoint: injected failure"), false, ErrDefinite},
		{"malformed", status.Error(codes.InvalidArgument, "empty key"), false, ErrDefinite},
		{"never connected", status.Error(codes.Unavailable, "connection error: refused"), false, ErrDefinite},
		{"timeout", status.Error(codes.DeadlineExceeded, "deadline"), true, ErrIndeterminate},
		{"response lost", status.Error(codes.Unavailable, "failpoint: injected failure"), true, ErrIndeterminate},
		{"refusal after a lost attempt", status.Error(codes.FailedPrecondition, "not leader"), true, ErrIndeterminate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyLast(tc.err, tc.sent); !errors.Is(got, tc.want) {
				t.Fatalf("classifyLast(%v, %v) = %v, want it to wrap %v", tc.err, tc.sent, got, tc.want)
			}
		})
	}
}

func TestMaySent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.FailedPrecondition, "not leader"), false},
		{status.Error(codes.Aborted, "proposal lost"), false},
		{status.Error(codes.Unavailable, "connection error: refused"), false},
		{status.Error(codes.Unavailable, "failpoint percolator/after-commit: injected failure"), true},
		{status.Error(codes.DeadlineExceeded, "deadline"), true},
		{status.Error(codes.Canceled, "canceled"), true},
	} {
		if got := maySent(tc.err); got != tc.want {
			t.Errorf("maySent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestIsFinal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.InvalidArgument, "bad"), true},
		{status.Error(codes.Aborted, "failpoint percolator/before-commit: injected failure"), true},
		{status.Error(codes.Aborted, "group 1: proposal lost"), false},
		{status.Error(codes.FailedPrecondition, "not leader"), false},
		{status.Error(codes.Unavailable, "node stopped"), false},
	} {
		if got := isFinal(tc.err); got != tc.want {
			t.Errorf("isFinal(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestNotLeaderHint(t *testing.T) {
	st, err := status.New(codes.FailedPrecondition, "not leader").WithDetails(&pb.NotLeader{Group: 1, LeaderId: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	if hint, ok := rpcerr.LeaderHint(st.Err()); !ok || hint != "n2" {
		t.Fatalf("notLeaderHint = %q, %v; want n2, true", hint, ok)
	}
	if hint, ok := rpcerr.LeaderHint(status.Error(codes.FailedPrecondition, "no leader yet")); !ok || hint != "" {
		t.Fatalf("notLeaderHint without a detail = %q, %v; want \"\", true", hint, ok)
	}
	if _, ok := rpcerr.LeaderHint(status.Error(codes.Unavailable, "down")); ok {
		t.Fatal("notLeaderHint took Unavailable for a not-leader refusal")
	}
}

// testContext bounds a test's operations: a hang guard, not a deadline
// any correct run comes near.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// isolationCluster starts a three-node cluster for a test.
func isolationCluster(t testing.TB) []member.Peer {
	return startCluster(t, 3, nil).peers
}

// newIsolationClient starts a three-node cluster and returns a client of it.
func newIsolationClient(t testing.TB) *Client {
	return newTestClient(t, isolationCluster(t), nil)
}

// newTestClient returns a client of peers, configured by tune if not nil,
// closed when the test ends.
func newTestClient(t testing.TB, peers []member.Peer, tune func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{Peers: peers, Shards: DefaultShards}
	if tune != nil {
		tune(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// keyOnShard returns the first key prefix-0, prefix-1, ... that lives on
// shard (of DefaultShards).
func keyOnShard(t testing.TB, prefix string, shard uint32) []byte {
	t.Helper()
	for i := range 1000 {
		k := []byte(fmt.Sprintf("%s-%d", prefix, i))
		if ShardOf(k, DefaultShards) == shard {
			return k
		}
	}
	t.Fatalf("no key %s-N on shard %d", prefix, shard)
	return nil
}

func begin(t testing.TB, c *Client) *Txn {
	t.Helper()
	tx, err := c.Begin(testContext(t))
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	return tx
}

func get(t testing.TB, tx *Txn, key []byte) (string, bool) {
	t.Helper()
	v, found, err := tx.Get(testContext(t), key)
	if err != nil {
		t.Fatalf("transaction %d: get %q: %v", tx.StartTS(), key, err)
	}
	return string(v), found
}

// mustRead fails the test unless tx reads want at key.
func mustRead(t testing.TB, tx *Txn, key []byte, want string) {
	t.Helper()
	if v, found := get(t, tx, key); !found || v != want {
		t.Fatalf("transaction %d read %q = %q (found %v), want %q", tx.StartTS(), key, v, found, want)
	}
}

// mustAbsent fails the test unless tx finds no key.
func mustAbsent(t testing.TB, tx *Txn, key []byte) {
	t.Helper()
	if v, found := get(t, tx, key); found {
		t.Fatalf("transaction %d read %q = %q, want it absent", tx.StartTS(), key, v)
	}
}

func mustCommit(t testing.TB, tx *Txn) {
	t.Helper()
	if err := tx.Commit(testContext(t)); err != nil {
		t.Fatalf("commit of transaction %d: %v", tx.StartTS(), err)
	}
}

// load writes values in one transaction.
func load(t testing.TB, c *Client, values map[string]string) {
	t.Helper()
	tx := begin(t, c)
	for k, v := range values {
		tx.Set([]byte(k), []byte(v))
	}
	mustCommit(t, tx)
}

// expect fails the test unless a new transaction reads values.
func expect(t testing.TB, c *Client, values map[string]string) {
	t.Helper()
	tx := begin(t, c)
	for k, v := range values {
		mustRead(t, tx, []byte(k), v)
	}
}

// TestTxnReadsItsOwnWrites: a transaction's reads see its buffered writes
// and deletions; other transactions see none of them until it commits.
func TestTxnReadsItsOwnWrites(t *testing.T) {
	c := newIsolationClient(t)
	x, y := keyOnShard(t, "own-x", 1), keyOnShard(t, "own-y", 2)
	load(t, c, map[string]string{string(y): "y0"})

	tx := begin(t, c)
	tx.Set(x, []byte("x1"))
	tx.Delete(y)
	mustRead(t, tx, x, "x1")
	mustAbsent(t, tx, y)
	other := begin(t, c)
	mustAbsent(t, other, x)
	mustRead(t, other, y, "y0")
	mustCommit(t, tx)
	after := begin(t, c)
	mustRead(t, after, x, "x1")
	mustAbsent(t, after, y)
}

// TestBatchGetAcrossShards: BatchGet answers keys of both shards, the
// transaction's own writes and absent keys, each at its index.
func TestBatchGetAcrossShards(t *testing.T) {
	c := newIsolationClient(t)
	x, y := keyOnShard(t, "batch-x", 1), keyOnShard(t, "batch-y", 2)
	x2, absent := keyOnShard(t, "batch-x2", 1), keyOnShard(t, "batch-absent", 2)
	load(t, c, map[string]string{string(x): "x0", string(y): "y0", string(x2): "x2"})

	tx := begin(t, c)
	tx.Set(x2, []byte("mine"))
	values, found, err := tx.BatchGet(testContext(t), [][]byte{y, absent, x2, x})
	if err != nil {
		t.Fatalf("batch get: %v", err)
	}
	want := []string{"y0", "", "mine", "x0"}
	for i, w := range want {
		if string(values[i]) != w || found[i] != (w != "") {
			t.Errorf("key %d: got %q (found %v), want %q", i, values[i], found[i], w)
		}
	}
}

// TestTimestampsOrderTransactions: a transaction begun after another
// committed starts after its commit timestamp, which is after its start.
func TestTimestampsOrderTransactions(t *testing.T) {
	c := newIsolationClient(t)
	tx := begin(t, c)
	tx.Set([]byte("ts-x"), []byte("1"))
	mustCommit(t, tx)
	next := begin(t, c)
	if !(tx.StartTS() < tx.CommitTS() && tx.CommitTS() < next.StartTS()) {
		t.Fatalf("start %d, commit %d, next start %d: want strictly increasing", tx.StartTS(), tx.CommitTS(), next.StartTS())
	}
}

// TestReadOnlyCommit: a transaction without writes commits trivially,
// with no commit timestamp; a finished transaction refuses further use.
func TestReadOnlyCommit(t *testing.T) {
	c := newIsolationClient(t)
	tx := begin(t, c)
	mustAbsent(t, tx, []byte("ro-x"))
	mustCommit(t, tx)
	if tx.CommitTS() != 0 {
		t.Fatalf("read-only transaction has commit timestamp %d, want 0", tx.CommitTS())
	}
	if err := tx.Commit(testContext(t)); !errors.Is(err, ErrDefinite) {
		t.Fatalf("second commit: err = %v, want ErrDefinite", err)
	}
	if _, _, err := tx.Get(testContext(t), []byte("ro-x")); !errors.Is(err, ErrDefinite) {
		t.Fatalf("get after commit: err = %v, want ErrDefinite", err)
	}
}

// TestConcurrentTimestamps: timestamps taken concurrently (and so shared
// between requests) are all distinct.
func TestConcurrentTimestamps(t *testing.T) {
	c := newIsolationClient(t)
	const n = 200
	got := make(chan uint64, n)
	for range n {
		go func() {
			ts, err := c.timestamp(testContext(t))
			if err != nil {
				t.Errorf("timestamp: %v", err)
			}
			got <- ts
		}()
	}
	seen := make(map[uint64]bool)
	for range n {
		ts := <-got
		if seen[ts] {
			t.Fatalf("timestamp %d handed out twice", ts)
		}
		seen[ts] = true
	}
}

// TestClientFollowsLeaderChange: the leaders of the oracle and of a
// shard stop; the client finds their successors and transactions go on
// committing, with every committed write visible.
func TestClientFollowsLeaderChange(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	c := newTestClient(t, cluster.peers, nil)
	x, y := keyOnShard(t, "failover-x", 1), keyOnShard(t, "failover-y", 2)
	load(t, c, map[string]string{string(x): "0", string(y): "0"})

	stopped := cluster.leader(OracleGroup)
	cluster.stop(stopped)
	tx := begin(t, c)
	tx.Set(x, []byte("1"))
	tx.Set(y, []byte("1"))
	mustCommit(t, tx)
	cluster.restart(stopped)
	cluster.stop(cluster.leader(1)) // maybe the restarted node: the other two are a quorum
	tx = begin(t, c)
	mustRead(t, tx, x, "1")
	tx.Set(x, []byte("2"))
	mustCommit(t, tx)
	expect(t, c, map[string]string{string(x): "2", string(y): "1"})
}

// TestCommitWhileClosing closes a client while transactions across both
// shards commit on it. Every commit that reported success must be
// visible to another client (its secondary rolled forward by the reader
// if the closing client left it), every failure must say on which side
// of the taxonomy it is, and once Close has returned, calls fail at once
// as definite instead of retrying until their deadlines.
func TestCommitWhileClosing(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	c := newTestClient(t, cluster.peers, nil)
	ctx := testContext(t)
	const writers, txns = 8, 20
	keys := make([][][2][]byte, writers) // keys[w][i]: transaction i of writer w
	for w := range writers {
		for i := range txns {
			keys[w] = append(keys[w], [2][]byte{
				keyOnShard(t, fmt.Sprintf("closing-%d-%d-x", w, i), 1),
				keyOnShard(t, fmt.Sprintf("closing-%d-%d-y", w, i), 2),
			})
		}
	}
	committed := make([]map[string]string, writers)
	errs := make([][]error, writers)
	var wg sync.WaitGroup
	var started sync.WaitGroup // each writer has committed twice, or given up
	started.Add(writers)
	for w := range writers {
		committed[w] = map[string]string{}
		wg.Go(func() {
			var once sync.Once
			defer once.Do(started.Done)
			for i, kv := range keys[w] {
				if i == 2 {
					once.Do(started.Done)
				}
				tx, err := c.Begin(ctx)
				if err != nil {
					errs[w] = append(errs[w], err)
					continue
				}
				tx.Set(kv[0], []byte("v"))
				tx.Set(kv[1], []byte("v"))
				if err := tx.Commit(ctx); err != nil {
					errs[w] = append(errs[w], err)
					continue
				}
				committed[w][string(kv[0])], committed[w][string(kv[1])] = "v", "v"
			}
		})
	}
	started.Wait()
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	for w := range writers {
		for _, err := range errs[w] {
			if errors.Is(err, ErrDefinite) == errors.Is(err, ErrIndeterminate) {
				t.Errorf("writer %d: %v: want exactly one of definite and indeterminate", w, err)
			}
		}
	}
	if _, err := c.Begin(ctx); !errors.Is(err, ErrDefinite) {
		t.Fatalf("begin after close: %v, want a definite error", err)
	}
	reader := newTestClient(t, cluster.peers, nil)
	n := 0
	for _, values := range committed {
		n += len(values) / 2
		expect(t, reader, values)
	}
	if n < 2*writers {
		t.Fatalf("%d transactions committed, want at least %d before the close", n, 2*writers)
	}
}
