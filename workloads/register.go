package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/system/kv"
)

// Register is the linearizable-register workload: per-key reads, writes
// and compare-and-sets over many keys. Written values are unique per key,
// so a read names the write it saw. Each key is retired after OpsPerKey
// operations and replaced by a fresh one, which keeps every key's history
// small enough for the linearizability search.
//
// Operations: f "read", "write" or "cas"; value [key, arg]: read
// ["r3", null] completing ["r3", 5] (null when absent), write ["r3", 5],
// cas ["r3", [4, 5]] (a cas that finds another value fails).
type Register struct {
	// OpsPerKey bounds the operations on one key. Default 200.
	OpsPerKey int
	// ActiveKeys is how many keys are in use at once. Default: twice the
	// concurrency, at least 4.
	ActiveKeys int

	mu   sync.Mutex
	used []string // every key ever handed out, for the final reads
}

// NewRegister returns the workload with its defaults.
func NewRegister() *Register { return &Register{} }

func (w *Register) Name() string      { return "register" }
func (w *Register) Systems() []string { return []string{"kv", "percolator"} }

type registerKey struct {
	name    string
	ops     int
	written []int64 // values written to it, for cas expectations
}

type registerGenerator struct {
	w       *Register
	mu      sync.Mutex
	active  []*registerKey
	nextKey int
	perKey  int
}

// NewGenerator implements Workload.
func (w *Register) NewGenerator(concurrency int) Generator {
	n := w.ActiveKeys
	if n <= 0 {
		n = max(4, 2*concurrency)
	}
	perKey := w.OpsPerKey
	if perKey <= 0 {
		perKey = 200
	}
	g := &registerGenerator{w: w, perKey: perKey}
	for range n {
		g.active = append(g.active, g.newKey())
	}
	return g
}

func (g *registerGenerator) newKey() *registerKey {
	g.nextKey++
	k := &registerKey{name: "r" + strconv.Itoa(g.nextKey)}
	g.w.mu.Lock()
	g.w.used = append(g.w.used, k.name)
	g.w.mu.Unlock()
	return k
}

// Next implements Generator: a read (half the time), a write of the key's
// next value, or a cas from a recently written value (likely to succeed
// sometimes, fail sometimes) to the next one.
func (g *registerGenerator) Next(rng *rand.Rand) (history.Op, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := rng.IntN(len(g.active))
	k := g.active[i]
	k.ops++
	if k.ops >= g.perKey {
		g.active[i] = g.newKey()
	}
	next := int64(len(k.written) + 1)
	switch r := rng.IntN(4); {
	case r < 2:
		return history.Op{F: "read", Value: []any{k.name, nil}}, true
	case r == 2 || len(k.written) == 0:
		k.written = append(k.written, next)
		return history.Op{F: "write", Value: []any{k.name, next}}, true
	default:
		recent := k.written[max(0, len(k.written)-3):]
		expected := recent[rng.IntN(len(recent))]
		k.written = append(k.written, next)
		return history.Op{F: "cas", Value: []any{k.name, []any{expected, next}}}, true
	}
}

// FinalGenerator implements Workload: one read of every key used.
func (w *Register) FinalGenerator() Generator {
	w.mu.Lock()
	defer w.mu.Unlock()
	ops := make([]history.Op, len(w.used))
	for i, k := range w.used {
		ops[i] = history.Op{F: "read", Value: []any{k, nil}}
	}
	return &opList{ops: ops}
}

// opList produces a fixed list of operations, in order; workers may call
// it concurrently.
type opList struct {
	mu  sync.Mutex
	ops []history.Op
}

func (g *opList) Next(*rand.Rand) (history.Op, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.ops) == 0 {
		return history.Op{}, false
	}
	op := g.ops[0]
	g.ops = g.ops[1:]
	return op, true
}

// Checkers implements Workload.
func (w *Register) Checkers(opts CheckOptions) []checker.Checker {
	return []checker.Checker{
		checker.Stats(),
		checker.Linearizable(checker.LinearizableConfig{
			Model:        checker.RegisterModel,
			Timeout:      opts.Timeout,
			VisualizeDir: opts.Dir,
		}),
	}
}

