package checker

import (
	"strconv"

	"github.com/anishathalye/porcupine"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
)

// RegisterModel is a map of independent integer registers, keyed by
// string, each starting absent. The register workload's operations are
//
//	read  invoke ["r3", null]    ok ["r3", 5] (null if the key is absent)
//	write invoke ["r3", 5]       ok ["r3", 5]
//	cas   invoke ["r3", [4, 5]]  ok: it found 4 and wrote 5;
//	                             fail: it found something else
//
// A cas that failed because it found another value is evidence, as in
// porcupine's etcd model: at some moment between its invoke and its
// completion the register did not hold the value it expected. A cas
// failed that way when its completion is fail with no error, or with the
// error ops.CASValueDiffers (what squall's clients record); a cas that failed
// with any other error (a conflict, no leader) may never have looked, and
// is left out, like every other failed operation.
//
// Operations are partitioned by key, so porcupine checks each register on
// its own.
var RegisterModel = Model{
	Name:       "register",
	Operations: registerOperations,
	Porcupine: porcupine.Model{
		Partition:                 partitionByKey,
		Init:                      func() any { return registerState{} },
		Step:                      registerStep,
		Hash:                      hashRegister,
		DescribeOperation:         describeRegisterOp,
		DescribeState:             func(s any) string { return s.(registerState).String() },
		DescribeOperationMetadata: describeOpMeta,
	},
}

type registerFunc uint8

const (
	registerRead registerFunc = iota
	registerWrite
	registerCAS
)

// registerInput is what an operation asked for.
type registerInput struct {
	f   registerFunc
	key string
	// arg is the value a write writes, or the value a cas writes.
	arg int64
	// expected is the value a cas must find.
	expected int64
}

// registerOutput is what an operation saw.
type registerOutput struct {
	// value is what a read returned; present is false for null.
	value   int64
	present bool
	// unknown marks an operation that ended info: whether and when it took
	// effect is unknown.
	unknown bool
	// differed marks a cas that failed because it found another value.
	differed bool
}

// registerState is one register's value; the zero value is absent.
type registerState struct {
	value   int64
	present bool
}

func (s registerState) String() string {
	if !s.present {
		return "null"
	}
	return strconv.FormatInt(s.value, 10)
}

func registerStep(state, input, output any) (bool, any) {
	s, in, out := state.(registerState), input.(registerInput), output.(registerOutput)
	switch in.f {
	case registerRead:
		return s == registerState{value: out.value, present: out.present}, s
	case registerWrite:
		return true, registerState{value: in.arg, present: true}
	default: // registerCAS
		found := s == registerState{value: in.expected, present: true}
		if out.differed {
			return !found, s
		}
		if found {
			return true, registerState{value: in.arg, present: true}
		}
		// A cas that ended info and did not find its value is a cas
		// that failed: legal, and no change. (One that never ran at all
		// is linearized after everything else, where it changes nothing
		// anyone saw.) A cas that ended ok must have found its value.
		return out.unknown, s
	}
}

func hashRegister(state any) uint64 {
	s := state.(registerState)
	h := uint64(s.value) * 0x9e3779b97f4a7c15
	if s.present {
		h ^= 1
	}
	return h
}

func describeRegisterOp(input, output any) string {
	in, out := input.(registerInput), output.(registerOutput)
	var s string
	switch in.f {
	case registerRead:
		s = "read -> " + registerState{value: out.value, present: out.present}.String()
	case registerWrite:
		s = "write " + strconv.FormatInt(in.arg, 10)
	default:
		s = "cas " + strconv.FormatInt(in.expected, 10) + "->" + strconv.FormatInt(in.arg, 10)
	}
	if out.differed {
		s += " (failed: found another value)"
	}
	if out.unknown {
		s += " (info)"
	}
	return s
}

