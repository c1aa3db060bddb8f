package elle

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/squall-chaos/squall/history"
)

// How much of a long list or txn an explanation shows.
const (
	shownHead = 2
	shownTail = 4
	shownMops = 12
)

// describeList writes a read's list, eliding the middle of a long one.
func describeList(l list) string {
	var b strings.Builder
	b.WriteByte('[')
	n := l.len()
	for i := range n {
		if n > shownHead+shownTail+1 && i >= shownHead && i < n-shownTail {
			if i == shownHead {
				b.WriteString(" ...")
			}
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatInt(l.at(i), 10))
	}
	b.WriteByte(']')
	return b.String()
}

// readValue is what the read mops[j] of txn t saw, written out.
func (c *checkState) readValue(t, j int32) string {
	tx := &c.txns[t]
	return describeList(readList(c.h, tx.complete, int(j-tx.first)))
}

// keyName is key k's name as explanations show it: abbreviated if long.
func (c *checkState) keyName(k int32) string { return history.AbbreviateString(c.keys[k].name) }

// describeTxn writes a txn the way a person would note it from the
// history, with the indexes of its invoke and completion: "{events 9-12:
// append k3 7, r k4 [1 2]}".
func (c *checkState) describeTxn(t int32) string {
	tx := &c.txns[t]
	var b strings.Builder
	if tx.complete < 0 {
		fmt.Fprintf(&b, "{event %d (never completed)", c.h[tx.invoke].Index)
	} else {
		fmt.Fprintf(&b, "{events %d-%d", c.h[tx.invoke].Index, c.h[tx.complete].Index)
	}
	switch {
	case tx.status == indeterminate && tx.complete >= 0:
		b.WriteString(" (info)")
	case tx.status == aborted:
		b.WriteString(" (failed)")
	}
	b.WriteString(": ")
	for j := tx.first; j < tx.end; j++ {
		if j-tx.first == shownMops {
			fmt.Fprintf(&b, ", ... %d more", tx.end-j)
			break
		}
		if j > tx.first {
			b.WriteString(", ")
		}
		m := &c.mops[j]
		key := c.keyName(m.key)
		switch {
		case m.kind == appendMop:
			fmt.Fprintf(&b, "append %s %d", key, m.elem)
		case tx.status == committed:
			fmt.Fprintf(&b, "r %s %s", key, c.readValue(t, j))
		default:
			fmt.Fprintf(&b, "r %s ?", key)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// txnNames names txns T1, T2, ... in the order they were invoked (txn
// numbers are in that order), as a person reading the history would.
func txnNames(txns ...int32) map[int32]string {
	sorted := slices.Sorted(slices.Values(txns))
	names := make(map[int32]string, len(sorted))
	for _, t := range sorted {
		if _, ok := names[t]; !ok {
			names[t] = "T" + strconv.Itoa(len(names)+1)
		}
	}
	return names
}

// letTxns writes "Let T1 = {...}, T2 = {...} and T3 = {...}." for txns,
// in name order.
func (c *checkState) letTxns(names map[int32]string) string {
	txns := slices.SortedFunc(maps.Keys(names), func(a, b int32) int { return cmp.Compare(a, b) })
	var b strings.Builder
	b.WriteString("Let ")
	for i, t := range txns {
		switch {
		case i == 0:
		case i == len(txns)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = %s", names[t], c.describeTxn(t))
	}
	b.WriteString(".")
	return b.String()
}

// startAtFirst rotates a cycle to begin at its earliest-invoked txn, T1.
func startAtFirst(cy *cycle) {
	i := slices.Index(cy.txns, slices.Min(cy.txns))
	cy.txns = append(cy.txns[i:], cy.txns[:i]...)
	cy.kinds = append(cy.kinds[i:], cy.kinds[:i]...)
}

// explainCycle writes out a cycle edge by edge, naming its txns T1, T2,
// ... in the order they were invoked.
func (c *checkState) explainCycle(kind string, cy *cycle) string {
	startAtFirst(cy)
	names := txnNames(cy.txns...)
	var b strings.Builder
	b.WriteString(c.letTxns(names))
	keys := make([]int32, len(cy.txns))
	order := make([]string, 0, len(cy.txns)+1)
	for i, t := range cy.txns {
		next := cy.txns[(i+1)%len(cy.txns)]
		reason, key := c.edgeReason(t, next, cy.kinds[i], names[t], names[next])
		keys[i] = key
		fmt.Fprintf(&b, " %s < %s because %s.", names[t], names[next], reason)
		order = append(order, names[t])
	}
	order = append(order, names[cy.txns[0]])
	fmt.Fprintf(&b, " So %s: a cycle %s.", strings.Join(order, " < "), c.describeCycle(kind, cy, keys))
	return b.String()
}

// describeCycle says what kind of cycle cy is, with its common name where
// it has one. keys[i] is the key of edge i (-1 for real time).
func (c *checkState) describeCycle(kind string, cy *cycle, keys []int32) string {
	rws := 0
	for _, k := range cy.kinds {
		if k == rw {
			rws++
		}
	}
	base, realtime := strings.CutSuffix(kind, "-realtime")
	var d string
	switch base {
	case G0:
		d = "of write-write (ww) edges only"
	case G1c:
		d = "of ww and wr edges, at least one wr"
	case GSingle:
		d = "with exactly one read-write (rw) anti-dependency"
	case GNonadjacent:
		d = fmt.Sprintf("with %d read-write (rw) anti-dependencies, no two of them adjacent", rws)
	case G2Item:
		d = fmt.Sprintf("with %d read-write (rw) anti-dependencies, two of them adjacent", rws)
	}
	if realtime {
		return d + " that needs the real-time order: " + kind
	}
	d += ": " + kind
	switch base {
	case G0:
		d += " (write cycle)"
	case G1c:
		d += " (circular information flow)"
	}
	if name := c.commonName(base, cy, keys); name != "" {
		d += " (" + name + ")"
	}
	return d
}

// commonName is the name the literature gives a cycle of this shape, or
// "": read skew (T1 saw part of T2's appends: one rw and one wr edge, on
// different keys), lost update (both read a key at the same version, then
// appended to it: one rw and one ww edge, on the same key), write skew
// (exactly two rw edges, in a row, on different keys), Fekete et al.'s
// read-only anomaly (the same, closed by a wr edge into a read-only txn),
// and long fork (two readers saw two independent appends in opposite
// orders: wr, rw, wr, rw).
func (c *checkState) commonName(kind string, cy *cycle, keys []int32) string {
	k := cy.kinds
	n := len(k)
	switch {
	case kind == GSingle && n == 2:
		i := slices.Index(k, rw)
		other := (i + 1) % 2
		switch {
		case k[other] == wr && keys[other] != keys[i]:
			return "read skew"
		case k[other] == ww && keys[other] == keys[i]:
			return "lost update"
		}
	case kind == G2Item && rwCount(k) == 2:
		// Its two rw edges are in a row: T_a -rw-> T_b -rw-> T_c.
		a := slices.IndexFunc(k, func(e edgeKind) bool { return e == rw })
		if k[(a+1)%n] != rw {
			a = n - 1 // the last edge, followed by the first
		}
		b := (a + 1) % n
		switch {
		case keys[a] == keys[b]:
		case n == 3 && k[(a+2)%3] == wr && c.readOnly(cy.txns[a]):
			// T_ro -rw-> T_a -rw-> T_b -wr-> T_ro, T_ro read-only:
			// T_a and T_b alone would be serializable.
			return "Fekete et al.'s read-only anomaly"
		default:
			return "write skew"
		}
	case kind == GNonadjacent && n == 4 && rwCount(k) == 2:
		// W1 -wr-> R1 -rw-> W2 -wr-> R2 -rw-> W1.
		for i := range 2 {
			if k[i] == wr && k[i+1] == rw && k[i+2] == wr && k[(i+3)%4] == rw && keys[i+1] != keys[(i+3)%4] {
				return "long fork"
			}
		}
	}
	return ""
}

func rwCount(kinds []edgeKind) int {
	n := 0
	for _, k := range kinds {
		if k == rw {
			n++
		}
	}
	return n
}

// endsWith says how read m's list ends with its committed part: "which
// ends with", or, when the txn's own appends follow, "whose part before
// its own appends ends with".
func (c *checkState) endsWith(m *mop) string {
	if m.own > 0 {
		return "whose part before its own appends ends with"
	}
	return "which ends with"
}

// readOnly reports whether txn t appends nothing.
func (c *checkState) readOnly(t int32) bool {
	tx := &c.txns[t]
	for j := tx.first; j < tx.end; j++ {
		if c.mops[j].kind == appendMop {
			return false
		}
	}
	return true
}

// edgeReason says why txn a precedes txn b for the given reason, with the
// key and elements that show it; it also returns the key (-1 for real
// time).
func (c *checkState) edgeReason(a, b int32, kind edgeKind, an, bn string) (string, int32) {
	switch kind {
	case ww:
		for j := c.txns[a].first; j < c.txns[a].end; j++ {
			m := &c.mops[j]
			if m.kind != appendMop {
				continue
			}
			ks := &c.keys[m.key]
			p := c.appends[c.appendIDs[keyElem{m.key, m.elem}]].pos
			if p >= 0 && int(p)+1 < len(ks.version) && c.appends[ks.version[p+1]].txn == b {
				return fmt.Sprintf("%s appended %d to %s right after %s's %d (ww)", bn, c.appends[ks.version[p+1]].elem, c.keyName(m.key), an, m.elem), m.key
			}
		}
	case wr:
		for j := c.txns[b].first; j < c.txns[b].end; j++ {
			m := &c.mops[j]
			base := m.committedLen()
			if m.kind != readMop || m.n < 0 || base <= 0 {
				continue
			}
			ks := &c.keys[m.key]
			if last := c.appends[ks.version[base-1]]; last.txn == a {
				return fmt.Sprintf("%s read %s = %s, %s %s's append of %d (wr)", bn, c.keyName(m.key), c.readValue(b, j), c.endsWith(m), an, last.elem), m.key
			}
		}
	case rw:
		for j := c.txns[a].first; j < c.txns[a].end; j++ {
			m := &c.mops[j]
			base := m.committedLen()
			if m.kind != readMop || m.n < 0 {
				continue
			}
			ks := &c.keys[m.key]
			if int(base) >= len(ks.version) {
				continue
			}
			if next := c.appends[ks.version[base]]; next.txn == b {
				var own string
				if m.own > 0 {
					own = " (apart from its own appends)"
				}
				if base == 0 {
					return fmt.Sprintf("%s read %s = %s%s, and %s appended %d as its first element (rw)", an, c.keyName(m.key), c.readValue(a, j), own, bn, next.elem), m.key
				}
				return fmt.Sprintf("%s read %s = %s%s, and %s appended %d right after %d (rw)", an, c.keyName(m.key), c.readValue(a, j), own, bn, next.elem, c.appends[ks.version[base-1]].elem), m.key
			}
		}
	case rt:
		return fmt.Sprintf("%s completed (index %d) before %s was invoked (index %d) (realtime)", an, c.h[c.txns[a].complete].Index, bn, c.h[c.txns[b].invoke].Index), -1
	}
	panic(fmt.Sprintf("elle: no evidence for edge kind %d from txn %d to %d", kind, a, b))
}
