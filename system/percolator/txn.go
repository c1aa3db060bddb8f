package percolator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

// Txn is a snapshot-isolated transaction. Its reads see the database as of
// its start timestamp, plus its own writes; its writes are buffered until
// Commit. A Txn is used by one goroutine.
type Txn struct {
	c        *Client
	startTS  uint64
	commitTS uint64
	writes   map[string]*pb.Mutation
	done     bool
}

// StartTS is the transaction's start timestamp: the snapshot it reads.
func (t *Txn) StartTS() uint64 { return t.startTS }

// CommitTS is the transaction's commit timestamp once Commit succeeded,
// or, if its outcome is indeterminate, the timestamp it committed at if it
// did; 0 for a read-only transaction and one that certainly did not commit.
func (t *Txn) CommitTS() uint64 { return t.commitTS }

// Set buffers a write of value to key.
func (t *Txn) Set(key, value []byte) {
	t.writes[string(key)] = &pb.Mutation{Op: pb.Mutation_PUT, Key: slices.Clone(key), Value: slices.Clone(value)}
}

// Delete buffers a deletion of key.
func (t *Txn) Delete(key []byte) {
	t.writes[string(key)] = &pb.Mutation{Op: pb.Mutation_DELETE, Key: slices.Clone(key)}
}

// Get reads key as of the transaction's snapshot, or the transaction's own
// write of it. found is false if the key does not exist. A lock of another
// transaction that may have committed before the snapshot blocks the read
// until that transaction's fate is known: Get rolls the lock forward or
// back once it can, and waits (until ctx ends) while the lock is alive.
func (t *Txn) Get(ctx context.Context, key []byte) (value []byte, found bool, err error) {
	values, founds, err := t.BatchGet(ctx, [][]byte{key})
	if err != nil {
		return nil, false, err
	}
	return values[0], founds[0], nil
}

// BatchGet reads several keys as Get does, all at once: one request per
// shard, the shards in parallel, so a transaction that needs several
// values waits for one round trip instead of one per key. values[i] and
// found[i] answer keys[i].
func (t *Txn) BatchGet(ctx context.Context, keys [][]byte) (values [][]byte, found []bool, err error) {
	if t.done {
		return nil, nil, errTxnDone
	}
	values, found = make([][]byte, len(keys)), make([]bool, len(keys))
	byShard := make(map[uint32][]int) // indexes into keys
	for i, k := range keys {
		if m, ok := t.writes[string(k)]; ok {
			// A copy: the caller may change it, and the write must not.
			values[i], found[i] = slices.Clone(m.Value), m.Op == pb.Mutation_PUT
			continue
		}
		shard := t.c.shardOf(k)
		byShard[shard] = append(byShard[shard], i)
	}
	// Each shard's reads fill their own indexes of values and found. The
	// first shard to fail stops the others (which may be waiting out a
	// lock): its error is the one reported.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var first error
	var once sync.Once
	eachShard(byShard, func(shard uint32, idx []int) error {
		err := t.readShard(ctx, shard, keys, idx, values, found)
		if err != nil {
			once.Do(func() { first = err; cancel() })
		}
		return err
	})
	if first != nil {
		return nil, nil, first
	}
	return values, found, nil
}

