package ops

import (
	"errors"
	"fmt"

	"github.com/squall-chaos/squall/history"
)

// The append workload's operations: f "txn", value a list of micro-ops,
//
//	[["append", "k3", 7], ["r", "k4", null]]
//
// completing ok with the reads filled in: ["r", "k4", [1, 2]]. Its typed
// form is history.Txn, the form a history file is read into.

// TxnRequest reads the micro-ops an append client is asked to run: op
// must be a txn of at least one micro-op.
func TxnRequest(op history.Op) (history.Txn, error) {
	if op.F != "txn" {
		return nil, fmt.Errorf("append: unknown f %q", op.F)
	}
	t, err := DecodeTxn(op.Value, false)
	if err == nil && len(t) == 0 {
		err = errors.New("txn of no micro-ops")
	}
	return t, err
}

// DecodeTxn reads a txn's micro-ops. reads tells whether its reads carry
// what was read (an ok completion); otherwise they are left nil.
func DecodeTxn(v any, reads bool) (history.Txn, error) {
	if t, ok := v.(history.Txn); ok {
		return t, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("txn value %s: want a list of micro-ops", history.Abbreviate(v))
	}
	t := make(history.Txn, len(list))
	for i, e := range list {
		m, ok := e.([]any)
		if !ok || len(m) != 3 {
			return nil, fmt.Errorf("micro-op %d: %s: want [\"append\", key, element] or [\"r\", key, list]", i, history.Abbreviate(e))
		}
		f, _ := m[0].(string)
		key, ok := m[1].(string)
		if !ok {
			return nil, fmt.Errorf("micro-op %d: %s: key %s is not a string", i, history.Abbreviate(e), history.Abbreviate(m[1]))
		}
		t[i] = history.MicroOp{F: f, Key: key}
		switch f {
		case "append":
			if t[i].Elem, ok = history.Int(m[2]); !ok {
				return nil, fmt.Errorf("micro-op %d: %s: element %s is not an integer", i, history.Abbreviate(e), history.Abbreviate(m[2]))
			}
		case "r":
			if reads {
				list, err := readList(m[2])
				if err != nil {
					return nil, fmt.Errorf("micro-op %d: %s: %v", i, history.Abbreviate(e), err)
				}
				t[i].Read = list
			}
		default:
			return nil, fmt.Errorf("micro-op %d: %s: function %s, want \"append\" or \"r\"", i, history.Abbreviate(e), history.Abbreviate(m[0]))
		}
	}
	return t, nil
}

// readList reads what a read saw: null (nothing) or a list of integers.
func readList(v any) ([]int64, error) {
	switch l := v.(type) {
	case nil:
		return []int64{}, nil
	case []int64:
		return l, nil
	case []any:
		list := make([]int64, len(l))
		for i, e := range l {
			n, ok := history.Int(e)
			if !ok {
				return nil, fmt.Errorf("read element %s is not an integer", history.Abbreviate(e))
			}
			list[i] = n
		}
		return list, nil
	}
	return nil, fmt.Errorf("read %s: want a list of integers or null", history.Abbreviate(v))
}
