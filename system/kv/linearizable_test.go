package kv

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/squall-chaos/squall/system/kv/kvpb"
)

// The keys are two groups of two. Single-key operations use any key; a
// transaction uses both keys of one group, so the groups are independent
// and porcupine checks them apart.
var linKeys = [2][2]string{{"a0", "a1"}, {"b0", "b1"}}

type linOpKind uint8

const (
	linGet linOpKind = iota
	linPut
	linAppend
	linCAS // compare-and-set, or set-if-absent when expectAbsent
	// linTxn compares the group's first key with expect (or its absence),
	// then reads both keys and, on success, puts values into both.
	linTxn
)

type linInput struct {
	kind         linOpKind
	group, key   int
	value        string    // put, append; CAS's new value
	expect       string    // CAS, txn
	expectAbsent bool      // CAS, txn
	values       [2]string // txn
}

type linOutput struct {
	// unknown: the write may or may not have happened; nothing else is
	// known of its outcome.
	unknown bool
	found   bool   // get; CAS's current
	value   string // get, append; CAS's current
	ok      bool   // CAS, txn: the comparison held
	reads   [2]register
}

// register is one key's value; ok is false when the key is absent.
type register struct {
	value string
	ok    bool
}

// linState is one group's keys. It is comparable, as porcupine's default
// equality needs.
type linState [2]register

func (in linInput) holds(st linState, key int) bool {
	if in.expectAbsent {
		return !st[key].ok
	}
	return st[key].ok && st[key].value == in.expect
}

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		var groups [len(linKeys)][]porcupine.Operation
		for _, op := range history {
			g := op.Input.(linInput).group
			groups[g] = append(groups[g], op)
		}
		return groups[:]
	},
	Init: func() any { return linState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(linState), input.(linInput), output.(linOutput)
		next := st
		switch in.kind {
		case linGet:
			r := st[in.key]
			return out.found == r.ok && out.value == r.value, st
		case linPut:
			next[in.key] = register{in.value, true}
			return true, next
		case linAppend:
			next[in.key] = register{st[in.key].value + in.value, true}
			return out.unknown || out.value == next[in.key].value, next
		case linCAS:
			held := in.holds(st, in.key)
			if held {
				next[in.key] = register{in.value, true}
			}
			if out.unknown {
				return true, next
			}
			r := st[in.key]
			return out.ok == held && out.found == r.ok && out.value == r.value, next
		case linTxn:
			held := in.holds(st, 0)
			if held {
				next = linState{{in.values[0], true}, {in.values[1], true}}
			}
			if out.unknown {
				return true, next
			}
			return out.ok == held && out.reads == [2]register(st), next
		}
		return false, st
	},
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		for _, r := range state.(linState) {
			fmt.Fprintf(h, "%t%q", r.ok, r.value)
		}
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		key := linKeys[in.group][in.key]
		var s string
		switch in.kind {
		case linGet:
			return fmt.Sprintf("get(%s) -> %s", key, register{out.value, out.found})
		case linPut:
			s = fmt.Sprintf("put(%s, %q)", key, in.value)
		case linAppend:
			s = fmt.Sprintf("append(%s, %q) -> %q", key, in.value, out.value)
		case linCAS:
			s = fmt.Sprintf("cas(%s, %s, %q) -> %t, %s", key, in.expectation(), in.value, out.ok, register{out.value, out.found})
		case linTxn:
			g := linKeys[in.group]
			s = fmt.Sprintf("txn(if %s==%s: %s=%q %s=%q) -> %t, reads %s %s", g[0], in.expectation(),
				g[0], in.values[0], g[1], in.values[1], out.ok, out.reads[0], out.reads[1])
		}
		if out.unknown {
			s += " (unknown outcome)"
		}
		return s
	},
	DescribeState: func(state any) string {
		st := state.(linState)
		return fmt.Sprintf("%s %s", st[0], st[1])
	},
}

func (r register) String() string {
	if !r.ok {
		return "absent"
	}
	return fmt.Sprintf("%q", r.value)
}

func (in linInput) expectation() string {
	if in.expectAbsent {
		return "absent"
	}
	return fmt.Sprintf("%q", in.expect)
}

