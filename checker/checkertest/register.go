// Package checkertest generates synthetic histories with known answers,
// for testing and benchmarking checkers and reports without a cluster.
package checkertest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/squall-chaos/squall/history"
)

// RegisterConfig shapes a generated register history.
type RegisterConfig struct {
	Ops       int // client operations
	Keys      int
	Processes int // concurrent workers
	// InfoRate is the fraction of operations that end info; half of the
	// info writes and cas operations take effect.
	InfoRate float64
	// Faults is the number of nemesis fault windows, spread over the run
	// and alternating between the families "partition" and "kill".
	Faults int
	Seed   uint64
}

// simOp is one generated operation on its way into the history.
type simOp struct {
	process history.Process
	key     string
	f       string
	call    int64 // invoke time
	at      int64 // when it takes effect, call <= at <= ret
	ret     int64 // completion time
	typ     history.Type
	invoke  any
	result  any
	applied bool // for info ops: whether it took effect
}

// LinearizableRegister generates a register history (in the register
// workload's format) that is linearizable by construction: every
// operation takes effect at a moment between its invoke and completion,
// and reads return what the register held at that moment. Failed
// operations and info operations that did not take effect change nothing.
func LinearizableRegister(cfg RegisterConfig) history.History {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	ops := make([]simOp, 0, cfg.Ops)
	clocks := make([]int64, cfg.Processes)
	processes := make([]history.Process, cfg.Processes)
	for w := range processes {
		processes[w] = history.Process(w)
	}
	const us = int64(1000)
	for i := range cfg.Ops {
		w := i % cfg.Processes
		call := clocks[w] + us + rng.Int64N(200*us)
		at := call + rng.Int64N(2000*us)
		ret := at + rng.Int64N(2000*us)
		op := simOp{process: processes[w], key: fmt.Sprintf("r%d", rng.IntN(cfg.Keys)), call: call, at: at, ret: ret, typ: history.OK}
		switch r := rng.Float64(); {
		case r < 0.5:
			op.f = "read"
		case r < 0.8:
			op.f = "write"
		default:
			op.f = "cas"
		}
		if rng.Float64() < cfg.InfoRate {
			op.typ = history.Info
			op.applied = rng.IntN(2) == 0
			// A worker whose operation ends info continues as a new
			// process, since the old one may still be in flight.
			processes[w] += history.Process(cfg.Processes)
		}
		clocks[w] = ret
		ops = append(ops, op)
	}

	// Apply the operations in the order they take effect.
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ops[a].at, ops[b].at) })
	registers := make(map[string]int64)
	written := make(map[string]int64)
	for _, i := range order {
		op := &ops[i]
		current, present := registers[op.key]
		var seen any
		if present {
			seen = current
		}
		switch op.f {
		case "read":
			op.invoke = []any{op.key, nil}
			op.result = []any{op.key, seen}
		case "write":
			written[op.key]++
			v := written[op.key]
			op.invoke, op.result = []any{op.key, v}, []any{op.key, v}
			if op.typ == history.OK || op.applied {
				registers[op.key] = v
			}
		case "cas":
			written[op.key]++
			expected, v := current, written[op.key]
			if !present || rng.IntN(4) == 0 {
				expected = -1 // a value never written: the cas fails
			}
			op.invoke, op.result = []any{op.key, []any{expected, v}}, []any{op.key, []any{expected, v}}
			found := present && current == expected
			if op.typ == history.OK && !found {
				op.typ = history.Fail
			}
			if found && (op.typ == history.OK || op.applied) {
				registers[op.key] = v
			}
		}
		if op.typ == history.Info {
			op.result = op.invoke
		}
	}

	var h history.History
	for _, op := range ops {
		h = append(h,
			history.Op{Type: history.Invoke, Process: op.process, F: op.f, Value: op.invoke, Time: op.call},
			history.Op{Type: op.typ, Process: op.process, F: op.f, Value: op.result, Time: op.ret})
	}
	h = append(h, faultEvents(cfg.Faults, slices.Max(clocks))...)
	slices.SortStableFunc(h, func(a, b history.Op) int { return cmp.Compare(a.Time, b.Time) })
	for i := range h {
		h[i].Index = int64(i)
	}
	return h
}

// faultEvents spreads n fault windows evenly over a run of length end,
// each lasting half of its slot.
func faultEvents(n int, end int64) []history.Op {
	var events []history.Op
	families := []string{"partition", "kill"}
	for i := range n {
		family := families[i%len(families)]
		slot := end / int64(n)
		start, stop := int64(i)*slot+slot/4, int64(i)*slot+3*slot/4
		events = append(events,
			history.Op{Type: history.Invoke, Process: history.Nemesis, F: "start-" + family, Time: start},
			history.Op{Type: history.Info, Process: history.Nemesis, F: "start-" + family, Value: fmt.Sprintf("%s %d", family, i), Time: start + 1},
			history.Op{Type: history.Invoke, Process: history.Nemesis, F: "stop-" + family, Time: stop},
			history.Op{Type: history.Info, Process: history.Nemesis, F: "stop-" + family, Time: stop + 1})
	}
	return events
}
