package percolator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The classic isolation anomalies, each as an explicit interleaving of
// transactions, after Adya's phenomena and the Hermitage test suite.
// Snapshot isolation forbids lost updates, read skew and phantoms of a
// predicate read (predicate-many-preceders), and allows write skew and the
// other anti-dependency cycles: there both transactions commit, and each
// read the state before the other.

// TestLostUpdate: two transactions read x and both write it back
// incremented (Hermitage P4). Snapshot isolation lets only the first
// commit; the second must fail with a conflict, so no increment is lost.
func TestLostUpdate(t *testing.T) {
	c := newIsolationClient(t)
	x := keyOnShard(t, "lost-x", 1)
	load(t, c, map[string]string{string(x): "10"})

	t1, t2 := begin(t, c), begin(t, c)
	mustRead(t, t1, x, "10")
	mustRead(t, t2, x, "10")
	t1.Set(x, []byte("11"))
	t2.Set(x, []byte("11"))
	mustCommit(t, t1)
	mustConflict(t, t2)
	expect(t, c, map[string]string{string(x): "11"})
}

// TestLostUpdateCommitOrderReversed: the transaction that began last
// commits first; the other one, still the second to commit, fails.
func TestLostUpdateCommitOrderReversed(t *testing.T) {
	c := newIsolationClient(t)
	x := keyOnShard(t, "lost-rev-x", 2)
	load(t, c, map[string]string{string(x): "10"})

	t1, t2 := begin(t, c), begin(t, c)
	mustRead(t, t1, x, "10")
	mustRead(t, t2, x, "10")
	t1.Set(x, []byte("11"))
	t2.Set(x, []byte("12"))
	mustCommit(t, t2)
	mustConflict(t, t1)
	expect(t, c, map[string]string{string(x): "12"})
}

// TestDirtyWrite: two transactions write the same two keys, interleaved
// (Adya G0). The second to commit fails, so the keys cannot end up with
// one transaction's x and the other's y.
func TestDirtyWrite(t *testing.T) {
	c := newIsolationClient(t)
	x, y := keyOnShard(t, "g0-x", 1), keyOnShard(t, "g0-y", 2)
	load(t, c, map[string]string{string(x): "0", string(y): "0"})

	t1, t2 := begin(t, c), begin(t, c)
	t1.Set(x, []byte("1"))
	t2.Set(x, []byte("2"))
	t1.Set(y, []byte("1"))
	t2.Set(y, []byte("2"))
	mustCommit(t, t1)
	mustConflict(t, t2)
	expect(t, c, map[string]string{string(x): "1", string(y): "1"})
}

// TestReadSkew: T1 reads x; T2 changes x and y, keeping x+y, and
// commits; T1 then reads y and must see the y of its snapshot, not T2's
// (Hermitage G-single), whichever shards x and y live on.
func TestReadSkew(t *testing.T) {
	c := newIsolationClient(t)
	for _, shards := range [][2]uint32{{1, 2}, {1, 1}} {
		t.Run(fmt.Sprintf("shards=%d,%d", shards[0], shards[1]), func(t *testing.T) {
			x := keyOnShard(t, "skew-x", shards[0])
			y := keyOnShard(t, "skew-y", shards[1])
			load(t, c, map[string]string{string(x): "10", string(y): "20"})

			t1 := begin(t, c)
			mustRead(t, t1, x, "10")
			t2 := begin(t, c)
			mustRead(t, t2, x, "10")
			mustRead(t, t2, y, "20")
			t2.Set(x, []byte("12"))
			t2.Set(y, []byte("18"))
			mustCommit(t, t2)
			mustRead(t, t1, y, "20")
			mustCommit(t, t1)
			expect(t, c, map[string]string{string(x): "12", string(y): "18"})
		})
	}
}

// TestReadSkewDelete: as TestReadSkew, but T2 deletes y: T1 still finds
// the y of its snapshot.
func TestReadSkewDelete(t *testing.T) {
	c := newIsolationClient(t)
	x, y := keyOnShard(t, "skewdel-x", 2), keyOnShard(t, "skewdel-y", 1)
	load(t, c, map[string]string{string(x): "10", string(y): "20"})

	t1 := begin(t, c)
	mustRead(t, t1, x, "10")
	t2 := begin(t, c)
	t2.Set(x, []byte("30"))
	t2.Delete(y)
	mustCommit(t, t2)
	mustRead(t, t1, y, "20")
	mustCommit(t, t1)
	expect(t, c, map[string]string{string(x): "30"})
	mustAbsent(t, begin(t, c), y)
}