// linHistory records operations as they complete, timed from its start.
type linHistory struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func newLinHistory() *linHistory { return &linHistory{start: time.Now()} }

func (h *linHistory) now() int64 { return int64(time.Since(h.start)) }

// add records an operation that returned (or, with ret < 0, may take
// effect at any time after its call).
func (h *linHistory) add(client int, in linInput, out linOutput, call, ret int64) {
	if ret < 0 {
		// Porcupine's convention for an operation whose outcome is
		// unknown: it is concurrent with everything after its call.
		ret = 1<<63 - 1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
}

// check runs porcupine over the history and, unless the verdict is want,
// fails the test naming a visualization of it.
func (h *linHistory) check(t *testing.T, want porcupine.CheckResult) {
	t.Helper()
	h.mu.Lock()
	ops := h.ops
	h.mu.Unlock()
	// The timeout only guards against a hang; histories here check in
	// well under a second.
	res, info := porcupine.CheckOperationsVerbose(linModel, ops, 5*time.Minute)
	if res == want {
		return
	}
	f, err := os.CreateTemp("", "kv-linearizability-*.html")
	if err != nil {
		t.Fatalf("porcupine: %s over %d operations, want %s (and no visualization: %v)", res, len(ops), want, err)
	}
	f.Close()
	if err := porcupine.VisualizePath(linModel, info, f.Name()); err != nil {
		t.Fatalf("porcupine: %s over %d operations, want %s (visualization failed: %v)", res, len(ops), want, err)
	}
	t.Fatalf("porcupine: %s over %d operations, want %s; visualization in %s", res, len(ops), want, f.Name())
}

// linWorker is one client process of the workload.
type linWorker struct {
	id     int
	client *Client
	rand   *rand.Rand
	hist   *linHistory
	seq    int
	// seen is the last value this worker saw of each key, which makes
	// CAS and transaction comparisons succeed often enough to matter.
	seen map[string]register
}

// counts tallies the outcomes of a workload run.
type linCounts struct {
	sync.Mutex
	ok, failed, unknown int
}

func (w *linWorker) run(ctx context.Context, counts *linCounts) {
	for ctx.Err() == nil {
		in := w.next()
		call := w.hist.now()
		// Most operations get long enough to ride out the nemesis's faults
		// and end definitely; some are cut short, which during a fault
		// leaves their outcome unknown.
		timeout := 5 * time.Second
		if w.rand.IntN(4) == 0 {
			timeout = 300 * time.Millisecond
		}
		opCtx, cancel := context.WithTimeout(context.Background(), timeout)
		out, err := w.invoke(opCtx, in)
		cancel()
		ret := w.hist.now()
		counts.Lock()
		switch {
		case err == nil:
			counts.ok++
			w.hist.add(w.id, in, out, call, ret)
		case errors.Is(err, ErrIndeterminate) && in.kind != linGet:
			counts.unknown++
			w.hist.add(w.id, in, linOutput{unknown: true}, call, -1)
		default:
			// A definite failure had no effect, and neither had a read.
			counts.failed++
		}
		counts.Unlock()
		time.Sleep(time.Duration(w.rand.IntN(3)) * time.Millisecond)
	}
}

// next chooses an operation.
func (w *linWorker) next() linInput {
	w.seq++
	value := fmt.Sprintf("%d.%d", w.id, w.seq)
	in := linInput{group: w.rand.IntN(len(linKeys)), key: w.rand.IntN(2)}
	guess := func(key string) (string, bool) {
		if r, ok := w.seen[key]; ok && w.rand.IntN(4) > 0 {
			return r.value, !r.ok
		}
		return fmt.Sprintf("%d.%d", w.rand.IntN(8), w.rand.IntN(w.seq)+1), w.rand.IntN(2) == 0
	}
	switch p := w.rand.IntN(100); {
	case p < 35:
		in.kind = linGet
	case p < 55:
		in.kind, in.value = linPut, value
	case p < 70:
		in.kind, in.value = linAppend, ","+value
	case p < 85:
		in.kind, in.value = linCAS, value
		in.expect, in.expectAbsent = guess(linKeys[in.group][in.key])
	default:
		in.kind, in.values = linTxn, [2]string{value + "a", value + "b"}
		in.expect, in.expectAbsent = guess(linKeys[in.group][0])
	}
	return in
}

func (w *linWorker) invoke(ctx context.Context, in linInput) (linOutput, error) {
	keys := linKeys[in.group]
	key := keys[in.key]
	var out linOutput
	switch in.kind {
	case linGet:
		resp, err := w.client.Get(ctx, key)
		if err != nil {
			return out, err
		}
		out.found, out.value = resp.Found, string(resp.GetKv().GetValue())
		w.seen[key] = register{out.value, out.found}
	case linPut:
		if _, err := w.client.Put(ctx, key, []byte(in.value)); err != nil {
			return out, err
		}
	case linAppend:
		value, err := w.client.Append(ctx, key, []byte(in.value))
		if err != nil {
			return out, err
		}
		out.value = string(value)
	case linCAS:
		var expected []byte
		if !in.expectAbsent {
			expected = []byte(in.expect) // non-nil even when empty
		}
		ok, cur, err := w.client.CompareAndSet(ctx, key, expected, []byte(in.value))
		if err != nil {
			return out, err
		}
		out.ok, out.found, out.value = ok, cur.Found, string(cur.GetKv().GetValue())
	case linTxn:
		cmp := &kvpb.Compare{Key: keys[0], Target: kvpb.Compare_VALUE, Op: kvpb.Compare_EQUAL, Value: []byte(in.expect)}
		if in.expectAbsent {
			cmp = &kvpb.Compare{Key: keys[0], Target: kvpb.Compare_VERSION, Op: kvpb.Compare_EQUAL, Version: 0}
		}
		reads := []*kvpb.Op{getOp(keys[0]), getOp(keys[1])}
		resp, err := w.client.Txn(ctx, &kvpb.TxnRequest{
			Compares: []*kvpb.Compare{cmp},
			Success:  append(reads, putOp(keys[0], in.values[0]), putOp(keys[1], in.values[1])),
			Failure:  reads,
		})
		if err != nil {
			return out, err
		}
		out.ok = resp.Succeeded
		for i := range 2 {
			g := resp.Results[i].GetGet()
			out.reads[i] = register{string(g.GetKv().GetValue()), g.Found}
		}
	}
	return out, nil
}

// nemesis injects faults into c until ctx ends, then heals everything
// and restarts whoever is down. It returns what it did.
func nemesis(ctx context.Context, c *memCluster, rng *rand.Rand) []string {
	var log []string
	pause := func(lo, hi time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(lo + time.Duration(rng.Int64N(int64(hi-lo)))):
			return true
		}
	}
	for pause(200*time.Millisecond, 600*time.Millisecond) {
		c.net.Heal()
		switch rng.IntN(5) {
		case 0:
			if lead := c.leader(); lead != nil {
				c.isolate(lead)
				log = append(log, "isolate leader "+lead.name)
			}
		case 1:
			perm := rng.Perm(len(c.members))
			var a, b []uint64
			for i, p := range perm {
				if i < len(perm)/2 {
					a = append(a, c.members[p].id)
				} else {
					b = append(b, c.members[p].id)
				}
			}
			c.net.Partition(a, b)
			log = append(log, fmt.Sprintf("partition %v | %v", a, b))
		case 2, 3:
			m := c.members[rng.IntN(len(c.members))]
			if rng.IntN(2) == 0 {
				if lead := c.leader(); lead != nil {
					m = lead
				}
			}
			c.crash(m)
			log = append(log, "crash "+m.name)
			pause(50*time.Millisecond, 400*time.Millisecond)
			c.restart(m)
		case 4:
			c.net.SetUnreliable(0.1, 0.05, 0, 5*time.Millisecond)
			log = append(log, "lossy network")
		}
	}
	c.net.Heal()
	for _, m := range c.members {
		if !m.up() {
			c.restart(m)
		}
	}
	return log
}