// NewClient implements Workload.
func (w *Register) NewClient(t Target) (Client, error) {
	switch t.System {
	case "percolator":
		c, err := newPercolatorClient(t)
		if err != nil {
			return nil, err
		}
		return &percolatorRegisterClient{c: c}, nil
	case "kv":
		c, err := newKVClient(t)
		if err != nil {
			return nil, err
		}
		return &kvRegisterClient{c: c}, nil
	}
	return nil, fmt.Errorf("register workload: no client for system %q", t.System)
}

// newKVClient makes the KV client of every workload's kv adapter, bound to
// t's home node for reads.
func newKVClient(t Target) (*kv.Client, error) {
	return kv.NewClient(kv.ClientConfig{Peers: kvPeers(t.Nodes), AttemptTimeout: 500 * time.Millisecond, ReadFrom: t.Home})
}

func kvPeers(nodes []Node) []kv.Peer {
	peers := make([]kv.Peer, len(nodes))
	for i, n := range nodes {
		peers[i] = kv.Peer{Name: n.Name, Addr: n.Addr}
	}
	return peers
}

type kvRegisterClient struct{ c *kv.Client }

func (c *kvRegisterClient) Close() error { return c.c.Close() }

// Invoke implements Client.
func (c *kvRegisterClient) Invoke(ctx context.Context, op history.Op) history.Op {
	key, arg, err := registerArgs(op)
	if err != nil {
		return completion(op, history.Fail, nil, err)
	}
	switch op.F {
	case "read":
		resp, err := c.c.Get(ctx, key)
		if err != nil {
			// A read has no effect: whatever went wrong, it failed.
			return completion(op, history.Fail, nil, err)
		}
		if !resp.Found {
			return completion(op, history.OK, []any{key, nil}, nil)
		}
		v, err := strconv.ParseInt(string(resp.Kv.Value), 10, 64)
		if err != nil {
			return completion(op, history.Fail, nil, fmt.Errorf("read %s: value %q is not an integer", key, resp.Kv.Value))
		}
		return completion(op, history.OK, []any{key, v}, nil)
	case "write":
		v, ok := history.Int(arg)
		if !ok {
			return completion(op, history.Fail, nil, fmt.Errorf("write value %v is not an integer", arg))
		}
		_, err := c.c.Put(ctx, key, []byte(strconv.FormatInt(v, 10)))
		return writeCompletion(op, err)
	case "cas":
		from, to, err := casArgs(arg)
		if err != nil {
			return completion(op, history.Fail, nil, err)
		}
		swapped, _, err := c.c.CompareAndSet(ctx, key, []byte(strconv.FormatInt(from, 10)), []byte(strconv.FormatInt(to, 10)))
		if err == nil && !swapped {
			return completion(op, history.Fail, op.Value, errors.New(checker.CASValueDiffers))
		}
		return writeCompletion(op, err)
	}
	return completion(op, history.Fail, nil, fmt.Errorf("register: unknown f %q", op.F))
}

func registerArgs(op history.Op) (string, any, error) {
	v, ok := op.Value.([]any)
	if !ok || len(v) != 2 {
		return "", nil, fmt.Errorf("register op value %v is not [key, arg]", op.Value)
	}
	key, ok := v[0].(string)
	if !ok {
		return "", nil, fmt.Errorf("register op key %v is not a string", v[0])
	}
	return key, v[1], nil
}

// casArgs reads a cas operation's [expected, new].
func casArgs(arg any) (from, to int64, err error) {
	pair, _ := arg.([]any)
	if len(pair) != 2 {
		return 0, 0, fmt.Errorf("cas value %v is not [expected, new]", arg)
	}
	from, ok1 := history.Int(pair[0])
	to, ok2 := history.Int(pair[1])
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("cas value %v is not two integers", arg)
	}
	return from, to, nil
}

// writeCompletion maps a write's error onto the history's types through
// the system's error taxonomy.
func writeCompletion(op history.Op, err error) history.Op {
	switch {
	case err == nil:
		return completion(op, history.OK, op.Value, nil)
	case errors.Is(err, kv.ErrDefinite):
		return completion(op, history.Fail, op.Value, err)
	}
	return completion(op, history.Info, op.Value, err)
}

func completion(op history.Op, t history.Type, value any, err error) history.Op {
	c := history.Op{Type: t, Process: op.Process, F: op.F, Value: value}
	if err != nil {
		c.Error = err.Error()
	}
	return c
}
