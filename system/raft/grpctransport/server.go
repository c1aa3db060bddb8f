package grpctransport

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/raft/raftpb"
)

// service is the receiving side: it hands each message of an envelope to
// its group's handler, in order, envelope after envelope.
type service struct {
	raftpb.UnimplementedRaftServer
	t *Transport
}

func (s service) Send(_ context.Context, env *raftpb.Envelope) (*raftpb.Ack, error) {
	if err := s.deliver(env); err != nil {
		return nil, err
	}
	return &raftpb.Ack{}, nil
}

// Stream delivers envelopes until the sender closes the stream, or until
// one is refused: then the stream ends with the refusal, which the
// sender's receiving side sees at once. It acknowledges the first
// envelope it delivers, and no other: the sender then knows this is the
// node it meant to reach.
func (s service) Stream(stream raftpb.Raft_StreamServer) error {
	for acked := false; ; acked = true {
		env, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.deliver(env); err != nil {
			return err
		}
		if !acked {
			if err := stream.Send(&raftpb.Ack{}); err != nil {
				return err
			}
		}
	}
}

// deliver hands env's messages to their groups' handlers, or refuses it
// with a gRPC status error.
func (s service) deliver(env *raftpb.Envelope) error {
	t := s.t
	if t.closed.Load() {
		return status.Errorf(codes.Unavailable, "node %d: raft transport closed", t.self)
	}
	if env.GetTo() != t.self {
		// The sender's address for node To now belongs to this node (a
		// container came back with another's address): refuse, so the
		// sender counts the peer unreachable instead of believing it
		// delivered.
		return status.Errorf(codes.FailedPrecondition,
			"envelope from node %d is for node %d, but this is node %d", env.GetFrom(), env.GetTo(), t.self)
	}
	for _, b := range env.GetBatches() {
		h := t.handler(b.GetGroupId())
		if h == nil {
			t.log.Debug("dropping messages for unknown group",
				"group", b.GetGroupId(), "from", env.GetFrom(), "count", len(b.GetMessages()))
			continue
		}
		for i, pm := range b.GetMessages() {
			m, err := messageFromPB(pm)
			if err != nil {
				return status.Errorf(codes.InvalidArgument,
					"envelope from node %d, group %d, message %d: %v", env.GetFrom(), b.GetGroupId(), i, err)
			}
			h(m)
		}
	}
	return nil
}
