package elle

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"
)

// search is one kind of cycle to look for, as Elle does: an edge of kind
// first, from u to v, then the shortest path from v back to u over edges
// of the allowed kinds that uses at least one edge of each kind in need,
// and whose rw edges keep the rule rws. Restricting the edges is what
// makes each search find its own anomaly: with only ww and wr edges after
// one rw edge, any cycle has exactly one rw edge (G-single).
type search struct {
	first, allowed, need edgeKind
	rws                  rwRule
}

// rwRule says how a search's rw edges may follow each other around the
// cycle (the first edge counts, and the last is followed by the first).
type rwRule uint8

const (
	anyRW         rwRule = iota
	nonadjacentRW        // never two rw edges in a row: G-nonadjacent, forbidden by snapshot isolation
	adjacentRW           // at least two rw edges in a row: G2-item, which snapshot isolation allows
)

var (
	dependencySearches = []search{
		{first: ww, allowed: ww},                                         // G0
		{first: wr, allowed: ww | wr},                                    // G1c
		{first: rw, allowed: ww | wr},                                    // G-single
		{first: rw, allowed: ww | wr | rw, need: rw, rws: nonadjacentRW}, // G-nonadjacent
		{first: rw, allowed: ww | wr | rw, rws: adjacentRW},              // G2-item
	}
	// Every cycle that needs real time has an rt edge, and, if it has rw
	// edges, one of them can come first.
	realtimeSearches = []search{
		{first: rt, allowed: ww | rt},                                              // G0-realtime
		{first: rt, allowed: ww | wr | rt, need: wr},                               // G1c-realtime
		{first: rw, allowed: ww | wr | rt, need: rt},                               // G-single-realtime
		{first: rw, allowed: ww | wr | rw | rt, need: rw | rt, rws: nonadjacentRW}, // G-nonadjacent-realtime
		{first: rw, allowed: ww | wr | rw | rt, need: rt, rws: adjacentRW},         // G2-item-realtime
	}
)

// A search state is a txn and what the path to it has: a bit per needed
// kind, whether its last edge was rw (unless rws is anyRW), and whether it
// had two rw edges in a row (for adjacentRW): at most stateBits bits in
// every search above (TestSearchStatesFit).
const (
	stateBits = 3
	stride    = 1 << stateBits
)

// bits is how many state bits s uses.
func (s search) bits() int {
	n := bits.OnesCount8(uint8(s.need))
	switch s.rws {
	case nonadjacentRW:
		n++
	case adjacentRW:
		n += 2
	}
	return n
}

// cycle is a cycle of txns: kinds[i] is why txns[i] precedes
// txns[(i+1) % len].
type cycle struct {
	txns  []int32
	kinds []edgeKind
}

// errBudget says a component's search ran out of time.
var errBudget = errors.New("time budget ran out")

// extraWork is how many more search states the finder explores, once it
// has a cycle, looking for a shorter one through another edge.
const extraWork = 1 << 20

// cycleFinder searches the components of one graph. Its arrays are sized
// for the whole graph once and reused by every search; epochs mark what
// the current search has seen, so nothing is cleared between searches.
type cycleFinder struct {
	g *graph
	// txns is the number of txn nodes; the nodes after them are the
	// real-time barriers.
	txns int32
	// local numbers the txns of the component being searched; -1 for
	// txns outside it.
	local   []int32
	members []int32
	// Per search state (local txn x need-mask):
	seen   []uint32 // epoch of the search that reached it
	parent []int32  // the state it was reached from
	via    []edgeKind
	target []uint32 // per local txn: epoch in which it is a wanted end
	epoch  uint32
	queue  []int32

	ctx      context.Context
	deadline time.Time // zero: none
	steps    int
}

func newCycleFinder(ctx context.Context, g *graph, txns int32) *cycleFinder {
	local := make([]int32, len(g.start)-1)
	for i := range local {
		local[i] = -1
	}
	return &cycleFinder{g: g, txns: txns, local: local, ctx: ctx}
}

// component searches one component for a cycle of each search, calling
// found with each (a closed walk, see simpleCycles). It stops early, with
// an error, when ctx is done or the budget (if not zero) runs out.
func (f *cycleFinder) component(members []int32, searches []search, budget time.Duration, found func(cycle)) error {
	f.members = members
	for i, t := range members {
		f.local[t] = int32(i)
	}
	defer func() {
		for _, t := range members {
			f.local[t] = -1
		}
	}()
	f.deadline = time.Time{}
	if budget > 0 {
		f.deadline = time.Now().Add(budget)
	}
	if err := f.expired(); err != nil {
		return err
	}
	states := len(members) * stride
	if len(f.seen) < states {
		f.seen, f.parent, f.via = make([]uint32, states), make([]int32, states), make([]edgeKind, states)
		f.target = make([]uint32, len(members))
		f.epoch = 0
	}
	for _, s := range searches {
		c, err := f.find(s)
		if err != nil {
			return err
		}
		if c != nil {
			found(*c)
		}
	}
	return nil
}

