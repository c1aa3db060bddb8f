package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/checker/elle"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/kv/kvpb"
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

func (w *Append) Name() string      { return "append" }
func (w *Append) Systems() []string { return []string{"kv", "percolator"} }

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

// NewClient implements Workload. Each system has its own adapter, which
// runs a "txn" operation as one transaction of that system.
func (w *Append) NewClient(t Target) (Client, error) {
	switch t.System {
	case "percolator":
		c, err := newPercolatorClient(t)
		if err != nil {
			return nil, err
		}
		return &percolatorAppendClient{c: c}, nil
	case "kv":
		c, err := newKVClient(t)
		if err != nil {
			return nil, err
		}
		return &kvAppendClient{c: c}, nil
	}
	return nil, fmt.Errorf("append workload: no client for system %q", t.System)
}

// microOp is one micro-op of a "txn" operation.
type microOp struct {
	f       string // "append" or "r"
	key     string
	element int64 // of an append
}

// microOps reads a "txn" operation's value.
func microOps(value any) ([]microOp, error) {
	list, ok := value.([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("txn value %v is not a list of micro-ops", value)
	}
	ops := make([]microOp, len(list))
	for i, m := range list {
		mop, _ := m.([]any)
		if len(mop) != 3 {
			return nil, fmt.Errorf("micro-op %d: %v is not [f, key, value]", i, m)
		}
		f, _ := mop[0].(string)
		key, _ := mop[1].(string)
		if key == "" {
			return nil, fmt.Errorf("micro-op %d: %v has no key", i, m)
		}
		ops[i] = microOp{f: f, key: key}
		switch f {
		case "r":
		case "append":
			if ops[i].element, ok = history.Int(mop[2]); !ok {
				return nil, fmt.Errorf("micro-op %d: append of %v, not an integer", i, mop[2])
			}
		default:
			return nil, fmt.Errorf("micro-op %d: f %q, want append or r", i, f)
		}
	}
	return ops, nil
}

// kvAppendClient runs list-append on the KV store: a transaction is one
// Txn, whose operations the store applies in order, atomically. A list is
// stored as its elements, each followed by a comma ("1,2,7,"), so an
// append is the store's Append of "7,".
type kvAppendClient struct{ c *kv.Client }

func (c *kvAppendClient) Close() error { return c.c.Close() }

// Invoke implements Client.
func (c *kvAppendClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if op.F != "txn" {
		return completion(op, history.Fail, nil, fmt.Errorf("append: unknown f %q", op.F))
	}
	mops, err := microOps(op.Value)
	if err != nil {
		return completion(op, history.Fail, op.Value, err)
	}
	req := &kvpb.TxnRequest{Success: make([]*kvpb.Op, len(mops))}
	for i, m := range mops {
		if m.f == "r" {
			req.Success[i] = &kvpb.Op{Op: &kvpb.Op_Get{Get: &kvpb.GetRequest{Key: m.key}}}
			continue
		}
		elem := strconv.FormatInt(m.element, 10) + ","
		req.Success[i] = &kvpb.Op{Op: &kvpb.Op_Append{Append: &kvpb.AppendRequest{Key: m.key, Value: []byte(elem)}}}
	}
	resp, err := c.c.Txn(ctx, req)
	if err == nil {
		err = checkResults(resp, len(mops))
	}
	if err != nil {
		return writeCompletion(op, err)
	}
	done := make([]any, len(mops))
	for i, m := range mops {
		if m.f == "append" {
			done[i] = []any{"append", m.key, m.element}
			continue
		}
		get := resp.Results[i].GetGet()
		if get == nil {
			// The Txn committed, its appends with it: this is no failure.
			return completion(op, history.Info, op.Value, fmt.Errorf("micro-op %d: the Txn answered %v, not a Get result", i, resp.Results[i]))
		}
		var value []byte
		if get.Found {
			value = get.Kv.Value
		}
		list, err := parseList(value)
		if err != nil {
			return completion(op, history.Info, op.Value, fmt.Errorf("micro-op %d: read %s: %w", i, m.key, err))
		}
		done[i] = []any{"r", m.key, list}
	}
	return completion(op, history.OK, done, nil)
}

// parseList reads a stored list "1,2,7," into its elements.
func parseList(value []byte) ([]any, error) {
	list := []any{}
	s, ok := strings.CutSuffix(string(value), ",")
	if !ok {
		if len(value) == 0 {
			return list, nil
		}
		return nil, fmt.Errorf("list %q does not end with a comma", value)
	}
	for e := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list %q: element %q is not an integer", value, e)
		}
		list = append(list, n)
	}
	return list, nil
}
