package elle

import (
	"fmt"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// maxReported is how many anomalies of each kind keep their explanation;
// the rest are only counted.
const maxReported = 8

// report counts an anomaly of kind over txns and, while fewer than
// maxReported of its kind are kept, keeps it with the explanation explain
// writes. Only kept anomalies are explained: a broken history can have an
// anomaly in every txn.
func (c *checkState) report(kind, key string, txns []int32, explain func() string) {
	c.counts[kind]++
	if len(c.found[kind]) >= maxReported {
		return
	}
	// Ops are in the order the explanation names the txns: T1, T2, ...
	sorted := slices.Sorted(slices.Values(txns))
	ops := make([]int64, len(sorted))
	for i, t := range sorted {
		ops[i] = c.txns[t].index(c.h)
	}
	c.found[kind] = append(c.found[kind], checker.Anomaly{Kind: kind, Ops: ops, Key: history.AbbreviateString(key), Explanation: explain()})
}

// ownAppends lists the elements txn t appended to key in its micro-ops
// [from, to), as explanations show them: "[3 4]", or "[]".
func (c *checkState) ownAppends(t int32, key int32, from, to int32) string {
	tx := &c.txns[t]
	var own []string
	for i := tx.first + from; i < tx.first+to; i++ {
		if o := &c.mops[i]; o.kind == appendMop && o.key == key {
			own = append(own, fmt.Sprint(o.elem))
		}
	}
	return "[" + strings.Join(own, " ") + "]"
}

// reportInternal: the j-th micro-op of committed txn t (a read) does not
// end with the txn's own earlier appends to its key, or, after its
// previous read of the key (the prev-th micro-op, or none), lost part of
// what that read saw.
func (c *checkState) reportInternal(t int32, j, prev int) {
	tx := &c.txns[t]
	m := &c.mops[tx.first+int32(j)]
	key := c.keys[m.key].name
	c.report(Internal, key, []int32{t}, func() string {
		name := c.keyName(m.key)
		got := c.readValue(t, tx.first+int32(j))
		own := c.ownAppends(t, m.key, 0, int32(j))
		var why string
		if prev >= 0 && c.endsWithOwn(tx, j) {
			why = fmt.Sprintf("it read %s = %s, then %s = %s: the second read lost what the first saw",
				name, c.readValue(t, tx.first+int32(prev)), name, got)
		} else {
			why = fmt.Sprintf("after appending %s to %s, it read %s = %s, which does not end with them", own, name, name, got)
		}
		return fmt.Sprintf("T1 = %s is not consistent with itself: %s.", c.describeTxn(t), why)
	})
}

// reportNonRepeatable: the j-th micro-op of committed txn t (a read) saw
// more committed appends to its key than the txn's previous read of it
// (the prev-th micro-op).
func (c *checkState) reportNonRepeatable(t int32, j, prev int) {
	tx := &c.txns[t]
	m := &c.mops[tx.first+int32(j)]
	key := c.keys[m.key].name
	c.report(NonRepeatableRead, key, []int32{t}, func() string {
		name := c.keyName(m.key)
		var own string
		if o := c.ownAppends(t, m.key, 0, int32(j)); o != "[]" {
			own = fmt.Sprintf(" (besides its own appends %s)", o)
		}
		return fmt.Sprintf("T1 = %s read %s = %s, then %s = %s: the second read saw appends of other transactions that committed in between%s, a non-repeatable (fuzzy) read. Read committed allows it; repeatable read, snapshot isolation and serializability do not.",
			c.describeTxn(t), name, c.readValue(t, tx.first+int32(prev)), name, c.readValue(t, tx.first+int32(j)), own)
	})
}

// reportFutureRead: the j-th micro-op of committed txn t (a read) holds
// elem, which t appends to the key only later.
func (c *checkState) reportFutureRead(t int32, j int, elem int64) {
	tx := &c.txns[t]
	m := &c.mops[tx.first+int32(j)]
	key := c.keys[m.key].name
	c.report(FutureRead, key, []int32{t}, func() string {
		name := c.keyName(m.key)
		return fmt.Sprintf("T1 = %s read %s = %s, which holds %d, but T1 appends %d to %s only after that read: it observed a write that had not happened yet (future read).",
			c.describeTxn(t), name, c.readValue(t, tx.first+int32(j)), elem, elem, name)
	})
}

// reportGarbage: the longest read of a key (mops[j], of txn t) holds an
// element no txn appended.
func (c *checkState) reportGarbage(t, j int32, elem int64) {
	k := c.mops[j].key
	c.report(GarbageRead, c.keys[k].name, []int32{t}, func() string {
		return fmt.Sprintf("T1 = %s read %s = %s, but no transaction appended %d to %s.",
			c.describeTxn(t), c.keyName(k), c.readValue(t, j), elem, c.keyName(k))
	})
}

// reportDuplicate: the longest read of a key holds an element twice.
func (c *checkState) reportDuplicate(t, j int32, elem int64, first, second int32) {
	k := c.mops[j].key
	c.report(DuplicateElements, c.keys[k].name, []int32{t}, func() string {
		return fmt.Sprintf("T1 = %s read %s = %s, in which %d appears twice (at positions %d and %d); each element is appended once.",
			c.describeTxn(t), c.keyName(k), c.readValue(t, j), elem, first, second)
	})
}

// reportIncompatible: the read mops[j] of txn t is not a prefix of the
// longest read of its key.
func (c *checkState) reportIncompatible(t, j int32) {
	k := c.mops[j].key
	ks := &c.keys[k]
	c.report(IncompatibleOrder, ks.name, []int32{t, ks.longestTxn}, func() string {
		names := txnNames(t, ks.longestTxn)
		name := c.keyName(k)
		return fmt.Sprintf("%s %s read %s = %s and %s read %s = %s: neither is a prefix of the other, so no one order of appends to %s explains both.",
			c.letTxns(names), names[t], name, c.readValue(t, j), names[ks.longestTxn], name, c.readValue(ks.longestTxn, ks.longest), name)
	})
}

// reportAbortedRead: the read mops[j] of txn t saw the append id of a
// failed txn.
func (c *checkState) reportAbortedRead(t, j, id int32) {
	a := &c.appends[id]
	c.report(G1a, c.keys[a.key].name, []int32{t, a.txn}, func() string {
		names := txnNames(t, a.txn)
		return fmt.Sprintf("%s %s read %s = %s, which includes %d, appended by %s, which failed: an aborted read (G1a).",
			c.letTxns(names), names[t], c.keyName(a.key), c.readValue(t, j), a.elem, names[a.txn])
	})
}

// reportIntermediateRead: the read mops[j] of txn t ended with the append
// id, which its txn followed with another append to the key.
func (c *checkState) reportIntermediateRead(t, j, id int32) {
	a := &c.appends[id]
	c.report(G1b, c.keys[a.key].name, []int32{t, a.txn}, func() string {
		names := txnNames(t, a.txn)
		name := c.keyName(a.key)
		return fmt.Sprintf("%s %s read %s = %s, which ends with %s's append of %d, but %s appended to %s again after it: %s saw %s's intermediate state, an intermediate read (G1b).",
			c.letTxns(names), names[t], name, c.readValue(t, j), names[a.txn], a.elem, names[a.txn], name, names[t], names[a.txn])
	})
}

// reportLostUpdate: committed txns that read the same version of a key and
// all appended to it.
func (c *checkState) reportLostUpdate(cands []lostUpdateCandidate) {
	k := cands[0].key
	txns := make([]int32, len(cands))
	for i, l := range cands {
		txns[i] = l.txn
	}
	c.report(LostUpdate, c.keys[k].name, txns, func() string {
		name := c.keyName(k)
		return fmt.Sprintf("%s Each read %s = %s and then appended to %s, and each committed: whichever appended last did not see the others' appends, so their updates were lost (lost-update).",
			c.letTxns(txnNames(txns...)), name, c.readValue(cands[0].txn, cands[0].read), name)
	})
}

// reportCycle reports a dependency cycle.
func (c *checkState) reportCycle(kind string, cy *cycle) {
	c.report(kind, "", cy.txns, func() string { return c.explainCycle(kind, cy) })
}