// TestLinearizableUnderFaults runs concurrent clients against a cluster
// that the nemesis partitions, crashes and restarts, and checks the
// history with porcupine, in each read mode that claims linearizability
// whatever the clocks do. (Lease reads do not, under clock faults.)
func TestLinearizableUnderFaults(t *testing.T) {
	for _, mode := range []ReadMode{ReadIndex, ReadLog} {
		t.Run(string(mode), func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, seed))
			c := newMemCluster(t, 5, memClusterOptions{
				// Snapshot often, and compact hard, so that restarts and
				// lagging members recover through snapshots too.
				Retain: 20,
				Tune: func(cfg *Config) {
					cfg.ReadMode = mode
					cfg.SnapshotEntries = 100
				},
			})
			setupCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c.waitLeader(setupCtx)

			hist := newLinHistory()
			var counts linCounts
			workCtx, stopWork := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for id := range 8 {
				w := &linWorker{id: id, client: c.client(), hist: hist, seen: map[string]register{},
					rand: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}
				wg.Go(func() { w.run(workCtx, &counts) })
			}
			// Faults for 4 s, and on until 100 operations have succeeded
			// (fewer would prove little): a busy machine completes fewer
			// in 4 s.
			nemesisCtx, stopNemesis := context.WithCancel(context.Background())
			go func() {
				defer stopNemesis()
				start := time.Now()
				for time.Since(start) < 2*time.Minute {
					time.Sleep(100 * time.Millisecond)
					counts.Lock()
					ok := counts.ok
					counts.Unlock()
					if ok >= 100 && time.Since(start) >= 4*time.Second {
						return
					}
				}
			}()
			faults := nemesis(nemesisCtx, c, rng)
			// A moment of calm at the end, so that the run finishes with
			// operations that see everything the faults left behind.
			time.Sleep(300 * time.Millisecond)
			stopWork()
			wg.Wait()

			t.Logf("faults: %s", strings.Join(faults, "; "))
			t.Logf("%d operations ok, %d failed, %d of unknown outcome", counts.ok, counts.failed, counts.unknown)
			if len(faults) == 0 {
				t.Fatal("the nemesis injected no faults")
			}
			if counts.ok < 100 {
				t.Fatalf("only %d operations succeeded; the history proves little", counts.ok)
			}
			hist.check(t, porcupine.Ok)
		})
	}
}

