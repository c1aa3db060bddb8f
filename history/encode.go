package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// The recorder encodes every event while clients wait on it, so events
// are encoded by hand rather than by reflection: about four times faster.
// The output is byte for byte what encoding/json makes of an Op; values
// of kinds other than the common ones below, and strings that need
// escaping, are left to encoding/json.

// appendOp appends op's JSON object to b.
func appendOp(b []byte, op Op) ([]byte, error) {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, op.Index, 10)
	b = append(b, `,"type":`...)
	b = appendString(b, string(op.Type))
	b = append(b, `,"process":`...)
	if op.Process == Nemesis {
		b = append(b, `"nemesis"`...)
	} else {
		b = strconv.AppendInt(b, int64(op.Process), 10)
	}
	b = append(b, `,"f":`...)
	b = appendString(b, op.F)
	b = append(b, `,"value":`...)
	b, err := appendValue(b, op.Value)
	if err != nil {
		return b, err
	}
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, op.Time, 10)
	if op.Node != "" {
		b = append(b, `,"node":`...)
		b = appendString(b, op.Node)
	}
	if op.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, op.Error)
	}
	if op.StartTS != 0 {
		b = append(b, `,"start_ts":`...)
		b = strconv.AppendUint(b, op.StartTS, 10)
	}
	if op.CommitTS != 0 {
		b = append(b, `,"commit_ts":`...)
		b = strconv.AppendUint(b, op.CommitTS, 10)
	}
	return append(b, '}'), nil
}

// appendValue appends the JSON of an operation's value: by hand for the
// shapes workloads use (integers, strings, lists of them), by
// encoding/json for anything else.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case Txn:
		return v.appendJSON(b), nil
	case []int64:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, e, 10)
		}
		return append(b, ']'), nil
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}

// appendString appends s as a JSON string, escaping as encoding/json
// does.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// WriteFile creates path and writes h to it as JSON lines.
func WriteFile(path string, h History) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = Write(w, h)
	if err == nil {
		err = w.Flush()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("write history %s: %w", path, err)
	}
	return nil
}