// TestReadSkewWritePredicate: T1 reads x; T2 changes x and y and commits;
// T1 then deletes "every key whose value is 20", which in its snapshot
// is y (Hermitage G-single write-predicate). T1's delete must fail: y was
// written after T1 began.
func TestReadSkewWritePredicate(t *testing.T) {
	c := newIsolationClient(t)
	x, y := keyOnShard(t, "skewpred-x", 1), keyOnShard(t, "skewpred-y", 2)
	load(t, c, map[string]string{string(x): "10", string(y): "20"})

	t1 := begin(t, c)
	mustRead(t, t1, x, "10")
	t2 := begin(t, c)
	t2.Set(x, []byte("12"))
	t2.Set(y, []byte("18"))
	mustCommit(t, t2)
	for _, k := range [][]byte{x, y} {
		if v, found := get(t, t1, k); found && v == "20" {
			t1.Delete(k)
		}
	}
	mustConflict(t, t1)
	expect(t, c, map[string]string{string(x): "12", string(y): "18"})
}

// TestReadSkewAcrossCommit: T1 begins after T2 but reads while T2 is
// between prewrite and commit. T1 meets T2's locks and must wait for T2's
// fate; T2 then commits at a timestamp after T1's start, so T1 sees
// neither of T2's writes.
func TestReadSkewAcrossCommit(t *testing.T) {
	peers := isolationCluster(t)
	x, y := keyOnShard(t, "inflight-x", 1), keyOnShard(t, "inflight-y", 2)
	prewritten, release := make(chan struct{}), make(chan struct{})
	writer := newTestClient(t, peers, func(cfg *ClientConfig) {
		// Long enough that no reader can roll T2 back while it waits.
		cfg.LockTTL = time.Minute
		cfg.hooks = &clientHooks{afterPrewrite: func() error {
			close(prewritten)
			<-release
			return nil
		}}
	})
	reader := newTestClient(t, peers, nil)
	load(t, reader, map[string]string{string(x): "10", string(y): "20"})

	t2 := begin(t, writer)
	t2.Set(x, []byte("12"))
	t2.Set(y, []byte("18"))
	committed := make(chan error, 1)
	go func() { committed <- t2.Commit(testContext(t)) }()
	<-prewritten
	t1 := begin(t, reader)
	// T2 may commit below T1's start for all T1 can tell: its lock blocks
	// T1's read for as long as it lives.
	short, cancel := context.WithTimeout(testContext(t), 300*time.Millisecond)
	_, _, err := t1.Get(short, x)
	cancel()
	if !errors.Is(err, ErrDefinite) {
		t.Fatalf("T1 read x through T2's live lock: err = %v, want a definite failure once its context ended", err)
	}
	read := make(chan [2]string, 1)
	go func() {
		var vs [2]string
		for i, k := range [][]byte{x, y} {
			v, _, err := t1.Get(testContext(t), k)
			if err != nil {
				t.Errorf("T1 get %q: %v", k, err)
			}
			vs[i] = string(v)
		}
		read <- vs
	}()
	close(release)
	if err := <-committed; err != nil {
		t.Fatalf("T2 commit: %v", err)
	}
	if vs := <-read; vs != [2]string{"10", "20"} {
		t.Fatalf("T1, which began before T2's commit, read x, y = %q; want its snapshot 10, 20", vs)
	}
	expect(t, reader, map[string]string{string(x): "12", string(y): "18"})
}

// TestWriteSkew: two doctors on call, x and y; each transaction checks
// that both are on call and takes one off (Hermitage G2-item). Snapshot
// isolation allows it: both commit, and neither is on call.
func TestWriteSkew(t *testing.T) {
	c := newIsolationClient(t)
	x, y := keyOnShard(t, "skew2-x", 1), keyOnShard(t, "skew2-y", 2)
	load(t, c, map[string]string{string(x): "on", string(y): "on"})

	t1, t2 := begin(t, c), begin(t, c)
	for _, tx := range []*Txn{t1, t2} {
		mustRead(t, tx, x, "on")
		mustRead(t, tx, y, "on")
	}
	t1.Set(x, []byte("off"))
	t2.Set(y, []byte("off"))
	mustCommit(t, t1)
	mustCommit(t, t2)
	expect(t, c, map[string]string{string(x): "off", string(y): "off"})
}

