package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/kv/kvpb"
)

// Bank is the bank workload: accounts holding a fixed total of money,
// transfers between them, and reads of every account, each one
// transaction. Transfers move money and never make or lose it, so every
// read must see the same total and no negative balance; a system that
// lets two transfers act on the same stale balances, or a read see half
// a transfer, breaks that.
//
// Operations: f "transfer", value {"from": "a1", "to": "a3", "amount":
// 5}: ok if it committed, fail if it certainly did not (including when
// from's balance is short: a transfer never overdraws). f "read", value
// null, completing ok with {"a0": 10, "a1": 10, ...}. A system with
// transaction timestamps records a transfer's commit_ts and a read's
// start_ts, for the checker's replay.
type Bank struct {
	// Accounts is the number of accounts, at least 2. Default 8.
	Accounts int
	// Total is the money in the bank, split evenly (see
	// checker.BankInitialBalances). Default 10 per account.
	Total int64
	// MaxTransfer bounds a transfer's amount. Default 5.
	MaxTransfer int64
}

// NewBank returns the workload with its defaults.
func NewBank() *Bank { return &Bank{} }

func (w *Bank) Name() string      { return "bank" }
func (w *Bank) Systems() []string { return []string{"kv", "percolator"} }

func (w *Bank) accounts() []string {
	n := w.Accounts
	if n <= 0 {
		n = 8
	}
	n = max(n, 2) // a transfer needs two accounts
	names := make([]string, n)
	for i := range names {
		names[i] = "a" + strconv.Itoa(i)
	}
	return names
}

func (w *Bank) total() int64 {
	if w.Total <= 0 {
		return 10 * int64(len(w.accounts()))
	}
	return w.Total
}

type bankGenerator struct {
	accounts    []string
	maxTransfer int64
}

// NewGenerator implements Workload: transfers and reads, half each.
func (w *Bank) NewGenerator(int) Generator {
	maxTransfer := w.MaxTransfer
	if maxTransfer <= 0 {
		maxTransfer = 5
	}
	return &bankGenerator{accounts: w.accounts(), maxTransfer: maxTransfer}
}

// Next implements Generator. It only reads g, which never changes, so
// workers may call it concurrently.
func (g *bankGenerator) Next(rng *rand.Rand) (history.Op, bool) {
	if rng.IntN(2) == 0 {
		return history.Op{F: "read"}, true
	}
	from := rng.IntN(len(g.accounts))
	to := (from + 1 + rng.IntN(len(g.accounts)-1)) % len(g.accounts)
	return history.Op{F: "transfer", Value: map[string]any{
		"from": g.accounts[from], "to": g.accounts[to], "amount": 1 + rng.Int64N(g.maxTransfer),
	}}, true
}

// FinalGenerator implements Workload: one read of every account.
func (w *Bank) FinalGenerator() Generator { return &opList{ops: []history.Op{{F: "read"}}} }

// Checkers implements Workload.
func (w *Bank) Checkers(CheckOptions) []checker.Checker {
	return []checker.Checker{checker.Stats(), checker.Bank(w.accounts(), w.total())}
}

// NewClient implements Workload. Each system has its own adapter, which
// runs a transfer and a read as one transaction of that system.
func (w *Bank) NewClient(t Target) (Client, error) {
	accounts := w.accounts()
	initial := checker.BankInitialBalances(accounts, w.total())
	switch t.System {
	case "percolator":
		c, err := newPercolatorClient(t)
		if err != nil {
			return nil, err
		}
		return &percolatorBankClient{c: c, accounts: accounts, initial: initial}, nil
	case "kv":
		c, err := newKVClient(t)
		if err != nil {
			return nil, err
		}
		return &kvBankClient{c: c, accounts: accounts, initial: initial}, nil
	}
	return nil, fmt.Errorf("bank workload: no client for system %q", t.System)
}

