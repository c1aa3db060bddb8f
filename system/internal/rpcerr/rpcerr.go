// Package rpcerr carries the errors of a service on squall's Raft across
// gRPC, the same way for every system: the status code a server picks says
// on which side of the definite/indeterminate line a failure falls, and a
// client reads it back from the code. kv and percolator each keep their own
// taxonomy (ErrDefinite, ErrIndeterminate) on top of it.
//
// The codes:
//
//   - FailedPrecondition: this node does not lead the group; a detail of the
//     system's NotLeader message names the leader if it is known. Definite.
//   - Aborted: refused, or lost to a leader change before it committed (or
//     an error the system names, such as a stale request). Definite.
//   - InvalidArgument, NotFound: a malformed request. Definite.
//   - DeadlineExceeded, Canceled: the request's context ended. Unknown.
//   - Unavailable: anything else. Unknown.
package rpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/squall-chaos/squall/system/raft"
)

// NotLeaderDetail is a system's NotLeader message, attached to a
// FailedPrecondition status to name the leader.
type NotLeaderDetail interface {
	protoadapt.MessageV1
	GetLeaderId() string
}

// FromServer turns err, from Raft or a state machine, into a gRPC status
// error with the code listed in the package comment. prefix, if not empty,
// begins the message (a Percolator node names the group). notLeader makes
// the detail for a not-the-leader refusal from the leader's Raft id (0 if
// unknown); aborted lists the system's own errors that mean "refused".
func FromServer(err error, prefix string, notLeader func(leader uint64) NotLeaderDetail, aborted ...error) error {
	msg := err.Error()
	if prefix != "" {
		msg = prefix + ": " + msg
	}
	var nle *raft.NotLeaderError
	switch {
	case errors.As(err, &nle):
		st := status.New(codes.FailedPrecondition, msg)
		if withDetail, derr := st.WithDetails(notLeader(nle.Leader)); derr == nil {
			st = withDetail
		}
		return st.Err()
	case errors.Is(err, raft.ErrProposalLost), errors.Is(err, raft.ErrReadTimeout), isAny(err, aborted):
		return status.Error(codes.Aborted, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, msg)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, msg)
	}
	return status.Error(codes.Unavailable, msg)
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// Refused reports whether err is a refusal, which had no effect:
// FailedPrecondition, Aborted, InvalidArgument or NotFound.
func Refused(err error) bool {
	switch status.Code(err) {
	case codes.FailedPrecondition, codes.Aborted, codes.InvalidArgument, codes.NotFound:
		return true
	}
	return false
}

// LeaderHint returns the leader that a not-the-leader refusal names, if it
// names one; notLeader says whether err is such a refusal at all.
func LeaderHint(err error) (leader string, notLeader bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return "", false
	}
	for _, d := range st.Details() {
		if nl, ok := d.(interface{ GetLeaderId() string }); ok {
			return nl.GetLeaderId(), true
		}
	}
	return "", true
}