// TestPredicateManyPreceders: T1 reads a predicate (the members of a set
// of keys, each present or absent); T2 inserts a member and commits; T1
// reads the predicate again and must get the same answer (Hermitage PMP),
// and a transaction begun after T2 sees the insert.
func TestPredicateManyPreceders(t *testing.T) {
	c := newIsolationClient(t)
	var set [][]byte
	for i := range 6 {
		set = append(set, []byte(fmt.Sprintf("pmp-%d", i)))
	}
	load(t, c, map[string]string{string(set[0]): "a", string(set[3]): "b"})
	members := func(tx *Txn) []string {
		var out []string
		for _, k := range set {
			if _, found := get(t, tx, k); found {
				out = append(out, string(k))
			}
		}
		return out
	}

	t1 := begin(t, c)
	before := members(t1)
	if want := []string{"pmp-0", "pmp-3"}; fmt.Sprint(before) != fmt.Sprint(want) {
		t.Fatalf("T1 first read of the set = %v, want %v", before, want)
	}
	t2 := begin(t, c)
	t2.Set(set[5], []byte("c"))
	t2.Delete(set[0])
	mustCommit(t, t2)
	if again := members(t1); fmt.Sprint(again) != fmt.Sprint(before) {
		t.Fatalf("T1 read the set as %v, then as %v after T2's commit: a phantom", before, again)
	}
	mustCommit(t, t1)
	if after := members(begin(t, c)); fmt.Sprint(after) != "[pmp-3 pmp-5]" {
		t.Fatalf("a transaction after T2 read the set as %v, want [pmp-3 pmp-5]", after)
	}
}

// TestPredicateManyPrecedersWrite: T1 counts the set's members and
// records the count; T2 inserts a member and commits; T1's write of the
// count is on a key T2 did not touch, so both commit (a predicate
// anti-dependency, allowed) and T1's count is that of its snapshot.
func TestPredicateManyPrecedersWrite(t *testing.T) {
	c := newIsolationClient(t)
	set := [][]byte{[]byte("pmpw-0"), []byte("pmpw-1"), []byte("pmpw-2")}
	count := []byte("pmpw-count")
	load(t, c, map[string]string{string(set[0]): "a"})

	t1, t2 := begin(t, c), begin(t, c)
	n := 0
	for _, k := range set {
		if _, found := get(t, t1, k); found {
			n++
		}
	}
	t2.Set(set[2], []byte("b"))
	mustCommit(t, t2)
	t1.Set(count, []byte(fmt.Sprint(n)))
	mustCommit(t, t1)
	expect(t, c, map[string]string{string(count): "1", string(set[2]): "b"})
}

// TestAntiDependencyCycle: each transaction reads a key the next one
// writes, round a cycle of two and of three (Adya G2). Under snapshot
// isolation the cycle is allowed: all commit, and every read saw the
// state before the cycle, however the commits are ordered.
func TestAntiDependencyCycle(t *testing.T) {
	c := newIsolationClient(t)
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("txns=%d", n), func(t *testing.T) {
			keys := make([][]byte, n)
			initial := make(map[string]string)
			for i := range keys {
				keys[i] = keyOnShard(t, fmt.Sprintf("g2-%d-%d", n, i), uint32(1+i%2))
				initial[string(keys[i])] = "0"
			}
			load(t, c, initial)
			txns := make([]*Txn, n)
			for i := range txns {
				txns[i] = begin(t, c)
			}
			// Txn i reads key i and writes key i+1: an anti-dependency
			// from each to the next, closing the cycle.
			final := make(map[string]string)
			for i, tx := range txns {
				mustRead(t, tx, keys[i], "0")
				next := keys[(i+1)%n]
				tx.Set(next, []byte(fmt.Sprint(i+1)))
				final[string(next)] = fmt.Sprint(i + 1)
			}
			for i := n - 1; i >= 0; i-- {
				mustCommit(t, txns[i])
			}
			expect(t, c, final)
		})
	}
}

// TestAntiDependencyWithWriteConflict: T1 and T2 form an anti-dependency
// cycle but also write one key in common; the write conflict breaks the
// cycle: the second to commit fails and nothing of it is visible.
func TestAntiDependencyWithWriteConflict(t *testing.T) {
	c := newIsolationClient(t)
	x, y, z := keyOnShard(t, "g2w-x", 1), keyOnShard(t, "g2w-y", 2), keyOnShard(t, "g2w-z", 1)
	load(t, c, map[string]string{string(x): "0", string(y): "0", string(z): "0"})

	t1, t2 := begin(t, c), begin(t, c)
	mustRead(t, t1, x, "0")
	mustRead(t, t2, y, "0")
	t1.Set(y, []byte("1"))
	t1.Set(z, []byte("1"))
	t2.Set(x, []byte("2"))
	t2.Set(z, []byte("2"))
	mustCommit(t, t2)
	mustConflict(t, t1)
	expect(t, c, map[string]string{string(x): "2", string(y): "0", string(z): "2"})
}

// mustConflict commits tx and fails the test unless the commit fails with
// a conflict, which is definite.
func mustConflict(t testing.TB, tx *Txn) {
	t.Helper()
	err := tx.Commit(testContext(t))
	if !errors.Is(err, ErrConflict) || !errors.Is(err, ErrDefinite) {
		t.Fatalf("commit of transaction %d = %v; want a conflict (ErrConflict, definite)", tx.StartTS(), err)
	}
}