// bankOp reads an operation's transfer, if it is one.
func bankOp(op history.Op) (from, to string, amount int64, err error) {
	m, _ := op.Value.(map[string]any)
	from, _ = m["from"].(string)
	to, _ = m["to"].(string)
	amount, ok := history.Int(m["amount"])
	if from == "" || to == "" || from == to || !ok || amount <= 0 {
		return "", "", 0, fmt.Errorf("transfer value %v is not {from, to, amount} between two accounts", op.Value)
	}
	return from, to, amount, nil
}

// kvBankClient runs the bank on the KV store. Balances are decimal
// strings. Its timestamps are the store's log indexes: a Txn at index i
// sees exactly the Txns applied before it, so a read's start_ts is its
// Txn's index and a transfer's commit_ts is its writing Txn's index.
type kvBankClient struct {
	c        *kv.Client
	accounts []string
	initial  map[string]int64
	created  bool // the accounts are known to exist
}

func (c *kvBankClient) Close() error { return c.c.Close() }

// Invoke implements Client.
func (c *kvBankClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if !c.created {
		if err := c.create(ctx); err != nil {
			// Nothing of op was sent.
			return completion(op, history.Fail, op.Value, err)
		}
		c.created = true
	}
	switch op.F {
	case "read":
		return c.read(ctx, op)
	case "transfer":
		return c.transfer(ctx, op)
	}
	return completion(op, history.Fail, nil, fmt.Errorf("bank: unknown f %q", op.F))
}

// create makes the accounts with their initial balances, unless they
// exist: one Txn that writes them all if none has a version yet. Every
// client runs it before its first operation; only the first one writes.
func (c *kvBankClient) create(ctx context.Context) error {
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
func (c *kvBankClient) read(ctx context.Context, op history.Op) history.Op {
	resp, err := c.c.Txn(ctx, &kvpb.TxnRequest{Success: getOps(c.accounts)})
	if err == nil {
		err = checkResults(resp, len(c.accounts))
	}
	if err != nil {
		// A read has no effect: whatever went wrong, it failed.
		return completion(op, history.Fail, nil, err)
	}
	balances := make(map[string]any, len(c.accounts))
	for i, a := range c.accounts {
		b, err := balanceOf(resp.Results[i], a)
		if err != nil {
			return completion(op, history.Fail, nil, err)
		}
		if b != nil {
			balances[a] = b.balance
		}
	}
	done := completion(op, history.OK, balances, nil)
	done.StartTS = resp.Version
	return done
}

// transfer reads both balances in one Txn, then writes both in a second
// that first compares their versions with the ones read: if either
// account changed in between, nothing is written and the transfer fails.
func (c *kvBankClient) transfer(ctx context.Context, op history.Op) history.Op {
	from, to, amount, err := bankOp(op)
	if err != nil {
		return completion(op, history.Fail, op.Value, err)
	}
	read, err := c.c.Txn(ctx, &kvpb.TxnRequest{Success: getOps([]string{from, to})})
	if err == nil {
		err = checkResults(read, 2)
	}
	if err != nil {
		return completion(op, history.Fail, op.Value, fmt.Errorf("read balances: %w", err))
	}
	src, err := balanceOf(read.Results[0], from)
	if err == nil && src == nil {
		err = fmt.Errorf("account %s does not exist", from)
	}
	if err != nil {
		return completion(op, history.Fail, op.Value, err)
	}
	dst, err := balanceOf(read.Results[1], to)
	if err == nil && dst == nil {
		err = fmt.Errorf("account %s does not exist", to)
	}
	if err != nil {
		return completion(op, history.Fail, op.Value, err)
	}
	if src.balance < amount {
		return completion(op, history.Fail, op.Value, fmt.Errorf("insufficient funds: %s has %d", from, src.balance))
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
		return completion(op, history.Fail, op.Value, errors.New("conflict: a balance changed since it was read"))
	case err != nil:
		return writeCompletion(op, err)
	}
	done := completion(op, history.OK, op.Value, nil)
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
