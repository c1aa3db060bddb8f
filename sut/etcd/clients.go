package etcd

import (
	"context"
	"errors"
	"fmt"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
)

// The workloads' clients: each decodes an operation with the workload's
// decoder, performs it through a Store, and completes it by Definite.

// outcome completes an operation that may have changed the cluster.
func outcome(op history.Op, value any, err error) history.Op {
	if err != nil && Definite(err) {
		err = ops.Definite(err)
	}
	return ops.Outcome(op, value, err)
}

type registerClient struct{ s *Store }

func (c *registerClient) Close() error { return c.s.Close() }

func (c *registerClient) Invoke(ctx context.Context, op history.Op) history.Op {
	r, err := ops.DecodeRegister(&op)
	if err != nil {
		return ops.Complete(op, history.Fail, nil, err)
	}
	switch r.F {
	case ops.Read:
		v, found, err := c.s.Read(ctx, r.Key)
		if err != nil {
			// A read has no effect: whatever went wrong, it failed.
			return ops.Complete(op, history.Fail, nil, err)
		}
		return ops.Complete(op, history.OK, ops.ReadValue(r.Key, v, found), nil)
	case ops.Write:
		return outcome(op, op.Value, c.s.Write(ctx, r.Key, r.Value))
	default:
		swapped, err := c.s.CAS(ctx, r.Key, r.Expected, r.Value)
		if err == nil && !swapped {
			return ops.Complete(op, history.Fail, op.Value, errors.New(ops.CASValueDiffers))
		}
		return outcome(op, op.Value, err)
	}
}

// bankClient runs the bank. Its timestamps are etcd revisions: a read's
// start_ts is the revision it read at, a transfer's commit_ts its write's.
type bankClient struct {
	s        *Store
	accounts []string
	initial  map[string]int64
	created  bool // the accounts are known to exist
}

func (c *bankClient) Close() error { return c.s.Close() }

func (c *bankClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if !c.created {
		if err := c.s.CreateAccounts(ctx, c.initial); err != nil {
			// Nothing of op was sent.
			return ops.Complete(op, history.Fail, op.Value, fmt.Errorf("create accounts: %w", err))
		}
		c.created = true
	}
	switch op.F {
	case "read":
		balances, rev, err := c.s.Balances(ctx, c.accounts)
		if err != nil {
			return ops.Complete(op, history.Fail, nil, err)
		}
		done := ops.Complete(op, history.OK, ops.BalancesValue(balances), nil)
		done.StartTS = uint64(rev)
		return done
	case "transfer":
		t, err := ops.DecodeTransfer(op.Value)
		if err == nil {
			err = t.Valid()
		}
		if err != nil {
			return ops.Complete(op, history.Fail, op.Value, err)
		}
		read, commit, err := c.s.Transfer(ctx, t.From, t.To, t.Amount)
		done := outcome(op, op.Value, err)
		done.StartTS, done.CommitTS = uint64(read), uint64(commit)
		return done
	}
	return ops.Complete(op, history.Fail, nil, fmt.Errorf("bank: unknown f %q", op.F))
}

type appendClient struct{ s *Store }

func (c *appendClient) Close() error { return c.s.Close() }

func (c *appendClient) Invoke(ctx context.Context, op history.Op) history.Op {
	txn, err := ops.TxnRequest(op)
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	mops := make([]MicroOp, len(txn))
	for i, m := range txn {
		mops[i] = MicroOp{Append: m.F == "append", Key: m.Key, Element: m.Elem}
	}
	done, err := c.s.Txn(ctx, mops)
	if err != nil {
		return outcome(op, op.Value, err)
	}
	value := make([]any, len(done))
	for i, m := range done {
		if m.Append {
			value[i] = []any{"append", m.Key, m.Element}
			continue
		}
		list := make([]any, len(m.List))
		for j, e := range m.List {
			list[j] = e
		}
		value[i] = []any{"r", m.Key, list}
	}
	return ops.Complete(op, history.OK, value, nil)
}
