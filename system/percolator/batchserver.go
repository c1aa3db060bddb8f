package percolator

import (
	"context"
	"io"
	"sync"
	"time"

	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Batch implements pb.PercolatorServer: it serves every request of the
// stream at once, each as its unary RPC would, and sends the answers back
// as they are ready, those ready together in one message. A client that
// closes its side still gets the answers it is owed; a stream that breaks
// either way ends the requests still running.
func (s *Server) Batch(stream pb.Percolator_BatchServer) error {
	// ctx is cancelled when Batch returns, ending the requests still
	// running, if any, with it.
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	answers := make(chan *pb.BatchResponse_Response, 64)
	sendErr := make(chan error, 1)
	go func() { sendErr <- sendAnswers(ctx, cancel, stream, answers) }()
	// Receive on a goroutine of its own, so that a failed send ends the
	// stream even while no request comes.
	batches, recvErr := make(chan *pb.BatchRequest), make(chan error, 1)
	go func() {
		for {
			batch, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case batches <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	var running sync.WaitGroup
	for {
		select {
		case batch := <-batches:
			for _, req := range batch.Requests {
				running.Go(func() {
					answer := s.serveBatched(ctx, req)
					select {
					case answers <- answer:
					case <-ctx.Done():
					}
				})
			}
		case err := <-recvErr:
			if err == io.EOF {
				// Answer what was asked, then end the stream.
				running.Wait()
				close(answers)
				return <-sendErr
			}
			cancel()
			running.Wait()
			<-sendErr
			return err
		case err := <-sendErr:
			// sendAnswers cancelled ctx: the requests end unanswered.
			running.Wait()
			return err
		}
	}
}

// sendAnswers sends the answers as they come, each message holding the
// answers ready when it is sent (up to maxBatchBytes), until answers is
// closed and drained, ctx ends, or a send fails. After a failed send it
// cancels ctx, which ends the stream's requests: nobody will read their
// answers.
func sendAnswers(ctx context.Context, cancel context.CancelFunc, stream pb.Percolator_BatchServer, answers <-chan *pb.BatchResponse_Response) error {
	var next *pb.BatchResponse_Response // did not fit in the last message
	for {
		if next == nil {
			select {
			case a, ok := <-answers:
				if !ok {
					return nil
				}
				next = a
			case <-ctx.Done():
				return nil
			}
		}
		batch, size := []*pb.BatchResponse_Response{next}, proto.Size(next)
		next = nil
	gather:
		for {
			select {
			case a, ok := <-answers:
				if !ok {
					break gather
				}
				if size += proto.Size(a); size > maxBatchBytes {
					next = a
					break gather
				}
				batch = append(batch, a)
			default:
				break gather
			}
		}
		if err := stream.Send(&pb.BatchResponse{Responses: batch}); err != nil {
			cancel()
			return err
		}
	}
}

// serveBatched runs one request of a Batch stream through its unary
// handler, under the deadline its caller gave it.
func (s *Server) serveBatched(ctx context.Context, req *pb.BatchRequest_Request) *pb.BatchResponse_Response {
	if req.TimeoutUs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutUs)*time.Microsecond)
		defer cancel()
	}
	answer := &pb.BatchResponse_Response{Id: req.Id}
	var err error
	switch cmd := req.Cmd.(type) {
	case *pb.BatchRequest_Request_Tso:
		err = serveOne(ctx, s.Tso, cmd.Tso, func(r *pb.TsoResponse) {
			answer.Cmd = &pb.BatchResponse_Response_Tso{Tso: r}
		})
	case *pb.BatchRequest_Request_BatchGet:
		err = serveOne(ctx, s.BatchGet, cmd.BatchGet, func(r *pb.BatchGetResponse) {
			answer.Cmd = &pb.BatchResponse_Response_BatchGet{BatchGet: r}
		})
	case *pb.BatchRequest_Request_Prewrite:
		err = serveOne(ctx, s.Prewrite, cmd.Prewrite, func(r *pb.PrewriteResponse) {
			answer.Cmd = &pb.BatchResponse_Response_Prewrite{Prewrite: r}
		})
	case *pb.BatchRequest_Request_Commit:
		err = serveOne(ctx, s.Commit, cmd.Commit, func(r *pb.CommitResponse) {
			answer.Cmd = &pb.BatchResponse_Response_Commit{Commit: r}
		})
	case *pb.BatchRequest_Request_Rollback:
		err = serveOne(ctx, s.Rollback, cmd.Rollback, func(r *pb.RollbackResponse) {
			answer.Cmd = &pb.BatchResponse_Response_Rollback{Rollback: r}
		})
	case *pb.BatchRequest_Request_CheckTxnStatus:
		err = serveOne(ctx, s.CheckTxnStatus, cmd.CheckTxnStatus, func(r *pb.CheckTxnStatusResponse) {
			answer.Cmd = &pb.BatchResponse_Response_CheckTxnStatus{CheckTxnStatus: r}
		})
	case *pb.BatchRequest_Request_ResolveLock:
		err = serveOne(ctx, s.ResolveLock, cmd.ResolveLock, func(r *pb.ResolveLockResponse) {
			answer.Cmd = &pb.BatchResponse_Response_ResolveLock{ResolveLock: r}
		})
	default:
		err = status.Errorf(codes.InvalidArgument, "batch request %d: no command, or one this server does not know (%T)", req.Id, req.Cmd)
	}
	if err != nil {
		answer.Status = encodeStatus(err)
	}
	return answer
}

// serveOne runs one request through its unary handler and, if it
// succeeds, hands the response to set, which puts it in the answer.
func serveOne[Req, Resp any](ctx context.Context, handle func(context.Context, Req) (Resp, error), req Req, set func(Resp)) error {
	resp, err := handle(ctx, req)
	if err == nil {
		set(resp)
	}
	return err
}

// encodeStatus encodes err as the google.rpc.Status a unary RPC would
// have failed with (gRPC's Unknown for an error that is not a status).
func encodeStatus(err error) []byte {
	st := status.Convert(err).Proto()
	b, merr := proto.Marshal(st)
	if merr != nil {
		b, _ = proto.Marshal(status.Newf(codes.Internal, "encode status %q: %v", st.GetMessage(), merr).Proto())
	}
	return b
}
