package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"

	"olympos.io/encoding/edn"
)

// Jepsen writes a test's history as history.edn, one operation per line,
// an EDN map such as
//
//	{:type :invoke, :f :txn, :value [[:append 3 1] [:r 4 nil]], :time 123, :process 0, :index 5}
//	#jepsen.history.Op{:index 6, :type :info, :process :nemesis, :f :start-partition, :value {"n1" #{"n2"}}}
//
// squall reads it into the same events as its own histories:
//
//   - :index, :type, :process (an integer, or :nemesis), :f, :value,
//     :time, :node and :error become the Op's fields; other keys (such
//     as :final) are ignored. An operation without :index takes its
//     position; one without :time, its index (so real-time order is
//     still index order).
//   - keywords and symbols become strings without the colon, maps
//     become JSON objects (their keys written out the same way),
//     vectors, lists and sets become lists, a tagged value its value.
//   - the workloads' shapes are then translated to squall's (see
//     fromJepsen): keys of list-append micro-ops and registers become
//     strings, and a register without keys becomes the key
//     SingleRegister.
//
// Each line is read with olympos.io/encoding/edn.

// SingleRegister is the key given to the operations of a history of one
// register, whose values name no key: Jepsen's register tests without
// independent keys record a read as null then the value read, a write as
// the value, a cas as [expected, new].
const SingleRegister = "register"

// decodeEDN decodes one line of history.edn.
func decodeEDN(line []byte) (Op, error) {
	dec := edn.NewDecoder(bytes.NewReader(line))
	var v any
	if err := dec.Decode(&v); err != nil {
		if ednCutShort(line) {
			return Op{}, fmt.Errorf("bad event %s: %w", abbreviateLine(line), errCutShort)
		}
		return Op{}, fmt.Errorf("bad event %s: %v", abbreviateLine(line), err)
	}
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return Op{}, fmt.Errorf("bad event %s: more than one value on the line", abbreviateLine(line))
	}
	op, err := ednOp(v)
	if err != nil {
		return Op{}, fmt.Errorf("bad event %s: %v", abbreviateLine(line), err)
	}
	return op, nil
}

// ednOp reads an operation's map.
func ednOp(v any) (Op, error) {
	if tag, ok := v.(edn.Tag); ok {
		v = tag.Value
	}
	m, ok := v.(map[any]any)
	if !ok {
		return Op{}, fmt.Errorf("want a map of an operation, like {:type :invoke, :f :read, ...}")
	}
	op := Op{Index: -1, Time: -1}
	for k, x := range m {
		kw, ok := k.(edn.Keyword)
		if !ok {
			continue
		}
		var err error
		switch kw {
		case "index":
			op.Index, err = ednInt(x, ":index")
		case "time":
			op.Time, err = ednInt(x, ":time")
		case "type":
			op.Type = Type(ednName(x))
		case "f":
			op.F = ednName(x)
		case "process":
			op.Process, err = ednProcess(x)
		case "value":
			op.Value = fromEDN(x)
		case "node":
			op.Node = ednText(x)
		case "error":
			op.Error = ednText(x)
		}
		if err != nil {
			return Op{}, err
		}
	}
	if _, ok := m[edn.Keyword("process")]; !ok {
		return Op{}, errors.New("no :process")
	}
	if op.F == "" {
		return Op{}, errors.New("no :f")
	}
	if !op.Type.valid() {
		return Op{}, fmt.Errorf(":type %q, want :invoke, :ok, :fail or :info", op.Type)
	}
	return op, nil
}

func ednInt(x any, name string) (int64, error) {
	if n, ok := x.(int64); ok && n >= 0 {
		return n, nil
	}
	return 0, fmt.Errorf("%s %v: want a non-negative integer", name, x)
}

func ednProcess(x any) (Process, error) {
	switch p := x.(type) {
	case int64:
		if p >= 0 {
			return Process(p), nil
		}
	case edn.Keyword:
		if p == "nemesis" {
			return Nemesis, nil
		}
	case string:
		if p == "nemesis" {
			return Nemesis, nil
		}
	}
	return 0, fmt.Errorf(":process %v: want a non-negative integer or :nemesis", x)
}

// ednName is a keyword's, symbol's or string's name ("" for anything
// else).
func ednName(x any) string {
	switch s := x.(type) {
	case edn.Keyword:
		return string(s)
	case edn.Symbol:
		return string(s)
	case string:
		return s
	}
	return ""
}

// ednText writes any value as text: names as they are, anything else as
// fmt does.
func ednText(x any) string {
	if s := ednName(x); s != "" {
		return s
	}
	if x == nil {
		return ""
	}
	return fmt.Sprint(fromEDN(x))
}

