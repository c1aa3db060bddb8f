package percolator

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/internal/rpcerr"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

// The client's error taxonomy. Every error a Txn returns wraps exactly one
// of ErrDefinite and ErrIndeterminate; the harness records the first as a
// failed transaction and the second as one of unknown outcome.
//
// A transaction commits at one moment: when its primary key's commit is
// applied. Until the client sends that commit, every failure is definite:
// a prewrite that went astray leaves at most locks, which the client or a
// later reader rolls back. Once the primary's commit was sent, a failure
// without an answer (a timeout, a lost connection, a node that stopped) is
// indeterminate: the commit may be in a Raft log and take effect.
var (
	// ErrDefinite: the transaction certainly did not commit. Reads that
	// fail also wrap it: the caller abandons the transaction, which then
	// has written nothing.
	ErrDefinite = errors.New("percolator: transaction did not commit")
	// ErrIndeterminate: the transaction may or may not have committed: its
	// primary's commit was sent and no answer came.
	ErrIndeterminate = errors.New("percolator: transaction outcome unknown")
	// ErrConflict: the transaction did not commit because another one
	// wrote one of its keys after it started, or holds a lock on one; a
	// retry with a new start timestamp may succeed. It wraps ErrDefinite.
	ErrConflict = fmt.Errorf("%w: conflict", ErrDefinite)
)

// errTxnDone is returned by the operations of a Txn that has already
// committed or failed.
var errTxnDone = fmt.Errorf("%w: transaction already finished", ErrDefinite)

// keyErrorText describes a KeyError for an error message.
func keyErrorText(ke *pb.KeyError) string {
	switch {
	case ke.GetLocked() != nil:
		l := ke.GetLocked()
		return fmt.Sprintf("key %q locked by transaction %d (primary %q)", l.Key, l.StartTs, l.Primary)
	case ke.GetConflict() != nil:
		c := ke.GetConflict()
		if c.ConflictCommitTs == 0 {
			return fmt.Sprintf("key %q: transaction %d was rolled back", c.Key, c.StartTs)
		}
		return fmt.Sprintf("key %q: write committed at %d after start %d", c.Key, c.ConflictCommitTs, c.StartTs)
	case ke.GetTxnLockNotFound():
		return "the transaction's lock is gone (rolled back)"
	case ke.GetCommittedTs() != 0:
		return fmt.Sprintf("committed at %d", ke.CommittedTs)
	}
	return ke.GetMessage()
}

// classifyLast turns the error that ended an RPC after retries into the
// taxonomy. sent says whether any attempt may have reached a node and
// taken effect: a later attempt's refusal says nothing of an earlier one,
// which may be in some node's log and still apply. If none can have, any
// failure is definite.
func classifyLast(err error, sent bool) error {
	switch {
	case sent:
		return fmt.Errorf("%w: %v", ErrIndeterminate, err)
	case rpcerr.Refused(err):
		return fmt.Errorf("%w: %s", ErrDefinite, status.Convert(err).Message())
	}
	return fmt.Errorf("%w: not sent: %v", ErrDefinite, err)
}

// isFinal reports whether a refusal is one a retry cannot fix: a malformed
// request, or an Aborted one for a reason other than a leader change (an
// injected failure).
func isFinal(err error) bool {
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument:
		return true
	case codes.Aborted:
		return strings.Contains(st.Message(), "injected")
	}
	return false
}

// maySent reports whether a failed RPC may have reached a node and taken
// effect. Refusals had no effect; gRPC fails an RPC with "connection
// error" when it had no connection to send it on.
func maySent(err error) bool {
	if rpcerr.Refused(err) {
		return false
	}
	st := status.Convert(err)
	return !(st.Code() == codes.Unavailable && strings.HasPrefix(st.Message(), "connection error"))
}
