package etcd

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
)

// Failures a Store decides on itself, before or instead of a write; each is
// definite.
var (
	// ErrInsufficientFunds: a transfer would overdraw its source account,
	// so nothing was written.
	ErrInsufficientFunds = errors.New("etcd: insufficient funds")
	// ErrConflict: a transaction's guard failed because a key it read
	// changed before it committed; etcd applied none of its puts.
	ErrConflict = errors.New("etcd: conflict: a key the transaction read changed before it committed")
)

// notSent marks an error that ended an operation before its write was sent
// (a failed read phase, a malformed stored value, bad arguments).
type notSent struct{ err error }

func (e notSent) Error() string { return e.err.Error() }
func (e notSent) Unwrap() error { return e.err }

// beforeWrite wraps err, which ended an operation before any write was
// sent, so that Definite says so whatever err is: a read that timed out
// wrote nothing.
func beforeWrite(format string, args ...any) error {
	return notSent{fmt.Errorf(format, args...)}
}

// Definite reports whether the operation that returned err certainly did
// not take effect. nil took effect; anything Definite does not recognise
// is of unknown outcome.
//
// The taxonomy follows etcd's own robustness tests
// (tests/robustness/model/history.go, AppendableHistory.appendFailed):
// they record every failed Put or Txn as an operation that may or may not
// have been applied, with no return time, and only a watch that later
// sees (or never sees) its value settles it. A timeout, Unavailable
// ("leader changed", "no leader", "request timed out", "server stopped"),
// a lost connection or the caller's deadline all leave a proposal that may
// already sit in the raft log and commit later.
//
// Definite narrows that only where etcd's code shows nothing was proposed
// or applied:
//   - failures squall's Store decides itself: ErrInsufficientFunds,
//     ErrConflict (the guarded Txn came back Succeeded=false, which etcd
//     answers only after evaluating the guard against the applied state:
//     none of its puts ran), and any error from a read phase or from bad
//     arguments before the write was sent;
//   - etcd errors with code InvalidArgument (ErrEmptyKey, ErrTooManyOps,
//     ErrDuplicateKey, ErrRequestTooLarge, ...): the server's gRPC layer
//     checks the request, or the server checks its size, before proposing
//     it to raft;
//   - ErrTooManyRequests: refused before proposing, because the applied
//     index lags the committed one.
//
// Not definite, although it sounds like a refusal: ErrNoSpace
// (ResourceExhausted, like ErrTooManyRequests). The gRPC layer does refuse
// a request before proposing it once the NOSPACE alarm is raised, but
// etcd's quota applier (server/etcdserver/apply/quota.go) returns the same
// error for a put it has just applied when that put crossed the quota, and
// the client cannot tell the two apart.
//
// clientv3 retries a write only when no connection was available for it
// (isSafeRetryMutableRPC), so when a retried write fails, no earlier
// attempt of it was sent and the last error speaks for the whole call.
func Definite(err error) bool {
	if err == nil {
		return false
	}
	var ns notSent
	switch {
	case errors.As(err, &ns),
		errors.Is(err, ErrInsufficientFunds),
		errors.Is(err, ErrConflict),
		errors.Is(err, rpctypes.ErrTooManyRequests):
		return true
	}
	var server rpctypes.EtcdError
	if errors.As(err, &server) {
		return server.Code() == codes.InvalidArgument
	}
	return false
}
