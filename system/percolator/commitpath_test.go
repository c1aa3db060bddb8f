package percolator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/squall-chaos/squall/system/fault"
)

// Faults on the commit path: a transaction is committed exactly when its
// primary's commit is applied, whatever becomes of the rest. Each test
// writes two keys on different shards, so that the primary and the
// secondary are committed by different requests.

// TestSecondaryCommitsDropped: the client commits the primary and never
// the secondary. The transaction committed; a reader meets the
// secondary's lock, finds the primary committed, rolls the lock forward
// and sees both values.
func TestSecondaryCommitsDropped(t *testing.T) {
	peers := startCluster(t, 3, nil).peers
	x, y := commitPathKeys(t)
	c := newTestClient(t, peers, func(cfg *ClientConfig) {
		cfg.hooks = &clientHooks{skipSecondaryCommits: true}
	})
	tx := begin(t, c)
	tx.Set(x, []byte("x1"))
	tx.Set(y, []byte("y1"))
	mustCommit(t, tx)

	reader := newTestClient(t, peers, nil)
	expect(t, reader, map[string]string{string(x): "x1", string(y): "y1"})
	// The lock is gone for writers too.
	w := begin(t, reader)
	w.Set(y, []byte("y2"))
	mustCommit(t, w)
	expect(t, reader, map[string]string{string(x): "x1", string(y): "y2"})
}

// TestPrimaryCommitResponseLost: every node applies commits but answers
// none (the after-commit failpoint). The client cannot know whether its
// transaction committed and says so (ErrIndeterminate); it did, and a
// reader sees both values.
func TestPrimaryCommitResponseLost(t *testing.T) {
	cluster, fps := startClusterWithFailpoints(t)
	x, y := commitPathKeys(t)
	c := newTestClient(t, cluster.peers, nil)
	load(t, c, map[string]string{string(x): "x0", string(y): "y0"})

	armAll(t, fps, FailAfterCommit, "error(response lost)")
	tx := begin(t, c)
	tx.Set(x, []byte("x1"))
	tx.Set(y, []byte("y1"))
	ctx, cancel := context.WithTimeout(testContext(t), 2*time.Second)
	defer cancel()
	err := tx.Commit(ctx)
	if !errors.Is(err, ErrIndeterminate) || errors.Is(err, ErrDefinite) {
		t.Fatalf("commit whose response was lost: err = %v, want ErrIndeterminate only", err)
	}
	armAll(t, fps, FailAfterCommit, "off")
	expect(t, c, map[string]string{string(x): "x1", string(y): "y1"})
}

// TestPrimaryCommitResponseLostOnce: the first answer to the primary's
// commit is lost; the client retries the idempotent commit, hears it
// succeed, and reports the transaction committed.
func TestPrimaryCommitResponseLostOnce(t *testing.T) {
	cluster, fps := startClusterWithFailpoints(t)
	x, y := commitPathKeys(t)
	c := newTestClient(t, cluster.peers, nil)
	leader := cluster.leader(ShardOf(x, DefaultShards))
	if err := fps[leader].Arm(FailAfterCommit, "1*error(response lost)"); err != nil {
		t.Fatal(err)
	}
	tx := begin(t, c)
	tx.Set(x, []byte("x1"))
	tx.Set(y, []byte("y1"))
	mustCommit(t, tx)
	expect(t, c, map[string]string{string(x): "x1", string(y): "y1"})
}

// TestPrimaryCommitFails: every node refuses commits before proposing
// them (the before-commit failpoint). The transaction certainly did not
// commit (ErrDefinite), the client rolls its locks back, and a reader sees
// the old values at once, as a writer can write the keys.
func TestPrimaryCommitFails(t *testing.T) {
	cluster, fps := startClusterWithFailpoints(t)
	x, y := commitPathKeys(t)
	c := newTestClient(t, cluster.peers, func(cfg *ClientConfig) {
		// Were the locks left behind, readers would wait a minute.
		cfg.LockTTL = time.Minute
	})
	load(t, c, map[string]string{string(x): "x0", string(y): "y0"})

	armAll(t, fps, FailBeforeCommit, "error(refused)")
	tx := begin(t, c)
	tx.Set(x, []byte("x1"))
	tx.Set(y, []byte("y1"))
	err := tx.Commit(testContext(t))
	if !errors.Is(err, ErrDefinite) || errors.Is(err, ErrIndeterminate) {
		t.Fatalf("commit refused by every node: err = %v, want ErrDefinite only", err)
	}
	armAll(t, fps, FailBeforeCommit, "off")
	expect(t, c, map[string]string{string(x): "x0", string(y): "y0"})
	w := begin(t, c)
	w.Set(x, []byte("x2"))
	w.Set(y, []byte("y2"))
	mustCommit(t, w)
	expect(t, c, map[string]string{string(x): "x2", string(y): "y2"})
}

