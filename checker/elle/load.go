package elle

import (
	"fmt"

	"github.com/squall-chaos/squall/history"
)

// appendInfo is one append of one txn, or an element some read holds that
// no txn appended (txn -1).
type appendInfo struct {
	elem int64
	key  int32
	txn  int32
	// pos is the element's position in its key's version order, -1 if
	// no committed read saw it.
	pos int32
	// final marks the txn's last append to the key: reading any other
	// of its appends is an intermediate read.
	final bool
}

type keyElem struct {
	key  int32
	elem int64
}

// lostUpdateCandidate is a committed txn that read a key (before its own
// appends to it) and then appended to it.
type lostUpdateCandidate struct {
	key, n, txn int32
	read        int32 // the read's micro-op
}

// barrierNode is barrier b's node until the txns are counted.
func barrierNode(b int32) int32 { return -b - 1 }

// load reads the history's txns into c, checking each committed txn's
// reads against its own earlier reads and appends (internal anomalies) and
// noting each key's longest read. With real time it also adds the
// real-time order, through barriers rather than an edge from every txn to
// every txn invoked after it completed: each committed completion is a
// barrier node, after the previous barrier and after its txn, and each
// invoked txn comes after the latest barrier. So T1 reaches T2 through
// barriers exactly when T1 completed before T2 was invoked, with three
// edges per txn. Barrier nodes are numbered after the txns (see
// barrierNode).
func (c *checkState) load() error {
	open := make(map[history.Process]int32)
	lastBarrier := int32(-1)
	for i := range c.h {
		op := &c.h[i]
		if op.F != "txn" || op.Process == history.Nemesis {
			continue
		}
		if op.Type == history.Invoke {
			t := int32(len(c.txns))
			c.txns = append(c.txns, txn{first: -1, invoke: int32(i), complete: -1, status: indeterminate})
			open[op.Process] = t
			if lastBarrier >= 0 {
				c.addEdge(barrierNode(lastBarrier), t, rt)
			}
			continue
		}
		t, ok := open[op.Process]
		if !ok {
			return &parseError{op.Index, -1, fmt.Sprintf("%s completion of a txn by process %v, which has no txn outstanding", op.Type, op.Process)}
		}
		delete(open, op.Process)
		tx := &c.txns[t]
		tx.complete = int32(i)
		switch op.Type {
		case history.OK:
			tx.status = committed
		case history.Fail:
			tx.status = aborted
		}
		if err := c.loadTxn(t); err != nil {
			return err
		}
		if c.realtime && tx.status == committed {
			b := c.barriers
			c.barriers++
			c.addEdge(t, barrierNode(b), rt)
			if lastBarrier >= 0 {
				c.addEdge(barrierNode(lastBarrier), barrierNode(b), rt)
			}
			lastBarrier = b
		}
	}
	// Now that the txns are counted, barriers get their node numbers.
	for i := range c.edges {
		e := &c.edges[i]
		if e.from < 0 {
			e.from = int32(len(c.txns)) - e.from - 1
		}
		if e.to < 0 {
			e.to = int32(len(c.txns)) - e.to - 1
		}
	}
	for t := range c.txns {
		if c.txns[t].first < 0 { // never completed
			if err := c.loadTxn(int32(t)); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadTxn parses txn t's micro-ops and indexes its appends.
func (c *checkState) loadTxn(t int32) error {
	tx := &c.txns[t]
	op := &c.h[tx.event()]
	tx.first = int32(len(c.mops))
	if err := c.parseMops(op, tx.status == committed); err != nil {
		return err
	}
	tx.end = int32(len(c.mops))
	mops := c.mops[tx.first:tx.end]
	for j := range mops {
		m := &mops[j]
		if m.kind != appendMop {
			continue
		}
		ke := keyElem{m.key, m.elem}
		if prev, ok := c.appendIDs[ke]; ok {
			other := c.h[c.txns[c.appends[prev].txn].event()].Index
			return &parseError{op.Index, j, fmt.Sprintf("element %d was already appended to %s by event %d; elements must be unique per key", m.elem, c.keys[m.key].name, other)}
		}
		c.appendIDs[ke] = int32(len(c.appends))
		c.appends = append(c.appends, appendInfo{elem: m.elem, key: m.key, txn: t, pos: -1, final: !appendsLater(mops[j+1:], m.key)})
	}
	if tx.status == committed {
		c.checkOwnReads(t)
	}
	return nil
}

func appendsLater(mops []mop, key int32) bool {
	for i := range mops {
		if mops[i].kind == appendMop && mops[i].key == key {
			return true
		}
	}
	return false
}

// checkOwnReads checks each read of committed txn t against what t itself
// did before it, marks its external reads, notes the longest read of
// each key and the candidates for lost updates. A read must not hold an
// element t appends only later (future-read); it must end with t's own
// earlier appends to the key, in order (else internal); and what comes
// before them, the state other txns committed, must be what t's previous
// read of the key saw (else, if it saw more, non-repeatable-read, which
// read committed allows; if it lost some, internal).
func (c *checkState) checkOwnReads(t int32) {
	tx := &c.txns[t]
	mops := c.mops[tx.first:tx.end]
	for j := range mops {
		m := &mops[j]
		if m.kind != readMop {
			continue
		}
		prev, own := -1, 0 // the txn's previous read of the key; its appends to the key before j
		for i := j - 1; i >= 0; i-- {
			if mops[i].key != m.key {
				continue
			}
			if mops[i].kind == appendMop {
				own++
			} else if prev < 0 {
				prev = i
			}
		}
		later := appendsLater(mops[j+1:], m.key)
		switch {
		case later && c.futureRead(t, j):
		case own > 0 && !c.endsWithOwn(tx, j):
			c.reportInternal(t, j, -1)
		case own > 0:
			m.own = int32(own)
			if prev >= 0 && c.endsWithOwn(tx, prev) {
				c.compareReads(t, prev, j)
			}
		case prev >= 0 && c.endsWithOwn(tx, prev):
			c.compareReads(t, prev, j)
		}
		if prev < 0 && own == 0 {
			m.external = true
			if later {
				c.lostUpdates = append(c.lostUpdates, lostUpdateCandidate{m.key, m.n, t, tx.first + int32(j)})
			}
		}
		k := &c.keys[m.key]
		if k.longest < 0 || m.n > c.mops[k.longest].n {
			k.longest, k.longestTxn = tx.first+int32(j), t
		}
	}
}

// compareReads reports a read j of txn t whose committed part lost some
// of, or added to, what t's previous read prev of the key saw, and marks
// one that saw the same as a repeat.
func (c *checkState) compareReads(t int32, prev, j int) {
	tx := &c.txns[t]
	switch c.compareCommitted(tx, prev, j) {
	case readSame:
		c.mops[tx.first+int32(j)].repeat = true
	case readLost:
		c.reportInternal(t, j, prev)
	case readMore:
		c.reportNonRepeatable(t, j, prev)
	}
}

// futureRead reports (and returns true) if the j-th micro-op of committed
// txn t, a read, holds an element t appends to the key after it.
func (c *checkState) futureRead(t int32, j int) bool {
	tx := &c.txns[t]
	mops := c.mops[tx.first:tx.end]
	got := readList(c.h, tx.complete, j)
	for i := j + 1; i < len(mops); i++ {
		if mops[i].kind != appendMop || mops[i].key != mops[j].key {
			continue
		}
		for p := range got.len() {
			if e := got.at(p); e == mops[i].elem {
				c.reportFutureRead(t, j, e)
				return true
			}
		}
	}
	return false
}

// ownCount is how many appends tx made to the key of its j-th micro-op
// before it.
func (c *checkState) ownCount(tx *txn, j int) int {
	mops := c.mops[tx.first:tx.end]
	n := 0
	for i := range j {
		if mops[i].kind == appendMop && mops[i].key == mops[j].key {
			n++
		}
	}
	return n
}

// endsWithOwn reports whether the j-th micro-op of committed txn tx, a
// read, ends with the txn's own earlier appends to its key, in order.
func (c *checkState) endsWithOwn(tx *txn, j int) bool {
	mops := c.mops[tx.first:tx.end]
	got := readList(c.h, tx.complete, j)
	p := got.len() - c.ownCount(tx, j)
	if p < 0 {
		return false
	}
	for i := range j {
		if mops[i].kind == appendMop && mops[i].key == mops[j].key {
			if got.at(p) != mops[i].elem {
				return false
			}
			p++
		}
	}
	return true
}

// How a re-read's committed part compares with the earlier read's.
const (
	readSame = iota
	readMore // the earlier one is a proper prefix of the later
	readLost // anything else
)

// compareCommitted compares the parts of tx's reads prev and j (of one
// key, each ending with the txn's own appends before it) that other txns
// committed: what comes before the own appends.
func (c *checkState) compareCommitted(tx *txn, prev, j int) int {
	a := readList(c.h, tx.complete, prev)
	na := a.len() - c.ownCount(tx, prev)
	b := readList(c.h, tx.complete, j)
	nb := b.len() - c.ownCount(tx, j)
	if nb < na {
		return readLost
	}
	for i := range na {
		if a.at(i) != b.at(i) {
			return readLost
		}
	}
	if nb > na {
		return readMore
	}
	return readSame
}