// readShard reads keys[i] for each i in idx, all of shard, into values[i]
// and found[i], with one request for the keys not yet read. A key whose
// read meets a lock is read again once the lock is resolved, or after a
// pause while its owner is alive.
func (t *Txn) readShard(ctx context.Context, shard uint32, keys [][]byte, idx []int, values [][]byte, found []bool) error {
	pause := time.Millisecond
	for {
		req := &pb.BatchGetRequest{Shard: shard, Keys: make([][]byte, len(idx)), Version: t.startTS}
		for j, i := range idx {
			req.Keys[j] = keys[i]
		}
		var resp *pb.BatchGetResponse
		err := t.c.call(ctx, shard, func(ctx context.Context, pc pb.PercolatorClient) (err error) {
			resp, err = pc.BatchGet(ctx, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: get %s at %d: %v", ErrDefinite, keysText(req.Keys), t.startTS, err)
		}
		if len(resp.Results) != len(idx) {
			return fmt.Errorf("%w: get %s at %d: shard %d answered %d keys", ErrDefinite, keysText(req.Keys), t.startTS, shard, len(resp.Results))
		}
		var blocked []int         // indexes into keys, read again
		var locks []*pb.LockInfo  // the distinct locks met
		seen := map[string]bool{} // locked keys
		for j, r := range resp.Results {
			i := idx[j]
			if r.Error == nil {
				values[i], found[i] = r.Value, r.Found
				continue
			}
			lock := r.Error.GetLocked()
			if lock == nil {
				return fmt.Errorf("%w: get %q at %d: %s", ErrDefinite, keys[i], t.startTS, keyErrorText(r.Error))
			}
			blocked = append(blocked, i)
			if !seen[string(lock.Key)] {
				seen[string(lock.Key)] = true
				locks = append(locks, lock)
			}
		}
		if len(blocked) == 0 {
			return nil
		}
		// Each lock costs a status check at its primary and a resolution,
		// both Raft writes: settle them all at once.
		resolved, errs := make([]bool, len(locks)), make([]error, len(locks))
		inParallel(len(locks), func(k int) { resolved[k], errs[k] = t.c.resolveLock(ctx, locks[k]) })
		alive := -1
		for k, lock := range locks {
			if errs[k] != nil {
				return fmt.Errorf("%w: get %q at %d: %v", ErrDefinite, lock.Key, t.startTS, errs[k])
			}
			if !resolved[k] && alive < 0 {
				alive = k
			}
		}
		if alive >= 0 {
			if err := t.c.sleep(ctx, pause); err != nil {
				return fmt.Errorf("%w: get %q at %d: waiting for %s: %v", ErrDefinite, locks[alive].Key, t.startTS,
					keyErrorText(&pb.KeyError{Locked: locks[alive]}), err)
			}
			pause = min(2*pause, t.c.cfg.MaxBackoff)
		}
		idx = blocked
	}
}

// keysText names keys for an error message: the key alone if there is
// one, else the list.
func keysText(keys [][]byte) string {
	if len(keys) == 1 {
		return fmt.Sprintf("%q", keys[0])
	}
	return fmt.Sprintf("%q", keys)
}

// Commit commits the transaction's writes by two-phase commit, and ends
// the transaction. A transaction without writes commits trivially.
//
// The first of the written keys in byte order is the primary. Commit
// prewrites every key (locking it and writing its value at the start
// timestamp), one request per shard, all shards in parallel; takes a
// commit timestamp; commits the primary, together with the other keys of
// the primary's shard in one atomic command (the commit point); then
// commits the other shards' keys. A key locked by a live transaction, or
// written by one that committed after this one started, fails the commit
// with ErrConflict; the keys prewritten so far are rolled back.
//
// An error wraps ErrDefinite or ErrIndeterminate (see errors.go). After
// the commit point the outcome is decided and Commit returns; the other
// shards' commits run on in the background and may fail without harm, as
// readers roll their locks forward.
func (t *Txn) Commit(ctx context.Context) error {
	if t.done {
		return errTxnDone
	}
	t.done = true
	if len(t.writes) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(t.writes))
	primary := []byte(keys[0])
	primaryShard := t.c.shardOf(primary)
	byShard := make(map[uint32][]*pb.Mutation)
	for _, k := range keys {
		shard := t.c.shardOf([]byte(k))
		byShard[shard] = append(byShard[shard], t.writes[k])
	}

	if err := t.prewrite(ctx, primary, byShard); err != nil {
		t.rollback(ctx, byShard)
		return fmt.Errorf("commit transaction %d: %w", t.startTS, err)
	}
	if h := t.c.cfg.hooks; h != nil && h.afterPrewrite != nil {
		if err := h.afterPrewrite(); err != nil {
			return fmt.Errorf("%w: commit transaction %d: stopped after prewrite: %v", ErrDefinite, t.startTS, err)
		}
	}
	commitTS, err := t.c.timestamp(ctx)
	if err != nil {
		t.rollback(ctx, byShard)
		return fmt.Errorf("commit transaction %d: %w", t.startTS, err)
	}
	t.commitTS = commitTS

	if err := t.commitShard(ctx, primaryShard, byShard[primaryShard]); err != nil {
		if errors.Is(err, ErrDefinite) {
			t.commitTS = 0
			t.rollback(ctx, byShard)
		}
		return fmt.Errorf("commit transaction %d at %d: primary %q: %w", t.startTS, commitTS, primary, err)
	}
	if h := t.c.cfg.hooks; h != nil && h.skipSecondaryCommits {
		return nil
	}
	// The transaction is committed. The other shards' keys are committed
	// in the background, as TiKV does: until then a reader that meets
	// their locks rolls them forward itself. The commits outlive the
	// caller's context, for a lock they leave costs its readers a status
	// check each. A client that is closing leaves them to the readers.
	delete(byShard, primaryShard)
	if len(byShard) == 0 {
		return nil
	}
	t.c.inBackground(func() {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.c.cfg.AttemptTimeout)
		defer cancel()
		eachShard(byShard, func(shard uint32, muts []*pb.Mutation) error {
			return t.commitShard(bg, shard, muts)
		})
	})
	return nil
}

