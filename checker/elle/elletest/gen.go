// Package elletest generates list-append histories with known answers,
// for testing and benchmarking the elle checker without a cluster.
package elletest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/squall-chaos/squall/history"
)

// Config shapes a generated history.
type Config struct {
	Txns      int
	Processes int // concurrent workers
	// Keys is how many keys are in use at a time; a key that has had
	// WritesPerKey appends is retired for a fresh one, as the list-append
	// workload does, so that reads stay short.
	Keys         int
	WritesPerKey int
	// MaxMops is the most micro-ops a txn has (at least one).
	MaxMops int
	// InfoRate and FailRate are the fractions of txns that end info
	// (half of which take effect) and fail (none of which do).
	InfoRate, FailRate float64
	Seed               uint64
}

// simTxn is one generated txn on its way into the history.
type simTxn struct {
	process        history.Process
	call, at, ret  int64 // invoke, take effect, complete: call <= at <= ret
	typ            history.Type
	invoke, result []any
}

// StrictSerializable generates a history that is strictly serializable by
// construction: each txn takes effect atomically at a moment between its
// invoke and its completion, and its reads see the lists as they are at
// that moment. Failed txns and info txns that did not take effect change
// nothing. Reads share their lists' backing arrays, so a long history
// stays small in memory.
func StrictSerializable(cfg Config) history.History {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	txns := make([]simTxn, cfg.Txns)
	clocks := make([]int64, cfg.Processes)
	processes := make([]history.Process, cfg.Processes)
	for w := range processes {
		processes[w] = history.Process(w)
	}
	const us = int64(1000)
	for i := range txns {
		w := i % cfg.Processes
		t := &txns[i]
		t.process = processes[w]
		t.call = clocks[w] + us + rng.Int64N(200*us)
		t.at = t.call + rng.Int64N(2000*us)
		t.ret = t.at + rng.Int64N(2000*us)
		t.typ = history.OK
		switch r := rng.Float64(); {
		case r < cfg.InfoRate:
			t.typ = history.Info
			// A worker whose txn ends info continues as a new process.
			processes[w] += history.Process(cfg.Processes)
		case r < cfg.InfoRate+cfg.FailRate:
			t.typ = history.Fail
		}
		clocks[w] = t.ret
	}

	order := make([]int32, len(txns))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(txns[a].at, txns[b].at) })
	s := newStore(cfg, rng)
	for _, i := range order {
		s.run(&txns[i])
	}
	return events(txns)
}

// store is the state of the simulated database: the lists, and the keys
// in use.
type store struct {
	cfg   Config
	rng   *rand.Rand
	lists [][]any // by key id; elements are boxed once and shared by reads
	names []string
	// appended counts each key's appends, taken effect or not: the next
	// append's element is one more, so elements are unique per key.
	appended []int
	active   []int // key ids in use
}

func newStore(cfg Config, rng *rand.Rand) *store {
	s := &store{cfg: cfg, rng: rng}
	for range cfg.Keys {
		s.active = append(s.active, s.newKey())
	}
	return s
}

func (s *store) newKey() int {
	s.lists = append(s.lists, nil)
	s.appended = append(s.appended, 0)
	s.names = append(s.names, fmt.Sprintf("k%d", len(s.names)))
	return len(s.names) - 1
}

// run generates t's micro-ops against the current state and, if t takes
// effect, applies them.
func (s *store) run(t *simTxn) {
	applies := t.typ == history.OK || (t.typ == history.Info && s.rng.IntN(2) == 0)
	n := 1 + s.rng.IntN(s.cfg.MaxMops)
	t.invoke, t.result = make([]any, n), make([]any, n)
	// Appends within the txn are applied to a private copy of each list
	// it touches, and published when it takes effect.
	var pending []pendingList
	for j := range n {
		slot := s.rng.IntN(len(s.active))
		k := s.active[slot]
		list := s.lists[k]
		p := slices.IndexFunc(pending, func(p pendingList) bool { return p.key == k })
		if p >= 0 {
			list = pending[p].list
		}
		if s.rng.IntN(2) == 0 {
			t.invoke[j] = []any{"r", s.names[k], nil}
			t.result[j] = []any{"r", s.names[k], list[:len(list):len(list)]}
			continue
		}
		s.appended[k]++
		elem := any(s.appended[k])
		if applies {
			if p < 0 {
				p = len(pending)
				pending = append(pending, pendingList{key: k})
			}
			pending[p].list = append(list, elem)
		}
		mop := []any{"append", s.names[k], elem}
		t.invoke[j], t.result[j] = mop, mop
	}
	if t.typ != history.OK {
		t.result = t.invoke
	}
	for _, p := range pending {
		s.lists[p.key] = p.list
		if len(p.list) >= s.cfg.WritesPerKey {
			for i, a := range s.active {
				if a == p.key {
					s.active[i] = s.newKey()
				}
			}
		}
	}
}

// pendingList is a list a txn appended to, not yet published.
type pendingList struct {
	key  int
	list []any
}

// events lays the txns out as a history, in time order.
func events(txns []simTxn) history.History {
	type event struct {
		time int64
		txn  int32
		done bool
	}
	evs := make([]event, 0, 2*len(txns))
	for i := range txns {
		evs = append(evs, event{txns[i].call, int32(i), false}, event{txns[i].ret, int32(i), true})
	}
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.time, b.time) })
	h := make(history.History, len(evs))
	for i, e := range evs {
		t := &txns[e.txn]
		op := history.Op{Index: int64(i), Type: history.Invoke, Process: t.process, F: "txn", Value: t.invoke, Time: e.time}
		if e.done {
			op.Type, op.Value = t.typ, t.result
		}
		h[i] = op
	}
	return h
}
