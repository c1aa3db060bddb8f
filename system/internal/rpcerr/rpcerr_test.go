package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/system/raft"
)

var errStale = errors.New("stale request")

func notLeader(leader uint64) NotLeaderDetail {
	return &kvpb.NotLeader{LeaderId: fmt.Sprintf("n%d", leader)}
}

func TestFromServerCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{&raft.NotLeaderError{Leader: 2}, codes.FailedPrecondition},
		{fmt.Errorf("propose: %w", raft.ErrProposalLost), codes.Aborted},
		{raft.ErrReadTimeout, codes.Aborted},
		{fmt.Errorf("apply: %w", errStale), codes.Aborted},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{errors.New("disk on fire"), codes.Unavailable},
	} {
		got := FromServer(tc.err, "group 3", notLeader, errStale)
		st := status.Convert(got)
		if st.Code() != tc.want {
			t.Errorf("FromServer(%v) code %v, want %v", tc.err, st.Code(), tc.want)
		}
		if want := "group 3: " + tc.err.Error(); st.Message() != want {
			t.Errorf("FromServer(%v) message %q, want %q", tc.err, st.Message(), want)
		}
		if Refused(got) != (tc.want == codes.FailedPrecondition || tc.want == codes.Aborted) {
			t.Errorf("Refused(FromServer(%v)) = %v", tc.err, Refused(got))
		}
	}
	if got := status.Convert(FromServer(errors.New("x"), "", notLeader)).Message(); got != "x" {
		t.Errorf("message without a prefix %q, want %q", got, "x")
	}
}

func TestLeaderHintRoundTrip(t *testing.T) {
	leader, ok := LeaderHint(FromServer(&raft.NotLeaderError{Leader: 2}, "", notLeader))
	if !ok || leader != "n2" {
		t.Errorf("LeaderHint = %q, %v; want n2, true", leader, ok)
	}
	if leader, ok := LeaderHint(status.Error(codes.FailedPrecondition, "no leader yet")); !ok || leader != "" {
		t.Errorf("LeaderHint without a detail = %q, %v; want \"\", true", leader, ok)
	}
	if _, ok := LeaderHint(status.Error(codes.Unavailable, "down")); ok {
		t.Error("LeaderHint took Unavailable for a not-leader refusal")
	}
	if _, ok := LeaderHint(errors.New("not a status")); ok {
		t.Error("LeaderHint took a plain error for a not-leader refusal")
	}
}

func TestRefused(t *testing.T) {
	for code, want := range map[codes.Code]bool{
		codes.FailedPrecondition: true, codes.Aborted: true, codes.InvalidArgument: true, codes.NotFound: true,
		codes.Unavailable: false, codes.DeadlineExceeded: false, codes.Canceled: false, codes.Internal: false,
	} {
		if got := Refused(status.Error(code, "x")); got != want {
			t.Errorf("Refused(%v) = %v, want %v", code, got, want)
		}
	}
	if err := FromServer(errors.New("x"), "", notLeader); !strings.Contains(err.Error(), "Unavailable") {
		t.Errorf("FromServer of an unknown error: %v", err)
	}
}
