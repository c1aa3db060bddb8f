package percolator

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/sut/internal/squallnode"
	"github.com/squall-chaos/squall/system/percolator"
	"github.com/squall-chaos/squall/workloads/ops"
)

// The Percolator adapters: every operation is one Percolator transaction,
// and every completion carries the transaction's start_ts (and commit_ts
// when it wrote), which the bank checker's replay and reports use.

// txnCompletion maps a transaction's commit error onto the history's
// types through Percolator's error taxonomy.
func txnCompletion(op history.Op, value any, txn *percolator.Txn, err error) history.Op {
	var done history.Op
	switch {
	case err == nil:
		done = ops.Complete(op, history.OK, value, nil)
		done.CommitTS = txn.CommitTS()
	case errors.Is(err, percolator.ErrDefinite):
		done = ops.Complete(op, history.Fail, op.Value, err)
	default:
		done = ops.Complete(op, history.Info, op.Value, err)
	}
	done.StartTS = txn.StartTS()
	return done
}

// readCompletion is the completion of a transaction that only read: it
// had no effect whatever happened, so any error is a failure.
func readCompletion(op history.Op, value any, txn *percolator.Txn, err error) history.Op {
	if err != nil {
		return ops.Complete(op, history.Fail, nil, err)
	}
	done := ops.Complete(op, history.OK, value, nil)
	done.StartTS = txn.StartTS()
	return done
}

// registerClient runs the register workload as single-key
// transactions.
type registerClient struct{ c *percolator.Client }

func (c *registerClient) Close() error { return c.c.Close() }

func (c *registerClient) Invoke(ctx context.Context, op history.Op) history.Op {
	r, err := ops.DecodeRegister(&op)
	if err != nil {
		return ops.Complete(op, history.Fail, nil, err)
	}
	key := r.Key
	txn, err := c.c.Begin(ctx)
	if err != nil {
		return ops.Complete(op, history.Fail, nil, err)
	}
	k := []byte(key)
	switch r.F {
	case ops.Read:
		v, found, err := txn.Get(ctx, k)
		if err != nil {
			return readCompletion(op, nil, txn, err)
		}
		var value any
		if found {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return ops.Complete(op, history.Fail, nil, fmt.Errorf("read %s: value %q is not an integer", key, v))
			}
			value = n
		}
		return readCompletion(op, []any{key, value}, txn, nil)
	case ops.Write:
		txn.Set(k, []byte(strconv.FormatInt(r.Value, 10)))
		return txnCompletion(op, op.Value, txn, txn.Commit(ctx))
	default:
		from, to := r.Expected, r.Value
		v, found, err := txn.Get(ctx, k)
		if err != nil {
			return ops.Complete(op, history.Fail, op.Value, err)
		}
		if !found || string(v) != strconv.FormatInt(from, 10) {
			return ops.Complete(op, history.Fail, op.Value, errors.New(ops.CASValueDiffers))
		}
		txn.Set(k, []byte(strconv.FormatInt(to, 10)))
		return txnCompletion(op, op.Value, txn, txn.Commit(ctx))
	}
}

// bankClient runs transfers and reads as transactions. The
// accounts are created by the first transaction that finds none.
type bankClient struct {
	c        *percolator.Client
	accounts []string
	initial  map[string]int64
	created  bool
}

func (c *bankClient) Close() error { return c.c.Close() }