func (f *cycleFinder) expired() error {
	if err := f.ctx.Err(); err != nil {
		return err
	}
	if !f.deadline.IsZero() && time.Now().After(f.deadline) {
		return errBudget
	}
	return nil
}

// firstEdge is a candidate first edge of a cycle, from u to v.
type firstEdge struct{ v, u int32 }

// find returns the shortest cycle of search s in the component, or nil.
// The first edges are grouped by where they lead: one breadth-first
// search from each such txn finds the shortest way back to all of them.
func (f *cycleFinder) find(s search) (*cycle, error) {
	var firsts []firstEdge
	for _, u := range f.members {
		to, kinds := f.g.out(u)
		for i, v := range to {
			if kinds[i]&s.first != 0 && f.local[v] >= 0 {
				firsts = append(firsts, firstEdge{v, u})
			}
		}
	}
	slices.SortFunc(firsts, func(a, b firstEdge) int {
		if a.v != b.v {
			return int(a.v - b.v)
		}
		return int(a.u - b.u)
	})
	var best *cycle
	work := 0
	for i := 0; i < len(firsts); {
		j := i
		f.epoch++
		for ; j < len(firsts) && firsts[j].v == firsts[i].v; j++ {
			f.target[f.local[firsts[j].u]] = f.epoch
		}
		c, explored, err := f.shortestBack(firsts[i].v, s)
		if err != nil {
			return best, err
		}
		work += explored
		if c != nil && (best == nil || len(c.txns) < len(best.txns)) {
			best = c
		}
		if best != nil && (len(best.txns) == 2 || work > extraWork) {
			break
		}
		i = j
	}
	return best, nil
}

// shortestBack searches breadth first from v for a path to a target txn
// (marked in f.target) over s's allowed edges using each needed kind and
// keeping s's rule for rw edges, and returns the cycle it closes with s's
// first edge; also how many states it explored.
func (f *cycleFinder) shortestBack(v int32, s search) (*cycle, int, error) {
	needBits := bits.OnesCount8(uint8(s.need))
	full := int32(1)<<needBits - 1
	// mask gives the need-mask bit of each edge kind.
	var mask [8]int32
	for b, i := 0, 0; b < 4; b++ {
		if s.need&(1<<b) != 0 {
			mask[b] = 1 << i
			i++
		}
	}
	lastRW, pairRW := int32(1)<<needBits, int32(1)<<(needBits+1)
	state := func(t int32, m int32) int32 { return f.local[t]*stride + m }
	startBits := int32(0)
	if s.first == rw && s.rws != anyRW {
		startBits = lastRW
	}
	start := state(v, startBits)
	f.seen[start] = f.epoch
	f.parent[start] = -1
	f.queue = append(f.queue[:0], start)
	for head := 0; head < len(f.queue); head++ {
		if f.steps++; f.steps&1023 == 0 {
			if err := f.expired(); err != nil {
				return nil, head, err
			}
		}
		cur := f.queue[head]
		local, m := cur/stride, cur%stride
		if m&full == full && f.target[local] == f.epoch && s.closes(m, lastRW, pairRW) {
			return f.trace(cur, s.first), head, nil
		}
		t := f.memberAt(local)
		to, kinds := f.g.out(t)
		for i, u := range to {
			if f.local[u] < 0 {
				continue
			}
			usable := kinds[i] & s.allowed
			for b := 0; usable != 0; b++ {
				if usable&(1<<b) == 0 {
					continue
				}
				usable &^= 1 << b
				nm := m&full | mask[b]
				switch isRW := edgeKind(1<<b) == rw; {
				case isRW && m&lastRW != 0 && s.rws == nonadjacentRW:
					continue
				case isRW && m&lastRW != 0 && s.rws == adjacentRW:
					nm |= lastRW | pairRW
				case isRW:
					nm |= lastRW | m&pairRW
				default:
					nm |= m & pairRW
				}
				if s.rws == anyRW {
					nm &= full
				}
				next := state(u, nm)
				if f.seen[next] == f.epoch {
					continue
				}
				f.seen[next], f.parent[next], f.via[next] = f.epoch, cur, 1<<b
				f.queue = append(f.queue, next)
			}
		}
	}
	return nil, len(f.queue), nil
}

// closes reports whether a path that reached its target with state bits
// m closes a cycle that keeps s's rule for rw edges, given that the
// cycle's first edge (of kind s.first) follows the path's last.
func (s search) closes(m, lastRW, pairRW int32) bool {
	switch s.rws {
	case nonadjacentRW:
		return m&lastRW == 0 || s.first != rw
	case adjacentRW:
		return m&pairRW != 0 || (m&lastRW != 0 && s.first == rw)
	}
	return true
}

