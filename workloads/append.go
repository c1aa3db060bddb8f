package workloads

import (
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/checker/elle"
	"github.com/squall-chaos/squall/history"
)

// Append is the list-append workload, the one Elle checks: transactions
// of micro-ops that append an element to a key's list or read the whole
// list. Elements are unique per key, so every read names the appends it
// saw and in which order, and the checker can infer each key's version
// order and the dependencies between transactions. Keys are retired after
// AppendsPerKey appends and replaced, which keeps lists short.
//
// Operations: f "txn", value a list of micro-ops: ["append", "k3", 7] and
// ["r", "k3", null]. An ok completion repeats them with each read's list
// filled in: ["r", "k3", [1, 2, 7]] ([] if the key is absent).
type Append struct {
	// ActiveKeys is how many keys are in use at once. Default 10.
	ActiveKeys int
	// AppendsPerKey is how many elements a key gets before it is retired.
	// Default 100.
	AppendsPerKey int
	// MaxTxnLen bounds the micro-ops of a transaction. Default 4.
	MaxTxnLen int

	mu   sync.Mutex
	used []string // every key ever handed out, for the final reads
}

// NewAppend returns the workload with its defaults.
func NewAppend() *Append { return &Append{} }

func (w *Append) Name() string { return "append" }

type appendKey struct {
	name     string
	appended int64 // elements appended so far; the next is appended+1
}

type appendGenerator struct {
	w         *Append
	perKey    int64
	maxTxnLen int

	mu      sync.Mutex
	active  []*appendKey
	nextKey int
}

// NewGenerator implements Workload.
func (w *Append) NewGenerator(int) Generator {
	g := &appendGenerator{w: w, perKey: int64(w.AppendsPerKey), maxTxnLen: w.MaxTxnLen}
	if g.perKey <= 0 {
		g.perKey = 100
	}
	if g.maxTxnLen <= 0 {
		g.maxTxnLen = 4
	}
	n := w.ActiveKeys
	if n <= 0 {
		n = 10
	}
	for range n {
		g.active = append(g.active, g.newKey())
	}
	return g
}

func (g *appendGenerator) newKey() *appendKey {
	g.nextKey++
	k := &appendKey{name: "k" + strconv.Itoa(g.nextKey)}
	g.w.mu.Lock()
	g.w.used = append(g.w.used, k.name)
	g.w.mu.Unlock()
	return k
}

// Next implements Generator: a transaction of 1 to MaxTxnLen micro-ops
// on random active keys, each a read or an append of the key's next
// element, half and half.
func (g *appendGenerator) Next(rng *rand.Rand) (history.Op, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 1 + rng.IntN(g.maxTxnLen)
	txn := make([]any, n)
	for j := range txn {
		i := rng.IntN(len(g.active))
		k := g.active[i]
		if rng.IntN(2) == 0 {
			txn[j] = []any{"r", k.name, nil}
			continue
		}
		k.appended++
		txn[j] = []any{"append", k.name, k.appended}
		if k.appended >= g.perKey {
			g.active[i] = g.newKey()
		}
	}
	return history.Op{F: "txn", Value: txn}, true
}

// FinalGenerator implements Workload: a read of every key used, one
// transaction each.
func (w *Append) FinalGenerator() Generator {
	w.mu.Lock()
	defer w.mu.Unlock()
	ops := make([]history.Op, len(w.used))
	for i, k := range w.used {
		ops[i] = history.Op{F: "txn", Value: []any{[]any{"r", k, nil}}}
	}
	return &opList{ops: ops}
}

// Checkers implements Workload: Elle, against opts.Consistency.
func (w *Append) Checkers(opts CheckOptions) []checker.Checker {
	return []checker.Checker{
		checker.Stats(),
		elle.NewChecker(elle.Options{Model: opts.Consistency, Timeout: opts.Timeout}),
	}
}