// eachShard runs do for every shard of byShard at once (see inParallel)
// and returns their errors in no particular order, nils left out.
func eachShard[T any](byShard map[uint32]T, do func(shard uint32, v T) error) []error {
	shards := slices.Collect(maps.Keys(byShard))
	errs := make([]error, len(shards))
	inParallel(len(shards), func(i int) { errs[i] = do(shards[i], byShard[shards[i]]) })
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// inParallel runs do(0), ..., do(n-1) at once and waits for them all. The
// last runs on the calling goroutine: most transactions touch one or two
// shards, and meet one lock or none, so most calls start no goroutine.
func inParallel(n int, do func(i int)) {
	var wg sync.WaitGroup
	for i := range n - 1 {
		wg.Go(func() { do(i) })
	}
	if n > 0 {
		do(n - 1)
	}
	wg.Wait()
}

// prewrite locks and writes every key, one request per shard, all shards
// in parallel. Its error wraps ErrDefinite: nothing is committed yet.
func (t *Txn) prewrite(ctx context.Context, primary []byte, byShard map[uint32][]*pb.Mutation) error {
	errs := eachShard(byShard, func(shard uint32, muts []*pb.Mutation) error {
		return t.prewriteShard(ctx, primary, shard, muts)
	})
	var first error
	for _, err := range errs {
		if first == nil || errors.Is(err, ErrConflict) && !errors.Is(first, ErrConflict) {
			// A conflict is the more useful report: the caller may retry.
			first = err
		}
	}
	return first
}

// prewriteShard prewrites one shard's mutations. A lock of another
// transaction whose fate is decided (committed, or rolled back because its
// ttl expired) is resolved and the prewrite retried; a live lock is a
// conflict, for waiting on it could deadlock with its owner, which may be
// waiting on one of ours in another shard.
func (t *Txn) prewriteShard(ctx context.Context, primary []byte, shard uint32, muts []*pb.Mutation) error {
	req := &pb.PrewriteRequest{Shard: shard, Mutations: muts, Primary: primary,
		StartTs: t.startTS, LockTtlMs: uint64(t.c.cfg.LockTTL.Milliseconds())}
	for {
		var resp *pb.PrewriteResponse
		err := t.c.call(ctx, shard, func(ctx context.Context, pc pb.PercolatorClient) (err error) {
			resp, err = pc.Prewrite(ctx, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: prewrite shard %d: %v", ErrDefinite, shard, err)
		}
		if len(resp.Errors) == 0 {
			return nil
		}
		for _, ke := range resp.Errors {
			switch lock := ke.GetLocked(); {
			case lock != nil:
				resolved, err := t.c.resolveLock(ctx, lock)
				if err != nil {
					return fmt.Errorf("%w: prewrite shard %d: %v", ErrDefinite, shard, err)
				}
				if !resolved {
					return fmt.Errorf("%w: prewrite shard %d: %s", ErrConflict, shard, keyErrorText(ke))
				}
			case ke.GetConflict() != nil:
				return fmt.Errorf("%w: prewrite shard %d: %s", ErrConflict, shard, keyErrorText(ke))
			default:
				return fmt.Errorf("%w: prewrite shard %d: %s", ErrDefinite, shard, keyErrorText(ke))
			}
		}
	}
}

// commitShard commits the transaction's keys of one shard at its commit
// timestamp. Commit is idempotent, so every failed attempt is retried
// until ctx ends; the error wraps ErrIndeterminate if an attempt may have
// taken effect and no later answer told.
func (t *Txn) commitShard(ctx context.Context, shard uint32, muts []*pb.Mutation) error {
	req := &pb.CommitRequest{Shard: shard, Keys: mutationKeys(muts), StartTs: t.startTS, CommitTs: t.commitTS}
	var resp *pb.CommitResponse
	err := t.c.call(ctx, shard, func(ctx context.Context, pc pb.PercolatorClient) (err error) {
		resp, err = pc.Commit(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	if resp.Error != nil {
		// An answer tells the state after every earlier attempt: a commit
		// that had applied would be acknowledged again.
		return fmt.Errorf("%w: %s", ErrDefinite, keyErrorText(resp.Error))
	}
	return nil
}

// rollback rolls back the transaction's locks after it failed before its
// commit point, so that others need not wait for their ttl. It is best
// effort and runs even if ctx has ended: a lock it leaves expires.
func (t *Txn) rollback(ctx context.Context, byShard map[uint32][]*pb.Mutation) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.c.cfg.AttemptTimeout)
	defer cancel()
	eachShard(byShard, func(shard uint32, muts []*pb.Mutation) error {
		req := &pb.RollbackRequest{Shard: shard, Keys: mutationKeys(muts), StartTs: t.startTS}
		return t.c.call(ctx, shard, func(ctx context.Context, pc pb.PercolatorClient) error {
			_, err := pc.Rollback(ctx, req)
			return err
		})
	})
}

// mutationKeys returns the keys of muts, in order.
func mutationKeys(muts []*pb.Mutation) [][]byte {
	keys := make([][]byte, len(muts))
	for i, m := range muts {
		keys[i] = m.Key
	}
	return keys
}
