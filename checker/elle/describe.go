package elle

import (
	"fmt"
	"strconv"
	"strings"
)

// How much of a long list or txn an explanation shows.
const (
	shownHead = 2
	shownTail = 4
	shownMops = 12
)

// describeList writes a read's list, eliding the middle of a long one.
func describeList(list []any) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range list {
		if len(list) > shownHead+shownTail+1 && i >= shownHead && i < len(list)-shownTail {
			if i == shownHead {
				b.WriteString(" ...")
			}
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, v)
	}
	b.WriteByte(']')
	return b.String()
}

// readValue is what the read mops[j] of txn t saw, written out.
func (c *checkState) readValue(t, j int32) string {
	tx := &c.txns[t]
	return describeList(readList(c.h, tx.complete, int(j-tx.first)))
}

// describeTxn writes a txn the way a person would note it from the
// history: "{index 12: append k3 7, r k4 [1 2]}".
func (c *checkState) describeTxn(t int32) string {
	tx := &c.txns[t]
	var b strings.Builder
	fmt.Fprintf(&b, "{index %d", tx.index(c.h))
	switch tx.status {
	case indeterminate:
		b.WriteString(" (info)")
	case aborted:
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
		key := c.keys[m.key].name
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

// explainCycle writes out a cycle edge by edge, naming its txns T1, T2, ...
func (c *checkState) explainCycle(kind string, cy *cycle) string {
	names := make([]string, len(cy.txns))
	for i := range names {
		names[i] = "T" + strconv.Itoa(i+1)
	}
	var b strings.Builder
	b.WriteString("Let ")
	for i, t := range cy.txns {
		switch {
		case i == 0:
		case i == len(cy.txns)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = %s", names[i], c.describeTxn(t))
	}
	b.WriteString(".")
	for i, t := range cy.txns {
		n := (i + 1) % len(cy.txns)
		fmt.Fprintf(&b, " %s < %s because %s.", names[i], names[n], c.edgeReason(t, cy.txns[n], cy.kinds[i], names[i], names[n]))
	}
	fmt.Fprintf(&b, " So %s < %s: a cycle %s.", strings.Join(names, " < "), names[0], cycleDescriptions[kind])
	return b.String()
}

var cycleDescriptions = map[string]string{
	G0:              "of write-write (ww) edges only: G0 (dirty write)",
	G1c:             "of ww and wr edges, at least one wr: G1c (circular information flow)",
	GSingle:         "with exactly one read-write (rw) anti-dependency: G-single (read skew)",
	G2Item:          "with two or more read-write (rw) anti-dependencies: G2-item (write skew)",
	G0Realtime:      "of ww edges that needs the real-time order: G0-realtime",
	G1cRealtime:     "of ww and wr edges that needs the real-time order: G1c-realtime",
	GSingleRealtime: "with exactly one rw anti-dependency that needs the real-time order: G-single-realtime",
	G2ItemRealtime:  "with two or more rw anti-dependencies that needs the real-time order: G2-item-realtime",
}

// edgeReason says why txn a precedes txn b for the given reason, with the
// key and elements that show it.
func (c *checkState) edgeReason(a, b int32, kind edgeKind, an, bn string) string {
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
				return fmt.Sprintf("%s appended %d to %s right after %s's %d (ww)", bn, c.appends[ks.version[p+1]].elem, ks.name, an, m.elem)
			}
		}
	case wr:
		for j := c.txns[b].first; j < c.txns[b].end; j++ {
			m := &c.mops[j]
			if m.kind != readMop || !m.external || m.n <= 0 {
				continue
			}
			ks := &c.keys[m.key]
			if last := c.appends[ks.version[m.n-1]]; last.txn == a {
				return fmt.Sprintf("%s read %s = %s, which ends with %s's append of %d (wr)", bn, ks.name, c.readValue(b, j), an, last.elem)
			}
		}
	case rw:
		for j := c.txns[a].first; j < c.txns[a].end; j++ {
			m := &c.mops[j]
			if m.kind != readMop || !m.external || m.n < 0 {
				continue
			}
			ks := &c.keys[m.key]
			if int(m.n) >= len(ks.version) {
				continue
			}
			if next := c.appends[ks.version[m.n]]; next.txn == b {
				if m.n == 0 {
					return fmt.Sprintf("%s read %s = [], and %s appended %d as its first element (rw)", an, ks.name, bn, next.elem)
				}
				return fmt.Sprintf("%s read %s = %s, and %s appended %d right after %d (rw)", an, ks.name, c.readValue(a, j), bn, next.elem, c.appends[ks.version[m.n-1]].elem)
			}
		}
	case rt:
		return fmt.Sprintf("%s completed (index %d) before %s was invoked (index %d) (realtime)", an, c.h[c.txns[a].complete].Index, bn, c.h[c.txns[b].invoke].Index)
	}
	panic(fmt.Sprintf("elle: no evidence for edge kind %d from txn %d to %d", kind, a, b))
}
