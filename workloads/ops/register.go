package ops

import (
	"fmt"

	"github.com/squall-chaos/squall/history"
)

// The register workload's operations, f and value:
//
//	read  ["r3", null]    ok ["r3", 5] (null if the key is absent)
//	write ["r3", 5]       ok ["r3", 5]
//	cas   ["r3", [4, 5]]  ok: it found 4 and wrote 5; fail: it did not

// RegisterFunc is a register operation's f.
type RegisterFunc uint8

const (
	Read RegisterFunc = iota
	Write
	CAS
)

func (f RegisterFunc) String() string {
	switch f {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "cas"
}

// Register is a register operation as invoked.
type Register struct {
	F   RegisterFunc
	Key string
	// Value is what a write writes, or what a cas writes.
	Value int64
	// Expected is what a cas must find.
	Expected int64
}

// Op is the operation's invoke.
func (r Register) Op() history.Op {
	var arg any
	switch r.F {
	case Write:
		arg = r.Value
	case CAS:
		arg = []any{r.Expected, r.Value}
	}
	return history.Op{Type: history.Invoke, F: r.F.String(), Value: []any{r.Key, arg}}
}

// ReadValue is the value of a read's completion: [key, value], or [key,
// null] if the key is absent.
func ReadValue(key string, value int64, found bool) any {
	if !found {
		return []any{key, nil}
	}
	return []any{key, value}
}

// DecodeRegister reads a register operation's f and value.
func DecodeRegister(op *history.Op) (Register, error) {
	var r Register
	switch op.F {
	case "read":
		r.F = Read
	case "write":
		r.F = Write
	case "cas":
		r.F = CAS
	default:
		return r, fmt.Errorf("f %q is not a register operation (read, write, cas)", history.AbbreviateString(op.F))
	}
	key, arg, err := keyAndArg(op)
	if err != nil {
		return Register{}, err
	}
	r.Key = key
	switch r.F {
	case Write:
		var ok bool
		if r.Value, ok = history.Int(arg); !ok {
			return r, fmt.Errorf("write of %s: want an integer", history.Abbreviate(arg))
		}
	case CAS:
		pair, ok := history.List(arg)
		if ok && len(pair) == 2 {
			var okExpected, okNew bool
			r.Expected, okExpected = history.Int(pair[0])
			r.Value, okNew = history.Int(pair[1])
			ok = okExpected && okNew
		}
		if !ok || len(pair) != 2 {
			return r, fmt.Errorf("cas argument %s: want [expected, new] integers", history.Abbreviate(arg))
		}
	}
	return r, nil
}

// DecodeReadResult reads what a read's completion says it read.
func DecodeReadResult(op *history.Op) (value int64, found bool, err error) {
	_, v, err := keyAndArg(op)
	if err != nil || v == nil {
		return 0, false, err
	}
	value, ok := history.Int(v)
	if !ok {
		return 0, false, fmt.Errorf("read returned %s: want an integer or null", history.Abbreviate(v))
	}
	return value, true, nil
}

// keyAndArg splits a register value [key, arg].
func keyAndArg(op *history.Op) (string, any, error) {
	l, ok := history.List(op.Value)
	if ok && len(l) == 2 {
		if key, isString := l[0].(string); isString {
			return key, l[1], nil
		}
	}
	return "", nil, fmt.Errorf("%s value %s: want [key, argument] with a string key", op.F, history.Abbreviate(op.Value))
}

// CASValueDiffers is the error of a cas that failed because the register
// held another value than the one it expected: the checker takes such a
// failure as evidence of the value the register held.
const CASValueDiffers = "cas: value differs"
