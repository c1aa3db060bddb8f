package workloads

import (
	"math/rand/v2"
	"strconv"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
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

func (w *Bank) Name() string { return "bank" }

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
	t := ops.Transfer{From: g.accounts[from], To: g.accounts[to], Amount: 1 + rng.Int64N(g.maxTransfer)}
	return history.Op{F: "transfer", Value: t.Value()}, true
}

// FinalGenerator implements Workload: one read of every account.
func (w *Bank) FinalGenerator() Generator { return &opList{ops: []history.Op{{F: "read"}}} }

// Checkers implements Workload.
func (w *Bank) Checkers(CheckOptions) []checker.Checker {
	return []checker.Checker{checker.Stats(), checker.Bank(w.accounts(), w.total())}
}

// InitialBalances are the accounts' balances before the first transfer,
// which a client creates if the accounts do not exist yet.
func (w *Bank) InitialBalances() map[string]int64 {
	return checker.BankInitialBalances(w.accounts(), w.total())
}

// AccountNames are the bank's accounts, in order.
func (w *Bank) AccountNames() []string { return w.accounts() }
