package percolator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

// TestBatchGetResolvesLocksAndRepeats: a BatchGet that meets several
// locks left by a committed transaction (its secondaries' commits never
// sent) rolls them all forward, and answers a key asked twice, and the
// transaction's own write, at every index.
func TestBatchGetResolvesLocksAndRepeats(t *testing.T) {
	peers := startCluster(t, 3, nil).peers
	c := newTestClient(t, peers, func(cfg *ClientConfig) {
		cfg.hooks = &clientHooks{skipSecondaryCommits: true}
	})
	p := keyOnShard(t, "a-primary", 1)
	var sec [][]byte
	for i := range 4 {
		sec = append(sec, keyOnShard(t, fmt.Sprintf("b-sec%d", i), 2))
	}
	tx := begin(t, c)
	tx.Set(p, []byte("P"))
	for i, k := range sec {
		tx.Set(k, []byte(fmt.Sprint("S", i)))
	}
	mustCommit(t, tx)

	reader := newTestClient(t, peers, nil)
	r := begin(t, reader)
	own := keyOnShard(t, "own", 2)
	r.Set(own, []byte("mine"))
	keys := [][]byte{sec[3], p, sec[0], own, sec[3], sec[1], sec[2], sec[0], own}
	want := []string{"S3", "P", "S0", "mine", "S3", "S1", "S2", "S0", "mine"}
	values, found, err := r.BatchGet(testContext(t), keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !found[i] || string(values[i]) != want[i] {
			t.Errorf("key %d (%q): got %q (found %v), want %q", i, keys[i], values[i], found[i], want[i])
		}
	}
}

// TestBatchGetWaitsForLiveLock: a live lock on one key of a batch makes
// the read wait: until the caller's context ends (a definite error), or
// until its owner commits below the reader's snapshot, which every index
// of that key then sees.
func TestBatchGetWaitsForLiveLock(t *testing.T) {
	ctx := testContext(t)
	cl := startCluster(t, 3, nil)
	L := keyOnShard(t, "live", 1)
	a, b := keyOnShard(t, "ra", 1), keyOnShard(t, "rb", 2)
	cl.writeTxn(ctx, map[string]string{string(L): "old", string(a): "A", string(b): "B"})
	lockTS := cl.tso(ctx)
	resp, err := cl.dial(cl.leader(1)).Prewrite(ctx, &pb.PrewriteRequest{Shard: 1, StartTs: lockTS, Primary: L, LockTtlMs: 60_000,
		Mutations: []*pb.Mutation{{Op: pb.Mutation_PUT, Key: L, Value: []byte("new")}}})
	if err != nil || len(resp.Errors) > 0 {
		t.Fatalf("prewrite %q: %v %v", L, err, resp.GetErrors())
	}
	commitTS := cl.tso(ctx)
	c := newTestClient(t, cl.peers, nil)
	r := begin(t, c)
	// A short context: a definite error.
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, _, err = r.BatchGet(sctx, [][]byte{a, L, b})
	cancel()
	if !errors.Is(err, ErrDefinite) || errors.Is(err, ErrIndeterminate) {
		t.Fatalf("batch get held up by a live lock: %v; want a definite error", err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		cr, err := cl.dial(cl.leader(1)).Commit(ctx, &pb.CommitRequest{Shard: 1, Keys: [][]byte{L}, StartTs: lockTS, CommitTs: commitTS})
		if err != nil || cr.Error != nil {
			t.Errorf("commit %q: %v %v", L, err, cr.GetError())
		}
	}()
	values, found, err := r.BatchGet(ctx, [][]byte{L, a, L, b})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"new", "A", "new", "B"}
	for i := range want {
		if !found[i] || string(values[i]) != want[i] {
			t.Errorf("key %d: got %q (found %v), want %q", i, values[i], found[i], want[i])
		}
	}
}

// TestConcurrentBatchGets runs transactions that read every key and write
// two, from several goroutines on one client, for the race detector.
func TestConcurrentBatchGets(t *testing.T) {
	peers := startCluster(t, 3, nil).peers
	c := newTestClient(t, peers, nil)
	var keys [][]byte
	for i := range 8 {
		keys = append(keys, []byte(fmt.Sprint("k", i)))
	}
	init := map[string]string{}
	for _, k := range keys {
		init[string(k)] = "10"
	}
	load(t, c, init)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				tx, err := c.Begin(testContext(t))
				if err != nil {
					t.Error(err)
					return
				}
				vals, found, err := tx.BatchGet(testContext(t), keys)
				if err != nil {
					continue
				}
				for j := range vals {
					if !found[j] {
						t.Errorf("key %d missing", j)
					}
				}
				tx.Set(keys[(w+i)%8], vals[(w+i+1)%8])
				tx.Set(keys[(w+i+3)%8], vals[(w+i+3)%8])
				_ = tx.Commit(testContext(t))
			}
		})
	}
	wg.Wait()
}

// TestBatchGetStopsAtFirstShardError: when one shard's read fails, the
// others stop too, even one waiting out a live lock, and the error
// reported is the failure, not the cancelled wait.
func TestBatchGetStopsAtFirstShardError(t *testing.T) {
	ctx := testContext(t)
	cl := startCluster(t, 3, nil)
	L := keyOnShard(t, "held", 1)
	if ShardOf(nil, DefaultShards) == 1 {
		t.Fatal("the empty key maps to shard 1: the test needs it on another shard")
	}
	lockTS := cl.tso(ctx)
	resp, err := cl.dial(cl.leader(1)).Prewrite(ctx, &pb.PrewriteRequest{Shard: 1, StartTs: lockTS, Primary: L, LockTtlMs: 60_000,
		Mutations: []*pb.Mutation{{Op: pb.Mutation_PUT, Key: L, Value: []byte("v")}}})
	if err != nil || len(resp.Errors) > 0 {
		t.Fatalf("prewrite %q: %v %v", L, err, resp.GetErrors())
	}
	r := begin(t, newTestClient(t, cl.peers, nil))
	// The empty key is refused at once; L's read would wait for the lock
	// until ctx ends.
	_, _, err = r.BatchGet(ctx, [][]byte{L, {}})
	if !errors.Is(err, ErrDefinite) || !strings.Contains(err.Error(), "empty key") || strings.Contains(err.Error(), "waiting for") {
		t.Fatalf("batch get of a locked key and an empty one: %v; want the empty key's refusal alone", err)
	}
}
