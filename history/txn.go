package history

import "strconv"

// Txn is the value of a list-append transaction (f "txn") as ReadFile
// decodes it: the same micro-ops as the JSON list
//
//	[["append", "k3", 7], ["r", "k4", [1, 2]]]
//
// held compactly, since a history of a million transactions holds
// millions of them: no boxed micro-ops, no boxed elements. A value of
// another shape (a micro-op of another kind, a key that is no string, an
// element that is no integer) stays the generic []any, for its checker to
// name what is wrong with it. A Txn encodes as the JSON it was decoded
// from.
type Txn []MicroOp

// MicroOp is one micro-op of a Txn.
type MicroOp struct {
	// F is "append" or "r".
	F   string
	Key string
	// Elem is what an append appends.
	Elem int64
	// Read is the list a read saw; nil for null (an invoke's read).
	Read []int64
}

// MarshalJSON writes t as the list of micro-ops it stands for.
func (t Txn) MarshalJSON() ([]byte, error) { return t.appendJSON(nil), nil }

func (t Txn) appendJSON(b []byte) []byte {
	b = append(b, '[')
	for i, m := range t {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendString(b, m.F)
		b = append(b, ',')
		b = appendString(b, m.Key)
		b = append(b, ',')
		switch {
		case m.F == "append":
			b = strconv.AppendInt(b, m.Elem, 10)
		case m.Read == nil:
			b = append(b, "null"...)
		default:
			b = append(b, '[')
			for j, e := range m.Read {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, e, 10)
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// txnOf reads a generic txn value as a Txn, if it has that shape.
func txnOf(v any) (Txn, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	t := make(Txn, len(l))
	for i, e := range l {
		mop, ok := e.([]any)
		if !ok || len(mop) != 3 {
			return nil, false
		}
		f, okF := mop[0].(string)
		key, okKey := mop[1].(string)
		if !okF || !okKey {
			return nil, false
		}
		t[i] = MicroOp{F: f, Key: key}
		switch f {
		case "append":
			n, ok := mop[2].(int64)
			if !ok {
				return nil, false
			}
			t[i].Elem = n
		case "r":
			switch r := mop[2].(type) {
			case nil:
			case []int64:
				t[i].Read = r
			case []any:
				if len(r) > 0 {
					return nil, false
				}
				t[i].Read = []int64{}
			default:
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return t, true
}
