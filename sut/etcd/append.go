package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// MicroOp is one step of a list-append transaction: append Element to the
// list at Key, or (Append false) read the list at Key into List.
type MicroOp struct {
	Append  bool
	Key     string
	Element int64
	List    []int64
}

// Txn runs ops as one transaction and returns them with every read's List
// filled in. It reads every key the ops touch at one revision, plays the
// ops in order on those lists (a read after an append in the same
// transaction sees it), and, if any op appends, commits the new lists in
// one etcd transaction guarded by every touched key's ModRevision (or, for
// a key that did not exist, its CreateRevision being 0). A failed guard
// writes nothing and returns ErrConflict.
//
// Because every key read is guarded, a committed transaction's reads are
// still current at its commit revision: transactions are serializable in
// revision order. A transaction that only reads is its snapshot and needs
// no second round trip.
func (s *Store) Txn(ctx context.Context, ops []MicroOp) ([]MicroOp, error) {
	var keys []string
	for _, op := range ops {
		if !slices.Contains(keys, op.Key) {
			keys = append(keys, op.Key)
		}
	}
	kvs, _, err := s.snapshot(ctx, keys)
	if err != nil {
		return nil, beforeWrite("etcd: txn over %v: read: %w", keys, err)
	}
	lists := make(map[string][]int64, len(keys))
	for key, kv := range kvs {
		var list []int64
		if err := json.Unmarshal(kv.Value, &list); err != nil {
			return nil, beforeWrite("etcd: txn: key %q holds %q, not a JSON list of integers", key, kv.Value)
		}
		lists[key] = list
	}

	done := make([]MicroOp, len(ops))
	appended := map[string]bool{}
	for i, op := range ops {
		if op.Append {
			lists[op.Key] = append(lists[op.Key], op.Element)
			appended[op.Key] = true
			op.List = nil
		} else {
			op.List = slices.Clone(lists[op.Key])
		}
		done[i] = op
	}
	if len(appended) == 0 {
		return done, nil
	}

	guards := make([]clientv3.Cmp, 0, len(keys))
	var puts []clientv3.Op
	for _, key := range keys {
		if kv, ok := kvs[key]; ok {
			guards = append(guards, clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision))
		} else {
			guards = append(guards, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
		}
		if appended[key] {
			stored, err := json.Marshal(lists[key])
			if err != nil {
				return nil, beforeWrite("etcd: txn: encode list at %q: %w", key, err)
			}
			puts = append(puts, clientv3.OpPut(key, string(stored)))
		}
	}
	s.readDone()
	resp, err := s.client.Txn(ctx).If(guards...).Then(puts...).Commit()
	if err != nil {
		return nil, fmt.Errorf("etcd: txn over %v: commit: %w", keys, err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("etcd: txn over %v: %w", keys, ErrConflict)
	}
	return done, nil
}
