package workloads

import (
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
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

func (w *Register) Name() string { return "register" }

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
		return ops.Register{F: ops.Read, Key: k.name}.Op(), true
	case r == 2 || len(k.written) == 0:
		k.written = append(k.written, next)
		return ops.Register{F: ops.Write, Key: k.name, Value: next}.Op(), true
	default:
		recent := k.written[max(0, len(k.written)-3):]
		expected := recent[rng.IntN(len(recent))]
		k.written = append(k.written, next)
		return ops.Register{F: ops.CAS, Key: k.name, Expected: expected, Value: next}.Op(), true
	}
}

// FinalGenerator implements Workload: one read of every key used.
func (w *Register) FinalGenerator() Generator {
	w.mu.Lock()
	defer w.mu.Unlock()
	reads := make([]history.Op, len(w.used))
	for i, k := range w.used {
		reads[i] = ops.Register{F: ops.Read, Key: k}.Op()
	}
	return &opList{ops: reads}
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
