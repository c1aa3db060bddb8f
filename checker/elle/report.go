package elle

import (
	"fmt"
	"strings"

	"github.com/squall-chaos/squall/checker"
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
	ops := make([]int64, len(txns))
	for i, t := range txns {
		ops[i] = c.txns[t].index(c.h)
	}
	c.found[kind] = append(c.found[kind], checker.Anomaly{Kind: kind, Ops: ops, Key: key, Explanation: explain()})
}

// reportInternal: the j-th micro-op of committed txn t (a read) disagrees
// with the txn's own earlier read (its prev-th micro-op, or none) and
// appends.
func (c *checkState) reportInternal(t int32, j, prev int) {
	tx := &c.txns[t]
	m := &c.mops[tx.first+int32(j)]
	key := c.keys[m.key].name
	c.report(Internal, key, []int32{t}, func() string {
		var own []string
		start := max(prev, 0)
		for i := tx.first + int32(start); i < tx.first+int32(j); i++ {
			if o := &c.mops[i]; o.kind == appendMop && o.key == m.key {
				own = append(own, fmt.Sprint(o.elem))
			}
		}
		got := c.readValue(t, tx.first+int32(j))
		var why string
		if prev >= 0 {
			why = fmt.Sprintf("after its own read of %s = %s and its appends [%s] since, it read %s = %s",
				key, c.readValue(t, tx.first+int32(prev)), strings.Join(own, " "), key, got)
		} else {
			why = fmt.Sprintf("after appending [%s] to %s, it read %s = %s, which does not end with them", strings.Join(own, " "), key, key, got)
		}
		return fmt.Sprintf("T1 = %s is not consistent with itself: %s.", c.describeTxn(t), why)
	})
}

// reportGarbage: the longest read of a key (mops[j], of txn t) holds an
// element no txn appended.
func (c *checkState) reportGarbage(t, j int32, elem int64) {
	key := c.keys[c.mops[j].key].name
	c.report(GarbageRead, key, []int32{t}, func() string {
		return fmt.Sprintf("T1 = %s read %s = %s, but no transaction appended %d to %s.",
			c.describeTxn(t), key, c.readValue(t, j), elem, key)
	})
}

// reportDuplicate: the longest read of a key holds an element twice.
func (c *checkState) reportDuplicate(t, j int32, elem int64, first, second int32) {
	key := c.keys[c.mops[j].key].name
	c.report(DuplicateElements, key, []int32{t}, func() string {
		return fmt.Sprintf("T1 = %s read %s = %s, in which %d appears twice (at positions %d and %d); each element is appended once.",
			c.describeTxn(t), key, c.readValue(t, j), elem, first, second)
	})
}

// reportIncompatible: the read mops[j] of txn t is not a prefix of the
// longest read of its key.
func (c *checkState) reportIncompatible(t, j int32) {
	ks := &c.keys[c.mops[j].key]
	c.report(IncompatibleOrder, ks.name, []int32{t, ks.longestTxn}, func() string {
		return fmt.Sprintf("Let T1 = %s and T2 = %s. T1 read %s = %s and T2 read %s = %s: neither is a prefix of the other, so no one order of appends to %s explains both.",
			c.describeTxn(t), c.describeTxn(ks.longestTxn), ks.name, c.readValue(t, j), ks.name, c.readValue(ks.longestTxn, ks.longest), ks.name)
	})
}

// reportAbortedRead: the read mops[j] of txn t saw the append id of a
// failed txn.
func (c *checkState) reportAbortedRead(t, j, id int32) {
	a := &c.appends[id]
	key := c.keys[a.key].name
	c.report(G1a, key, []int32{t, a.txn}, func() string {
		return fmt.Sprintf("Let T1 = %s and T2 = %s. T1 read %s = %s, which includes %d, appended by T2, which failed: an aborted read (G1a).",
			c.describeTxn(t), c.describeTxn(a.txn), key, c.readValue(t, j), a.elem)
	})
}

// reportIntermediateRead: the read mops[j] of txn t ended with the append
// id, which its txn followed with another append to the key.
func (c *checkState) reportIntermediateRead(t, j, id int32) {
	a := &c.appends[id]
	key := c.keys[a.key].name
	c.report(G1b, key, []int32{t, a.txn}, func() string {
		return fmt.Sprintf("Let T1 = %s and T2 = %s. T1 read %s = %s, which ends with T2's append of %d, but T2 appended to %s again after it: T1 saw T2's intermediate state, an intermediate read (G1b).",
			c.describeTxn(t), c.describeTxn(a.txn), key, c.readValue(t, j), a.elem, key)
	})
}

// reportLostUpdate: committed txns that read the same version of a key and
// all appended to it.
func (c *checkState) reportLostUpdate(cands []lostUpdateCandidate) {
	key := c.keys[cands[0].key].name
	txns := make([]int32, len(cands))
	for i, l := range cands {
		txns[i] = l.txn
	}
	c.report(LostUpdate, key, txns, func() string {
		var b strings.Builder
		b.WriteString("Let ")
		for i, t := range txns {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "T%d = %s", i+1, c.describeTxn(t))
		}
		fmt.Fprintf(&b, ". Each read %s = %s and then appended to %s, and each committed: whichever appended last did not see the others' appends, so their updates were lost (lost-update).",
			key, c.readValue(cands[0].txn, cands[0].read), key)
		return b.String()
	})
}

// reportCycle reports a dependency cycle.
func (c *checkState) reportCycle(kind string, cy *cycle) {
	c.report(kind, "", cy.txns, func() string { return c.explainCycle(kind, cy) })
}