// memberAt maps a local number back to its txn.
func (f *cycleFinder) memberAt(local int32) int32 { return f.members[local] }

// trace rebuilds the cycle ending in state end: the path's txns from v to
// u, whose first edge (u to v) has kind first.
func (f *cycleFinder) trace(end int32, first edgeKind) *cycle {
	var txns []int32
	var kinds []edgeKind
	for s := end; s >= 0; s = f.parent[s] {
		txns = append(txns, f.memberAt(s/stride))
		if f.parent[s] >= 0 {
			kinds = append(kinds, f.via[s])
		}
	}
	// txns is u ... v backwards; kinds[i] leads into txns[i].
	slices.Reverse(txns)
	slices.Reverse(kinds)
	// Rotate so the cycle starts at u: u -first-> v -> ... -> u.
	u := txns[len(txns)-1]
	return f.withoutBarriers(cycle{txns: append([]int32{u}, txns[:len(txns)-1]...), kinds: append([]edgeKind{first}, kinds...)})
}

// withoutBarriers replaces each path through real-time barriers with the
// real-time edge it stands for.
func (f *cycleFinder) withoutBarriers(walk cycle) *cycle {
	start := slices.IndexFunc(walk.txns, func(t int32) bool { return t < f.txns })
	c := &cycle{}
	for i := range walk.txns {
		p := (start + i) % len(walk.txns)
		t := walk.txns[p]
		if t >= f.txns {
			continue
		}
		kind := walk.kinds[p]
		if walk.txns[(p+1)%len(walk.txns)] >= f.txns {
			kind = rt
		}
		c.txns, c.kinds = append(c.txns, t), append(c.kinds, kind)
	}
	return c
}

// simpleCycles splits a closed walk into simple cycles. A search's
// shortest walk through its needed edges may pass a txn twice (T1 rw T2
// wr T1 rw T2 wr T1 has two rw edges, yet is G-single twice): what it
// shows is its simple cycles. If a walk with two rw edges splits into
// cycles with one each, those are G-single; else one of them has two.
func simpleCycles(walk cycle) []cycle {
	var cycles []cycle
	var txns []int32
	var kinds []edgeKind
	at := make(map[int32]int)
	for i := 0; i <= len(walk.txns); i++ {
		t := walk.txns[i%len(walk.txns)]
		if p, ok := at[t]; ok {
			cycles = append(cycles, cycle{txns: slices.Clone(txns[p:]), kinds: slices.Clone(kinds[p:])})
			for _, u := range txns[p:] {
				delete(at, u)
			}
			txns, kinds = txns[:p], kinds[:p]
		}
		if i < len(walk.txns) {
			at[t] = len(txns)
			txns, kinds = append(txns, t), append(kinds, walk.kinds[i])
		}
	}
	return cycles
}

// classify names the anomaly a cycle shows. Each edge is counted as the
// weakest reason it has (ww before wr before rw before rt), since any of
// its reasons orders the two txns: a cycle that a search found through a
// real-time edge may need none.
func (g *graph) classify(c *cycle) string {
	var rws, wrs int
	realtime := false
	for i, t := range c.txns {
		next := c.txns[(i+1)%len(c.txns)]
		to, kinds := g.out(t)
		k := c.kinds[i]
		for j, u := range to {
			if u == next {
				k = kinds[j]
				break
			}
		}
		switch {
		case k&ww != 0:
			c.kinds[i] = ww
		case k&wr != 0:
			c.kinds[i] = wr
			wrs++
		case k&rw != 0:
			c.kinds[i] = rw
			rws++
		default:
			c.kinds[i] = rt
			realtime = true
		}
	}
	var kind string
	switch {
	case rws == 0 && wrs == 0:
		kind = G0
	case rws == 0:
		kind = G1c
	case rws == 1:
		kind = GSingle
	case adjacentRWs(c.kinds):
		kind = G2Item
	default:
		kind = GNonadjacent
	}
	if realtime {
		kind += "-realtime"
	}
	return kind
}

// adjacentRWs reports whether a cycle's edges have two rw edges in a row,
// the last edge being followed by the first.
func adjacentRWs(kinds []edgeKind) bool {
	for i, k := range kinds {
		if k == rw && kinds[(i+1)%len(kinds)] == rw {
			return true
		}
	}
	return false
}

func budgetReason(err error, budget time.Duration, size int) string {
	if errors.Is(err, errBudget) {
		return fmt.Sprintf("time budget of %v ran out searching a component of %d transactions for cycles", budget, size)
	}
	return fmt.Sprintf("checking stopped (%v) while searching a component of %d transactions for cycles", err, size)
}
