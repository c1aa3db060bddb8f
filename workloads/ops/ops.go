// Package ops is the operation vocabulary of squall's workloads: the typed
// form of each workload's operations and the one decoder of each, which
// the workload's generator, every system's client adapter and the
// workload's checker share, so that an operation is read the same way
// wherever it is read.
//
// A decoder takes a value as a workload makes it in memory or as it comes
// back from a history file (JSON numbers as int64, lists as []any), and
// its error says what was expected, naming the value abbreviated.
package ops

import (
	"errors"

	"github.com/squall-chaos/squall/history"
)

// Complete returns op's completion of type t with value and err.
func Complete(op history.Op, t history.Type, value any, err error) history.Op {
	c := history.Op{Type: t, Process: op.Process, F: op.F, Value: value}
	if err != nil {
		c.Error = err.Error()
	}
	return c
}

// ErrDefinite marks an error after which the operation certainly did not
// take effect: a client adapter wraps its system's definite failures in
// it, and Outcome completes such an operation fail, any other info.
var ErrDefinite = errors.New("definite failure")

// Definite marks err as a definite failure; its text stays err's.
func Definite(err error) error { return definite{err} }

type definite struct{ err error }

func (d definite) Error() string        { return d.err.Error() }
func (d definite) Unwrap() error        { return d.err }
func (d definite) Is(target error) bool { return target == ErrDefinite }

// Outcome completes a write-like op (one that may change the system) by
// its error: ok with value if err is nil, fail if err is a definite
// failure, info otherwise (it may have taken effect).
func Outcome(op history.Op, value any, err error) history.Op {
	switch {
	case err == nil:
		return Complete(op, history.OK, value, nil)
	case errors.Is(err, ErrDefinite):
		return Complete(op, history.Fail, op.Value, err)
	}
	return Complete(op, history.Info, op.Value, err)
}