// TestClientCrashAfterPrewrite: a client dies with both keys prewritten.
// Its locks block readers until their ttl expires; then the next reader
// rolls the transaction back and sees the old values, and a writer can
// write the keys.
func TestClientCrashAfterPrewrite(t *testing.T) {
	peers := startCluster(t, 3, nil).peers
	x, y := commitPathKeys(t)
	const ttl = 500 * time.Millisecond
	crashed := newTestClient(t, peers, func(cfg *ClientConfig) {
		cfg.LockTTL = ttl
		cfg.hooks = &clientHooks{afterPrewrite: func() error { return errors.New("client crashed") }}
	})
	c := newTestClient(t, peers, nil)
	load(t, c, map[string]string{string(x): "x0", string(y): "y0"})

	tx := begin(t, crashed)
	tx.Set(x, []byte("x1"))
	tx.Set(y, []byte("y1"))
	if err := tx.Commit(testContext(t)); !errors.Is(err, ErrDefinite) {
		t.Fatalf("commit of a client that crashed after prewrite: err = %v, want ErrDefinite", err)
	}
	// A reader that began after the prewrite waits out the locks' ttl.
	expect(t, c, map[string]string{string(x): "x0", string(y): "y0"})
	w := begin(t, c)
	w.Set(x, []byte("x2"))
	w.Set(y, []byte("y2"))
	mustCommit(t, w)
	expect(t, c, map[string]string{string(x): "x2", string(y): "y2"})
}

// TestClientCrashAfterPrewriteWriterFirst: as TestClientCrashAfterPrewrite,
// but the first to meet the dead client's locks is a writer: it is refused
// while the locks live, and commits once they have expired.
func TestClientCrashAfterPrewriteWriterFirst(t *testing.T) {
	peers := startCluster(t, 3, nil).peers
	x, y := commitPathKeys(t)
	const ttl = 500 * time.Millisecond
	crashed := newTestClient(t, peers, func(cfg *ClientConfig) {
		cfg.LockTTL = ttl
		cfg.hooks = &clientHooks{afterPrewrite: func() error { return errors.New("client crashed") }}
	})
	c := newTestClient(t, peers, nil)

	tx := begin(t, crashed)
	tx.Set(x, []byte("x1"))
	tx.Set(y, []byte("y1"))
	if err := tx.Commit(testContext(t)); !errors.Is(err, ErrDefinite) {
		t.Fatalf("commit of a client that crashed after prewrite: err = %v, want ErrDefinite", err)
	}
	ctx := testContext(t)
	for attempt := 1; ; attempt++ {
		w := begin(t, c)
		w.Set(x, []byte("x2"))
		w.Set(y, []byte("y2"))
		err := w.Commit(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("writer attempt %d: err = %v, want success or ErrConflict while the locks live", attempt, err)
		}
		time.Sleep(ttl / 5)
	}
	expect(t, c, map[string]string{string(x): "x2", string(y): "y2"})
}

// commitPathKeys returns two keys on different shards, x before y so
// that x is the primary.
func commitPathKeys(t testing.TB) (x, y []byte) {
	return keyOnShard(t, "a-primary", 1), keyOnShard(t, "b-secondary", 2)
}

// startClusterWithFailpoints starts a three-node cluster and returns it
// with each node's failpoint registry.
func startClusterWithFailpoints(t testing.TB) (*testCluster, []*fault.Failpoints) {
	var fps []*fault.Failpoints
	cluster := startCluster(t, 3, func(cfg *Config) {
		fp := fault.NewFailpoints(fault.SystemClock(), nil)
		cfg.Failpoints = fp
		fps = append(fps, fp)
	})
	return cluster, fps
}

// armAll arms the failpoint name with spec on every node.
func armAll(t testing.TB, fps []*fault.Failpoints, name, spec string) {
	t.Helper()
	for i, fp := range fps {
		if err := fp.Arm(name, spec); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
}

// TestRequestSlowerThanOneAttemptCompletes: every node takes longer over
// each prewrite than the client's attempt timeout (the before-prewrite
// failpoint sleeps). An attempt that runs out of time doubles the next
// one's, so the transaction commits instead of being proposed again and
// again until its deadline, as a large value on a busy cluster was.
func TestRequestSlowerThanOneAttemptCompletes(t *testing.T) {
	cluster, fps := startClusterWithFailpoints(t)
	x, y := commitPathKeys(t)
	const attempt = 100 * time.Millisecond
	c := newTestClient(t, cluster.peers, func(cfg *ClientConfig) { cfg.AttemptTimeout = attempt })
	armAll(t, fps, FailBeforePrewrite, "sleep(350ms)")
	tx := begin(t, c)
	tx.Set(x, []byte("x1"))
	tx.Set(y, []byte("y1"))
	ctx, cancel := context.WithTimeout(testContext(t), 10*time.Second)
	defer cancel()
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit whose prewrites take 3.5 attempt timeouts: %v", err)
	}
	armAll(t, fps, FailBeforePrewrite, "off")
	expect(t, c, map[string]string{string(x): "x1", string(y): "y1"})
}