// fromEDN turns a decoded EDN value into the values JSON-lines histories
// hold (see the comment at the top of this file).
func fromEDN(x any) any {
	switch v := x.(type) {
	case nil, bool, int64, float64, string:
		return v
	case edn.Keyword:
		return string(v)
	case edn.Symbol:
		return string(v)
	case rune: // a character literal
		return string(v)
	case edn.Tag:
		return fromEDN(v.Value)
	case *big.Int:
		if v.IsInt64() {
			return v.Int64()
		}
		return json.Number(v.String())
	case *big.Float:
		f, _ := v.Float64()
		return f
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = fromEDN(e)
		}
		if n, ok := intsOf(l); ok {
			return n
		}
		return l
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[ednKey(k)] = fromEDN(e)
		}
		return m
	case map[any]bool: // a set
		l := make([]any, 0, len(v))
		for e := range v {
			l = append(l, fromEDN(e))
		}
		slices.SortFunc(l, func(a, b any) int {
			return compareText(fmt.Sprint(a), fmt.Sprint(b))
		})
		return l
	}
	return fmt.Sprint(x)
}

// intsOf reads a non-empty list of int64s as an []int64, as both
// readers hold lists of integers.
func intsOf(l []any) ([]int64, bool) {
	if len(l) == 0 {
		return nil, false
	}
	n := make([]int64, len(l))
	for i, e := range l {
		x, ok := e.(int64)
		if !ok {
			return nil, false
		}
		n[i] = x
	}
	return n, true
}

func compareText(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ednKey writes a map key or a workload's key as a string: a keyword's or
// symbol's name, an integer in decimal.
func ednKey(k any) string {
	switch v := k.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		return "nil"
	}
	if s := ednName(k); s != "" {
		return s
	}
	return fmt.Sprint(fromEDN(k))
}

// ednCutShort reports whether an EDN line ends inside a string or an open
// map, vector, list or set: a line whose writer stopped in the middle.
func ednCutShort(line []byte) bool {
	depth, inString := 0, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inString && c == '\\':
			i++
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '\\': // a character literal: \a, \newline
			i++
		case c == ';':
			return depth > 0
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		}
	}
	return inString || depth > 0
}

// fromJepsen translates the shapes of Jepsen's workloads into squall's,
// so squall's checkers read them:
//
//   - list-append ("txn"): each micro-op's key becomes a string
//     ([:append 3 1] is ["append", "3", 1]).
//   - register (read, write, cas, unless the history is a bank's, which
//     has transfers): a value [k v] of jepsen.independent becomes ["k",
//     v]; a value without a key becomes [SingleRegister, v] (a cas's
//     [expected, new] becomes [SingleRegister, [expected, new]]).
//   - bank: a transfer's accounts become strings ({:from 1, :to 2,
//     :amount 5} is {"from": "1", "to": "2", "amount": 5}); a read's
//     balances are a map, whose keys are strings already.
func fromJepsen(h History) {
	bank := slices.ContainsFunc(h, func(op Op) bool { return op.F == "transfer" && op.Process != Nemesis })
	for i := range h {
		op := &h[i]
		if op.Process == Nemesis {
			continue
		}
		switch {
		case op.F == "txn":
			if mops, ok := op.Value.([]any); ok {
				for _, m := range mops {
					if mop, ok := m.([]any); ok && len(mop) == 3 {
						mop[1] = jepsenKey(mop[1])
					}
				}
			}
		case op.F == "transfer":
			if t, ok := op.Value.(map[string]any); ok {
				for _, k := range []string{"from", "to"} {
					if a, ok := t[k]; ok {
						t[k] = jepsenKey(a)
					}
				}
			}
		case !bank && (op.F == "read" || op.F == "write" || op.F == "cas"):
			op.Value = registerValue(op.F, op.Value)
		}
	}
}

// jepsenKey writes a key as squall's checkers want it: a string.
func jepsenKey(k any) any {
	switch v := k.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case json.Number:
		return string(v)
	}
	return k
}

// registerValue translates a register operation's value (see fromJepsen).
func registerValue(f string, v any) any {
	pair, isPair := asPair(v)
	keyed := isPair
	if f == "cas" && isPair {
		_, keyed = asPair(pair[1])
	}
	if !keyed {
		return []any{SingleRegister, v}
	}
	return []any{jepsenKey(pair[0]), pair[1]}
}

// asPair reads a list of two.
func asPair(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, len(l) == 2
	case []int64:
		if len(l) == 2 {
			return []any{l[0], l[1]}, true
		}
	}
	return nil, false
}