// TestCheckerCatchesStaleReads is the negative control: with the planted
// stale-reads bug, a leader cut off from the majority keeps serving the
// value it had after the majority moved on, and porcupine must say so.
// Without the bug the same read is refused.
func TestCheckerCatchesStaleReads(t *testing.T) {
	for _, stale := range []bool{true, false} {
		t.Run(fmt.Sprintf("stale-reads=%t", stale), func(t *testing.T) {
			c := newMemCluster(t, 3, memClusterOptions{Tune: func(cfg *Config) { cfg.Bugs.StaleReads = stale }})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			old := c.waitLeader(ctx)
			hist := newLinHistory()
			put := func(cl *Client, value string) {
				t.Helper()
				in := linInput{kind: linPut, value: value}
				call := hist.now()
				if _, err := cl.Put(ctx, linKeys[0][0], []byte(value)); err != nil {
					t.Fatalf("put %s: %v", value, err)
				}
				hist.add(0, in, linOutput{}, call, hist.now())
			}
			put(c.client(), "v1")

			c.isolate(old)
			majority := c.others(old)
			c.waitLeader(ctx, majority...)
			put(c.client(majority...), "v2")

			call := hist.now()
			readCtx, cancelRead := context.WithTimeout(ctx, 5*time.Second)
			resp, err := c.client().GetFrom(readCtx, old.name, linKeys[0][0])
			cancelRead()
			if !stale {
				if err == nil && string(resp.GetKv().GetValue()) != "v2" {
					t.Fatalf("read from the cut-off old leader = %v; want an error or v2", resp)
				}
				return
			}
			if err != nil {
				t.Fatalf("stale read from the cut-off old leader: %v", err)
			}
			hist.add(1, linInput{kind: linGet}, linOutput{found: resp.Found, value: string(resp.GetKv().GetValue())}, call, hist.now())
			hist.check(t, porcupine.Illegal)
		})
	}
}
