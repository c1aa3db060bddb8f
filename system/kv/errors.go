package kv

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/internal/rpcerr"
	"github.com/squall-chaos/squall/system/kv/kvpb"
)

// The error taxonomy. Every error the client library returns wraps exactly
// one of ErrDefinite and ErrIndeterminate; the harness records the first
// as a failed operation and the second as one of unknown outcome.
var (
	// ErrDefinite: the operation certainly did not take effect (refused by
	// a node that is not the leader, rejected as malformed or stale, lost
	// to a leader change before it committed, or never sent at all).
	ErrDefinite = errors.New("kv: operation failed")
	// ErrIndeterminate: the operation may or may not have taken effect: the
	// request was sent and no answer came (timeout, connection lost, node
	// stopped while the write was in the log).
	ErrIndeterminate = errors.New("kv: operation outcome unknown")
)

// State machine errors; definite.
var (
	// ErrStaleRequest: a write arrived with a sequence number older than the
	// session's last, so it is an old duplicate; it was not applied.
	ErrStaleRequest = errors.New("kv: stale request")
	// ErrSessionExpired: the client's session was evicted from the
	// deduplication table, so a retry can no longer be recognised; the
	// write was not applied and the client must start a new session.
	ErrSessionExpired = errors.New("kv: session expired")
	// ErrTimedOut: the server stopped waiting for the write's proposal
	// and declares that the write failed, definitely: the client does not
	// retry it. Only a node with the planted bug timeout-is-failure says
	// so, and wrongly, since the entry may still commit.
	ErrTimedOut = errors.New("kv: proposal timed out")
)

// serverError turns an error from raft or the state machine into a gRPC
// status whose code tells the client which side of the taxonomy it is on
// (see package rpcerr); stale requests and expired sessions are refusals.
func (s *Server) serverError(err error) error {
	return rpcerr.FromServer(err, "", func(leader uint64) rpcerr.NotLeaderDetail {
		detail := &kvpb.NotLeader{}
		if p, ok := s.peers[leader]; ok {
			detail.LeaderId, detail.LeaderAddr = p.Name, p.Addr
		}
		return detail
	}, ErrStaleRequest, ErrSessionExpired, ErrTimedOut)
}

// classify turns an RPC error into the taxonomy. sent says whether the
// request may have reached a node; if it cannot have, any failure is
// definite.
func classify(err error, sent bool) error {
	if rpcerr.Refused(err) {
		return fmt.Errorf("%w: %s", ErrDefinite, status.Convert(err).Message())
	}
	if !sent {
		return fmt.Errorf("%w: not sent: %v", ErrDefinite, err)
	}
	return fmt.Errorf("%w: %v", ErrIndeterminate, err)
}

// classifyLast turns the error that ended an operation after retries into
// the taxonomy. sent says whether any attempt may have reached a node: a
// later attempt's refusal (not the leader, an injected failure, a
// proposal lost to a leader change) says nothing of an earlier attempt,
// which may be in some node's log and still commit: the outcome is unknown.
func classifyLast(err error, sent bool) error {
	if sent {
		return fmt.Errorf("%w: %v", ErrIndeterminate, err)
	}
	return classify(err, false)
}
