package history

import (
	"bytes"
	"encoding/json"
)

// List reads a JSON array as decoded ([]any), or any other Go value
// that encodes as one (a workload's own slice type, in a history that
// was recorded in memory rather than read back).
func List(v any) ([]any, bool) {
	switch l := v.(type) {
	case nil, string, int64, int:
		return nil, false
	case []any:
		return l, true
	case []int64:
		list := make([]any, len(l))
		for i, e := range l {
			list[i] = e
		}
		return list, true
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) == 0 || b[0] != '[' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var l []any
	if err := dec.Decode(&l); err != nil {
		return nil, false
	}
	return l, true
}