// registerOperations turns the client operations of h into porcupine's.
// Failed operations did not happen and are left out, except a cas that
// failed because it found another value (see RegisterModel), as are reads
// that ended info (they changed nothing). Writes and cas operations that
// ended info, or never ended, may have taken effect at any time after
// their invoke: they return at infinity, which is after every other
// event.
func registerOperations(h history.History) ([]porcupine.Operation, error) {
	ops, err := operations(h, func(p history.Pair, unknown bool) (modelOp, bool, error) {
		inv, done := p.Invoke, p.Completion
		in, err := decodeRegisterInput(inv)
		if err != nil {
			return modelOp{}, false, err
		}
		differed := done != nil && done.Type == history.Fail && in.f == registerCAS && casDiffered(done)
		if done != nil && done.Type == history.Fail && !differed || unknown && in.f == registerRead {
			return modelOp{}, false, nil
		}
		out := registerOutput{unknown: unknown, differed: differed}
		if in.f == registerRead {
			if out.value, out.present, err = decodeReadResult(done); err != nil {
				return modelOp{}, false, err
			}
		}
		return modelOp{in: in, out: out, key: in.key}, true, nil
	})
	if err != nil {
		return nil, err
	}
	return boundUnknownWrites(ops), nil
}

// boundUnknownWrites spares porcupine most of the cost of writes (and cas
// operations) that ended info, each of which it would otherwise try at
// every point after its invoke. Both steps keep the history's verdict:
//
//   - One whose value nobody read or expected changed nothing anyone
//     saw: if it took effect, whatever happened until the next write is
//     the same as if it had not (an info cas that would now find its
//     value can take effect at the end instead). It is left out, unless
//     a cas of its key failed because it found another value, which may
//     have been the one it wrote.
//   - One whose value was read (or found by a cas) that ended ok must
//     have taken effect before that read returned, if it is the only
//     operation that wrote the value: that return bounds it.
func boundUnknownWrites(ops []porcupine.Operation) []porcupine.Operation {
	type keyValue struct {
		key   string
		value int64
	}
	writers := make(map[keyValue]int)
	expected := make(map[keyValue]bool) // read, or expected by a cas
	// A cas that found another value saw the register hold something
	// else than what it expected: whatever an unknown write of the key
	// wrote may have been that.
	sawOther := make(map[string]bool)
	seenBy := make(map[keyValue]int64) // the earliest return of an ok op that saw it
	saw := func(kv keyValue, ret int64, definite bool) {
		expected[kv] = true
		if definite {
			if r, ok := seenBy[kv]; !ok || ret < r {
				seenBy[kv] = ret
			}
		}
	}
	for _, op := range ops {
		in, out := op.Input.(registerInput), op.Output.(registerOutput)
		switch in.f {
		case registerRead:
			if out.present {
				saw(keyValue{in.key, out.value}, op.Return, true)
			}
		case registerWrite:
			writers[keyValue{in.key, in.arg}]++
		case registerCAS:
			if out.differed {
				sawOther[in.key] = true
				continue
			}
			writers[keyValue{in.key, in.arg}]++
			saw(keyValue{in.key, in.expected}, op.Return, !out.unknown)
		}
	}
	kept := ops[:0]
	for _, op := range ops {
		in, out := op.Input.(registerInput), op.Output.(registerOutput)
		if out.unknown && in.f != registerRead {
			kv := keyValue{in.key, in.arg}
			if !expected[kv] && !sawOther[in.key] {
				continue
			}
			if ret, ok := seenBy[kv]; ok && writers[kv] == 1 {
				op.Return = max(ret, op.Call)
			}
		}
		kept = append(kept, op)
	}
	return kept
}

// casDiffered reports whether a failed cas's completion says it failed
// because the register held another value.
func casDiffered(done *history.Op) bool {
	return done.Error == "" || done.Error == ops.CASValueDiffers
}

// decodeRegisterInput reads what op asked for, through the workload's
// decoder.
func decodeRegisterInput(op *history.Op) (registerInput, error) {
	r, err := ops.DecodeRegister(op)
	if err != nil {
		return registerInput{}, eventError(op, "%v", err)
	}
	in := registerInput{key: r.Key, arg: r.Value, expected: r.Expected}
	switch r.F {
	case ops.Read:
		in.f = registerRead
	case ops.Write:
		in.f = registerWrite
	default:
		in.f = registerCAS
	}
	return in, nil
}

func decodeReadResult(op *history.Op) (value int64, present bool, err error) {
	value, present, err = ops.DecodeReadResult(op)
	if err != nil {
		return 0, false, eventError(op, "%v", err)
	}
	return value, present, nil
}