func (c *bankClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if !c.created {
		if err := c.create(ctx); err != nil {
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

// create writes the initial balances in one transaction if no account
// exists yet; two clients racing both read "none", and snapshot isolation
// lets only one of their commits through (the other conflicts and
// retries, then finds the accounts).
func (c *bankClient) create(ctx context.Context) error {
	for ctx.Err() == nil {
		txn, err := c.c.Begin(ctx)
		if err != nil {
			return fmt.Errorf("create accounts: %w", err)
		}
		_, found, err := txn.Get(ctx, []byte(c.accounts[0]))
		if err != nil {
			return fmt.Errorf("create accounts: %w", err)
		}
		if found {
			return nil
		}
		for _, a := range c.accounts {
			txn.Set([]byte(a), []byte(strconv.FormatInt(c.initial[a], 10)))
		}
		switch err := txn.Commit(ctx); {
		case err == nil:
			return nil
		case !errors.Is(err, percolator.ErrConflict):
			return fmt.Errorf("create accounts: %w", err)
		}
		// Another client created them first; look again.
	}
	return ctx.Err()
}

// balances reads accounts with one BatchGet. found[i] is false for an
// account that does not exist.
func (c *bankClient) balances(ctx context.Context, txn *percolator.Txn, accounts []string) (amounts []int64, found []bool, err error) {
	keys := make([][]byte, len(accounts))
	for i, a := range accounts {
		keys[i] = []byte(a)
	}
	values, found, err := txn.BatchGet(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	amounts = make([]int64, len(accounts))
	for i, v := range values {
		if !found[i] {
			continue
		}
		if amounts[i], err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return nil, nil, fmt.Errorf("read %s: balance %q is not an integer", accounts[i], v)
		}
	}
	return amounts, found, nil
}

func (c *bankClient) read(ctx context.Context, op history.Op) history.Op {
	txn, err := c.c.Begin(ctx)
	if err != nil {
		return ops.Complete(op, history.Fail, nil, err)
	}
	amounts, found, err := c.balances(ctx, txn, c.accounts)
	if err != nil {
		return readCompletion(op, nil, txn, err)
	}
	balances := make(map[string]int64, len(c.accounts))
	for i, a := range c.accounts {
		if found[i] {
			balances[a] = amounts[i]
		}
	}
	return readCompletion(op, ops.BalancesValue(balances), txn, nil)
}

func (c *bankClient) transfer(ctx context.Context, op history.Op) history.Op {
	t, err := ops.DecodeTransfer(op.Value)
	if err == nil {
		err = t.Valid()
	}
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	from, to, amount := t.From, t.To, t.Amount
	txn, err := c.c.Begin(ctx)
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	amounts, found, err := c.balances(ctx, txn, []string{from, to})
	if err == nil && !found[0] {
		err = fmt.Errorf("account %s does not exist", from)
	}
	if err == nil && !found[1] {
		err = fmt.Errorf("account %s does not exist", to)
	}
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	src, dst := amounts[0], amounts[1]
	if src < amount {
		return ops.Complete(op, history.Fail, op.Value, fmt.Errorf("insufficient funds: %s has %d", from, src))
	}
	txn.Set([]byte(from), []byte(strconv.FormatInt(src-amount, 10)))
	txn.Set([]byte(to), []byte(strconv.FormatInt(dst+amount, 10)))
	return txnCompletion(op, op.Value, txn, txn.Commit(ctx))
}

// appendClient runs list-append transactions; a list is stored
// as one value in the same comma-terminated form as on the KV store.
type appendClient struct{ c *percolator.Client }

func (c *appendClient) Close() error { return c.c.Close() }

func (c *appendClient) Invoke(ctx context.Context, op history.Op) history.Op {
	mops, err := ops.TxnRequest(op)
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	txn, err := c.c.Begin(ctx)
	if err != nil {
		return ops.Complete(op, history.Fail, op.Value, err)
	}
	done := make([]any, len(mops))
	wrote := false
	for i, m := range mops {
		// The transaction's Get sees its own buffered appends.
		v, _, err := txn.Get(ctx, []byte(m.Key))
		if err != nil {
			return ops.Complete(op, history.Fail, op.Value, err)
		}
		if m.F == "r" {
			list, err := squallnode.ParseList(v)
			if err != nil {
				return ops.Complete(op, history.Fail, op.Value, fmt.Errorf("micro-op %d: read %s: %w", i, m.Key, err))
			}
			done[i] = []any{"r", m.Key, list}
			continue
		}
		txn.Set([]byte(m.Key), append(append([]byte(nil), v...), strconv.FormatInt(m.Elem, 10)+","...))
		done[i] = []any{"append", m.Key, m.Elem}
		wrote = true
	}
	if !wrote {
		return readCompletion(op, done, txn, nil)
	}
	return txnCompletion(op, done, txn, txn.Commit(ctx))
}
