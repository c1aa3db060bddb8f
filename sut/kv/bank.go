package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/workloads/ops"
)

// bankClient runs the bank workload on the KV store. Balances are decimal
// strings. Its timestamps are the store's log indexes: a Txn at index i
// sees exactly the Txns applied before it, so a read's start_ts is its
// Txn's index and a transfer's commit_ts is its writing Txn's index.
type bankClient struct {
	c        *kv.Client
	accounts []string
	initial  map[string]int64
	created  bool // the accounts are known to exist
}

func (c *bankClient) Close() error { return c.c.Close() }

// Invoke implements Client.
func (c *bankClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if !c.created {
		if err := c.create(ctx); err != nil {
			// Nothing of op was sent.
			return ops.Complete(op, history.Fail, op.Value, err)
		}
		c.created = true
	}
	switch op.F {
	case "read":
		return c.read(ctx, op)
	case "transfer":
		return c.transfer(ctx, op)
	}
	return ops.Complete(op, history.Fail, nil, fmt.Errorf("bank: unknown f %q", op.F))
}

// create makes the accounts with their initial balances, unless they
// exist: one Txn that writes them all if none has a version yet. Every
// client runs it before its first operation; only the first one writes.
func (c *bankClient) create(ctx context.Context) error {
	req := &kvpb.TxnRequest{}
	for _, a := range c.accounts {
		req.Compares = append(req.Compares, &kvpb.Compare{Key: a, Target: kvpb.Compare_VERSION, Op: kvpb.Compare_EQUAL, Version: 0})
		req.Success = append(req.Success, putOp(a, c.initial[a]))
	}
	if _, err := c.c.Txn(ctx, req); err != nil {
		return fmt.Errorf("create accounts: %w", err)
	}
	return nil
}

// read reads every account in one Txn.
func (c *bankClient) read(ctx context.Context, op history.Op) history.Op {
	resp, err := c.c.Txn(ctx, &kvpb.TxnRequest{Success: getOps(c.accounts)})
	if err == nil {
		err = checkResults(resp, len(c.accounts))
	}
	if err != nil {
		// A read has no effect: whatever went wrong, it failed.
		return ops.Complete(op, history.Fail, nil, err)
	}
	balances := make(map[string]int64, len(c.accounts))
	for i, a := range c.accounts {
		b, err := balanceOf(resp.Results[i], a)
		if err != nil {
			return ops.Complete(op, history.Fail, nil, err)
		}
		if b != nil {
			balances[a] = b.balance
		}
	}
	done := ops.Complete(op, history.OK, ops.BalancesValue(balances), nil)
	done.StartTS = resp.Version
	return done
}

// transfer reads both balances in one Txn, then writes both in a second
// that first compares their versions with the ones read: if either
// account changed in between, nothing is written and the transfer fails.
func (c *bankClient) transfer(ctx context.Context, op history.Op) history.Op {
	t, err := ops.DecodeTransfer(op.Value)
	if err == nil {
		err = t.Valid()
	}
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	from, to, amount := t.From, t.To, t.Amount
	read, err := c.c.Txn(ctx, &kvpb.TxnRequest{Success: getOps([]string{from, to})})
	if err == nil {
		err = checkResults(read, 2)
	}
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, fmt.Errorf("read balances: %w", err))
	}
	src, err := balanceOf(read.Results[0], from)
	if err == nil && src == nil {
		err = fmt.Errorf("account %s does not exist", from)
	}
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	dst, err := balanceOf(read.Results[1], to)
	if err == nil && dst == nil {
		err = fmt.Errorf("account %s does not exist", to)
	}
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	if src.balance < amount {
		return ops.Complete(op, history.Fail, op.Value, fmt.Errorf("insufficient funds: %s has %d", from, src.balance))
	}

	write, err := c.c.Txn(ctx, &kvpb.TxnRequest{
		Compares: []*kvpb.Compare{
			{Key: from, Target: kvpb.Compare_VERSION, Op: kvpb.Compare_EQUAL, Version: src.version},
			{Key: to, Target: kvpb.Compare_VERSION, Op: kvpb.Compare_EQUAL, Version: dst.version},
		},
		Success: []*kvpb.Op{putOp(from, src.balance-amount), putOp(to, dst.balance+amount)},
	})
	switch {
	case err == nil && !write.Succeeded:
		return ops.Complete(op, history.Fail, op.Value, errors.New("conflict: a balance changed since it was read"))
	case err != nil:
		return outcome(op, op.Value, err)
	}
	done := ops.Complete(op, history.OK, op.Value, nil)
	done.StartTS, done.CommitTS = read.Version, write.Version
	return done
}

// checkResults checks that a Txn answered each of its n operations.
func checkResults(resp *kvpb.TxnResponse, n int) error {
	if len(resp.Results) != n {
		return fmt.Errorf("the Txn of %d operations answered %d results", n, len(resp.Results))
	}
	return nil
}

type kvBalance struct {
	balance int64
	version uint64
}

// balanceOf reads a Get result of account; nil if the account is absent.
func balanceOf(r *kvpb.OpResult, account string) (*kvBalance, error) {
	get := r.GetGet()
	if get == nil {
		return nil, fmt.Errorf("read %s: the Txn answered %v, not a Get result", account, r)
	}
	if !get.Found {
		return nil, nil
	}
	n, err := strconv.ParseInt(string(get.Kv.Value), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("read %s: balance %q is not an integer", account, get.Kv.Value)
	}
	return &kvBalance{balance: n, version: get.Kv.Version}, nil
}

func getOps(keys []string) []*kvpb.Op {
	ops := make([]*kvpb.Op, len(keys))
	for i, k := range keys {
		ops[i] = &kvpb.Op{Op: &kvpb.Op_Get{Get: &kvpb.GetRequest{Key: k}}}
	}
	return ops
}

func putOp(key string, n int64) *kvpb.Op {
	return &kvpb.Op{Op: &kvpb.Op_Put{Put: &kvpb.PutRequest{Key: key, Value: []byte(strconv.FormatInt(n, 10))}}}
}
