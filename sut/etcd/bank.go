package etcd

import (
	"context"
	"fmt"
	"slices"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// CreateAccounts puts every account of initial that does not exist yet, in
// one transaction, so running it again (say after an unknown outcome)
// changes nothing that exists.
func (s *Store) CreateAccounts(ctx context.Context, initial map[string]int64) error {
	names := sortedKeys(initial)
	// One nested transaction per account: etcd has no "put if absent"
	// for a set of keys under one If, but an outer transaction with no
	// guard runs every inner one atomically at one revision.
	puts := make([]clientv3.Op, len(names))
	for i, name := range names {
		puts[i] = clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(name), "=", 0)},
			[]clientv3.Op{clientv3.OpPut(name, formatInt(initial[name]))},
			nil)
	}
	if _, err := s.client.Txn(ctx).Then(puts...).Commit(); err != nil {
		return fmt.Errorf("etcd: create accounts %v: %w", names, err)
	}
	return nil
}

// Balances reads accounts at one revision, which it returns. An account
// that does not exist is absent from balances.
func (s *Store) Balances(ctx context.Context, accounts []string) (balances map[string]int64, revision int64, err error) {
	kvs, revision, err := s.snapshot(ctx, accounts)
	if err != nil {
		return nil, 0, fmt.Errorf("etcd: read balances: %w", err)
	}
	balances = make(map[string]int64, len(accounts))
	for name, kv := range kvs {
		if balances[name], err = parseInt(name, kv.Value); err != nil {
			return nil, 0, err
		}
	}
	return balances, revision, nil
}

// Transfer moves amount from one account to another. It reads both
// balances, refuses with ErrInsufficientFunds if from holds less than
// amount, and otherwise commits both new balances in a transaction guarded
// by both accounts' ModRevision: if either changed since the read, nothing
// is written and the error is ErrConflict. Money is therefore never
// created or lost by a race, only by a bug in etcd. It returns the
// revision it read the balances at and, if it committed, its write's.
func (s *Store) Transfer(ctx context.Context, from, to string, amount int64) (read, commit int64, err error) {
	if from == to || amount <= 0 {
		return 0, 0, beforeWrite("etcd: transfer %d from %q to %q: need two accounts and a positive amount", amount, from, to)
	}
	kvs, read, err := s.snapshot(ctx, []string{from, to})
	if err != nil {
		return read, 0, beforeWrite("etcd: transfer %d from %q to %q: read balances: %w", amount, from, to, err)
	}
	balance := map[string]int64{}
	for _, name := range []string{from, to} {
		kv, ok := kvs[name]
		if !ok {
			return read, 0, beforeWrite("etcd: transfer %d from %q to %q: account %q does not exist", amount, from, to, name)
		}
		if balance[name], err = parseInt(name, kv.Value); err != nil {
			return read, 0, beforeWrite("etcd: transfer %d from %q to %q: %w", amount, from, to, err)
		}
	}
	if balance[from] < amount {
		return read, 0, fmt.Errorf("etcd: transfer %d from %q (holding %d) to %q: %w", amount, from, balance[from], to, ErrInsufficientFunds)
	}
	s.readDone()
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(from), "=", kvs[from].ModRevision),
			clientv3.Compare(clientv3.ModRevision(to), "=", kvs[to].ModRevision)).
		Then(clientv3.OpPut(from, formatInt(balance[from]-amount)),
			clientv3.OpPut(to, formatInt(balance[to]+amount))).
		Commit()
	if err != nil {
		return read, 0, fmt.Errorf("etcd: transfer %d from %q to %q: %w", amount, from, to, err)
	}
	if !resp.Succeeded {
		return read, 0, fmt.Errorf("etcd: transfer %d from %q to %q: %w", amount, from, to, ErrConflict)
	}
	return read, resp.Header.Revision, nil
}

// snapshot reads keys in one transaction of Gets, so every value is from
// the one revision it returns. Its Gets are not serializable, so even a
// follower answers only after confirming the leader's read index: the
// snapshot is linearizable.
func (s *Store) snapshot(ctx context.Context, keys []string) (map[string]*mvccpb.KeyValue, int64, error) {
	gets := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		gets[i] = clientv3.OpGet(k)
	}
	resp, err := s.client.Txn(ctx).Then(gets...).Commit()
	if err != nil {
		return nil, 0, err
	}
	kvs := make(map[string]*mvccpb.KeyValue, len(keys))
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().GetKvs() {
			kvs[string(kv.Key)] = kv
		}
	}
	return kvs, resp.Header.Revision, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
