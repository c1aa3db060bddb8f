package elle

import (
	"errors"
	"fmt"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
)

// status is what a transaction's completion says about it.
type status uint8

const (
	committed     status = iota // ok: it took effect, as shown
	indeterminate               // info, or never completed: its appends may or may not have happened
	aborted                     // fail: it certainly did not take effect
)

// txn is one list-append transaction. Its micro-ops are mops[first:end],
// in the order of its value.
type txn struct {
	first, end int32
	// invoke and complete are positions of its events in the history;
	// complete is -1 if it never completed.
	invoke, complete int32
	status           status
}

// event is the position of the event whose value the checker read: the
// completion of a committed txn, else its invoke.
func (t *txn) event() int32 {
	if t.status == committed {
		return t.complete
	}
	return t.invoke
}

// index is the event index that names t in anomalies: its completion's,
// or its invoke's if it never completed.
func (t *txn) index(h history.History) int64 {
	if t.complete >= 0 {
		return h[t.complete].Index
	}
	return h[t.invoke].Index
}

type mopKind uint8

const (
	appendMop mopKind = iota
	readMop
)

// mop is one micro-op, compactly: the elements a read saw stay in the
// history (see readList) and are not copied.
type mop struct {
	elem int64 // an append's element
	key  int32 // interned
	// n is the length of the list a committed txn's read saw; -1 if
	// unknown (the txn did not commit), -2 once the read turned out
	// incompatible with its key's version order.
	n int32
	// own is how many of a committed read's last elements are the txn's
	// own earlier appends to the key; the n-own before them are what
	// other txns committed (see committedLen).
	own  int32
	kind mopKind
	// external marks a committed read that comes before the txn's own
	// appends to its key and reads of it: the first look at what other
	// txns did, which lost updates are judged by.
	external bool
	// repeat marks a committed read whose committed part is what the
	// txn's previous read of the key saw: it adds no dependency.
	repeat bool
}

// committedLen is how much of the list the read m saw other txns
// committed: its length without the txn's own appends at its end.
func (m *mop) committedLen() int32 { return m.n - m.own }

const (
	unknownLength      = -1
	incompatibleLength = -2
)

// list is a list a read saw, as the history holds it: []any of integers
// (a history recorded in memory, or decoded by encoding/json), or []int64
// (read by history.ReadFile).
type list struct {
	anys []any
	ints []int64
}

func (l list) len() int {
	if l.ints != nil {
		return len(l.ints)
	}
	return len(l.anys)
}

// at is the i-th element; the list was checked (ops.DecodeTxn), so it is an
// integer.
func (l list) at(i int) int64 {
	if l.ints != nil {
		return l.ints[i]
	}
	e, _ := history.Int(l.anys[i])
	return e
}

// readList is the list the j-th micro-op of the event at pos read; the
// event was parsed, so the shape is known to be right.
func readList(h history.History, pos int32, j int) list {
	switch v := h[pos].Value.(type) {
	case history.Txn:
		return list{ints: v[j].Read}
	case []any:
		switch l := v[j].([]any)[2].(type) {
		case []int64:
			return list{ints: l}
		case []any:
			return list{anys: l}
		}
	}
	return list{}
}

// parseError names the event and micro-op a history cannot be read at.
type parseError struct {
	index int64
	mop   int // -1: the value as a whole
	msg   string
}

func (e *parseError) Error() string {
	if e.mop < 0 {
		return fmt.Sprintf("event %d: %s", e.index, e.msg)
	}
	return fmt.Sprintf("event %d: micro-op %d: %s", e.index, e.mop, e.msg)
}

// parseMops appends the micro-ops of a txn's value to mops. reads tells
// whether the value's reads carry what was read (a committed txn's
// completion); otherwise they are ignored.
func (c *checkState) parseMops(op *history.Op, reads bool) error {
	if t, ok := op.Value.(history.Txn); ok {
		c.appendMops(t, reads)
		return nil
	}
	t, err := ops.DecodeTxn(op.Value, reads)
	if err != nil {
		return &parseError{op.Index, -1, err.Error()}
	}
	c.appendMops(t, reads)
	return nil
}

// appendMops appends t's micro-ops to c.mops.
func (c *checkState) appendMops(t history.Txn, reads bool) {
	for j := range t {
		m := &t[j]
		mo := mop{key: c.intern(m.Key), n: unknownLength, kind: readMop}
		if m.F == "append" {
			mo.kind, mo.elem = appendMop, m.Elem
		} else if reads {
			mo.n = int32(len(m.Read))
		}
		c.mops = append(c.mops, mo)
	}
}

func (c *checkState) intern(key string) int32 {
	if k, ok := c.keyIDs[key]; ok {
		return k
	}
	k := int32(len(c.keys))
	c.keyIDs[key] = k
	c.keys = append(c.keys, keyState{name: key, longest: -1, firstAborted: -1})
	return k
}

// Fits checks that every client operation of h is a list-append
// transaction: f "txn", with micro-ops ["append", key, element] and ["r",
// key, list], the lists filled in on an ok completion. It names the
// first event that is not (a *history.EventError).
func Fits(h history.History) error {
	c := &checkState{h: h, keyIDs: make(map[string]int32)}
	for i := range h {
		op := &h[i]
		if op.Process == history.Nemesis {
			continue
		}
		if op.F != "txn" {
			return &history.EventError{Event: i, Msg: fmt.Sprintf("f %q is not a list-append operation (txn)", history.AbbreviateString(op.F))}
		}
		if op.Type != history.Invoke && op.Type != history.OK {
			continue
		}
		c.mops = c.mops[:0]
		if err := c.parseMops(op, op.Type == history.OK); err != nil {
			var pe *parseError
			if errors.As(err, &pe) {
				msg := pe.msg
				if pe.mop >= 0 {
					msg = fmt.Sprintf("micro-op %d: %s", pe.mop, pe.msg)
				}
				return &history.EventError{Event: i, Msg: msg}
			}
			return err
		}
	}
	return nil
}
