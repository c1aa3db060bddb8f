package checker

import (
	"fmt"
	"hash/maphash"

	"github.com/anishathalye/porcupine"

	"github.com/squall-chaos/squall/history"
)

// KVModel is a map of independent string values, keyed by string, each
// starting empty: porcupine's kv model, the one many lab test suites log.
// Its operations are
//
//	get    invoke ["k1", null]   ok ["k1", "abc"] (null or "" if absent)
//	put    invoke ["k1", "abc"]  ok: the value is "abc"
//	append invoke ["k1", "de"]   ok: the value is what it was, then "de"
//
// Failed operations did not happen; gets that ended info changed nothing
// and are left out; puts and appends that ended info may have taken
// effect at any time after their invoke. Operations are partitioned by
// key.
var KVModel = Model{
	Name:       "key-value map",
	Operations: kvOperations,
	Porcupine: porcupine.Model{
		Partition:                 partitionByKey,
		Init:                      func() any { return "" },
		Step:                      kvStep,
		Hash:                      hashKV,
		DescribeOperation:         describeKVOp,
		DescribeState:             func(s any) string { return history.QuoteString(s.(string)) },
		DescribeOperationMetadata: describeOpMeta,
	},
}

type kvFunc uint8

const (
	kvGet kvFunc = iota
	kvPut
	kvAppend
)

type kvInput struct {
	f     kvFunc
	key   string
	value string // what a put or append writes
}

type kvOutput struct {
	value   string // what a get returned
	unknown bool   // the operation ended info
}

func kvStep(state, input, output any) (bool, any) {
	s, in, out := state.(string), input.(kvInput), output.(kvOutput)
	switch in.f {
	case kvGet:
		return out.value == s, s
	case kvPut:
		return true, in.value
	default:
		return true, s + in.value
	}
}

var kvSeed = maphash.MakeSeed()

func hashKV(state any) uint64 { return maphash.String(kvSeed, state.(string)) }

func describeKVOp(input, output any) string {
	in, out := input.(kvInput), output.(kvOutput)
	var s string
	switch in.f {
	case kvGet:
		s = "get -> " + history.QuoteString(out.value)
	case kvPut:
		s = "put " + history.QuoteString(in.value)
	default:
		s = "append " + history.QuoteString(in.value)
	}
	if out.unknown {
		s += " (info)"
	}
	return s
}

// kvOperations turns the client operations of h into porcupine's (see
// KVModel).
func kvOperations(h history.History) ([]porcupine.Operation, error) {
	return operations(h, func(p history.Pair, unknown bool) (modelOp, bool, error) {
		in, err := decodeKVInput(p.Invoke)
		done := p.Completion
		if err != nil || done != nil && done.Type == history.Fail || unknown && in.f == kvGet {
			return modelOp{}, false, err
		}
		out := kvOutput{unknown: unknown}
		if in.f == kvGet {
			if _, out.value, err = kvKeyAndString(done, true); err != nil {
				return modelOp{}, false, err
			}
		}
		return modelOp{in: in, out: out, key: in.key}, true, nil
	})
}

func decodeKVInput(op *history.Op) (kvInput, error) {
	var in kvInput
	switch op.F {
	case "get":
		in.f = kvGet
	case "put":
		in.f = kvPut
	case "append":
		in.f = kvAppend
	default:
		return in, eventError(op, "f %q is not a key-value operation (get, put, append)", history.AbbreviateString(op.F))
	}
	var err error
	in.key, in.value, err = kvKeyAndString(op, in.f == kvGet)
	return in, err
}

// kvKeyAndString splits a value [key, string]; with orNull, the string
// may be null (a get's invoke, or its result for an absent key), read as
// "".
func kvKeyAndString(op *history.Op, orNull bool) (string, string, error) {
	l, ok := history.List(op.Value)
	if ok && len(l) == 2 {
		key, isString := l[0].(string)
		v, isValue := l[1].(string)
		if l[1] == nil && orNull {
			isValue = true
		}
		if isString && isValue {
			return key, v, nil
		}
	}
	want := "[key, string]"
	if orNull {
		want = "[key, string or null]"
	}
	return "", "", eventError(op, "%s value %s: want %s with a string key", op.F, history.Abbreviate(op.Value), want)
}

// eventError is an error about event op, naming it by index.
func eventError(op *history.Op, format string, args ...any) error {
	return &history.EventError{Event: int(op.Index), Msg: fmt.Sprintf(format, args...)}
}
