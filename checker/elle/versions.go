package elle

import (
	"cmp"
	"slices"

	"github.com/squall-chaos/squall/history"
)

// inferVersions takes each key's version order from its longest committed
// read: in a list-append history every read of a key must be a prefix of
// it. It reports elements that no txn appended and elements read twice.
func (c *checkState) inferVersions() {
	for k := range c.keys {
		ks := &c.keys[k]
		if ks.longest < 0 {
			continue
		}
		reader := &c.txns[ks.longestTxn]
		list := readList(c.h, reader.complete, int(ks.longest-reader.first))
		ks.version = make([]int32, list.len())
		for p := range list.len() {
			e := list.at(p)
			id, ok := c.appendIDs[keyElem{int32(k), e}]
			if !ok {
				id = int32(len(c.appends))
				c.appendIDs[keyElem{int32(k), e}] = id
				c.appends = append(c.appends, appendInfo{elem: e, key: int32(k), txn: -1, pos: -1})
				c.reportGarbage(ks.longestTxn, ks.longest, e)
			}
			a := &c.appends[id]
			if a.pos >= 0 {
				c.reportDuplicate(ks.longestTxn, ks.longest, e, a.pos, int32(p))
			} else {
				a.pos = int32(p)
			}
			ks.version[p] = id
			if ks.firstAborted < 0 && a.txn >= 0 && c.txns[a.txn].status == aborted {
				ks.firstAborted = int32(p)
			}
		}
	}
}

// checkReads compares every committed read with its key's version order
// (incompatible orders), and looks at what each read saw: failed txns'
// appends (G1a) and other txns' intermediate appends (G1b).
func (c *checkState) checkReads() {
	for t := range c.txns {
		tx := &c.txns[t]
		if tx.status != committed {
			continue
		}
		for j := tx.first; j < tx.end; j++ {
			m := &c.mops[j]
			if m.kind != readMop || j == c.keys[m.key].longest {
				continue
			}
			if !c.isPrefix(tx, j) {
				c.reportIncompatible(int32(t), j)
				m.n = incompatibleLength
			}
		}
		for j := tx.first; j < tx.end; j++ {
			m := &c.mops[j]
			if m.kind != readMop {
				continue
			}
			c.checkObserved(int32(t), j)
		}
	}
}

// isPrefix reports whether the read mops[j] of tx is consistent with its
// key's version order: what other txns committed is a prefix of it, and
// the txn's own appends after that come later in it, in order (a read
// committed txn may read its own appends on top of an older state than
// the one it commits on).
func (c *checkState) isPrefix(tx *txn, j int32) bool {
	m := &c.mops[j]
	version := c.keys[m.key].version
	base := m.committedLen()
	if int(base) > len(version) {
		return false
	}
	list := readList(c.h, tx.complete, int(j-tx.first))
	if list.ints != nil {
		for p, e := range list.ints[:base] {
			if e != c.appends[version[p]].elem {
				return false
			}
		}
	} else {
		for p, v := range list.anys[:base] {
			if e, _ := history.Int(v); e != c.appends[version[p]].elem {
				return false
			}
		}
	}
	after := base - 1
	for p := int(base); p < list.len(); p++ {
		e := list.at(p)
		p := c.appends[c.appendIDs[keyElem{m.key, e}]].pos
		if p < 0 {
			continue // no read holds it: it may come after them all
		}
		if p <= after {
			return false
		}
		after = p
	}
	return true
}

// checkObserved reports a read of mops[j] by txn t that saw a failed txn's
// append, or ended in another txn's intermediate append.
func (c *checkState) checkObserved(t, j int32) {
	m := &c.mops[j]
	ks := &c.keys[m.key]
	if m.n == incompatibleLength {
		// Not a prefix of the version order: look at each element.
		tx := &c.txns[t]
		l := readList(c.h, tx.complete, int(j-tx.first))
		for p := range l.len() {
			e := l.at(p)
			if id, ok := c.appendIDs[keyElem{m.key, e}]; ok && c.writerStatus(id) == aborted {
				c.reportAbortedRead(t, j, id)
				return
			}
		}
		return
	}
	base := m.committedLen()
	if ks.firstAborted >= 0 && base > ks.firstAborted {
		c.reportAbortedRead(t, j, ks.version[ks.firstAborted])
	}
	if base > 0 {
		a := &c.appends[ks.version[base-1]]
		if a.txn >= 0 && a.txn != t && !a.final {
			c.reportIntermediateRead(t, j, ks.version[base-1])
		}
	}
}

func (c *checkState) writerStatus(id int32) status {
	a := &c.appends[id]
	if a.txn < 0 {
		return indeterminate
	}
	return c.txns[a.txn].status
}

// checkLostUpdates reports committed txns that read the same version of a
// key and then both appended to it: one of them cannot have seen the
// other's append, so one update was lost.
func (c *checkState) checkLostUpdates() {
	cands := c.lostUpdates[:0]
	for _, l := range c.lostUpdates {
		if c.mops[l.read].n >= 0 {
			cands = append(cands, l)
		}
	}
	slices.SortFunc(cands, func(a, b lostUpdateCandidate) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.n, b.n), cmp.Compare(a.txn, b.txn))
	})
	for i := 0; i < len(cands); {
		j := i + 1
		for j < len(cands) && cands[j].key == cands[i].key && cands[j].n == cands[i].n {
			j++
		}
		if j-i > 1 {
			c.reportLostUpdate(cands[i:j])
		}
		i = j
	}
}
