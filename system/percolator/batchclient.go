package percolator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/squall-chaos/squall/system/fault"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/system/raft/grpctransport"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// batchClient is the pb.PercolatorClient of one node that a Client's
// transactions share. It sends their transactional RPCs over one Batch
// stream: every request queued while the previous message was being sent
// goes in the next, so a node under load gets a few large messages
// instead of a unary call (headers, a goroutine, a reply) per request.
// Get and Status stay unary. Failures look as they would on unary calls:
// the same status, and "connection error" only for a request that was
// never sent (see maySent).
type batchClient struct {
	pb.PercolatorClient // unary, for Get and Status
	conn                *grpc.ClientConn
	// clock reads how long a caller has left before its deadline, which
	// the request carries to the node.
	clock fault.Clock

	// lock guards current and closed; a channel holding a token, not a
	// mutex, because the holder may be opening a stream (a network round
	// trip), and callers waiting behind it must keep to their deadlines.
	lock    chan struct{}
	current *batchStream
	closed  bool
}

func newBatchClient(conn *grpc.ClientConn, clock fault.Clock) *batchClient {
	return &batchClient{PercolatorClient: pb.NewPercolatorClient(conn), conn: conn, clock: clock, lock: make(chan struct{}, 1)}
}

// batchStream is one open Batch stream and the requests out on it.
type batchStream struct {
	stream pb.Percolator_BatchClient
	cancel context.CancelFunc
	kick   chan struct{} // a request was queued; capacity 1

	mu      sync.Mutex
	nextID  uint64
	queue   []*pb.BatchRequest_Request // not yet handed to gRPC
	waiting map[uint64]chan *pb.BatchResponse_Response
	broken  bool
}

// maxBatchBytes bounds one Batch message either way, far under the
// receive limits (grpctransport.MaxMessageSize, 512 MiB, on both sides);
// a single larger request or answer goes alone.
const maxBatchBytes = 1 << 20

// errClientClosed fails the calls made after their Client closed.
var errClientClosed = errors.New("client closed")

// do sends req on the stream (opening one if need be) and waits for its
// answer or the end of ctx.
func (b *batchClient) do(ctx context.Context, req *pb.BatchRequest_Request) (*pb.BatchResponse_Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, notSent(err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		req.TimeoutUs = uint64(max(-b.clock.Since(deadline), time.Microsecond) / time.Microsecond)
	}
	s, err := b.stream(ctx)
	if err != nil {
		// Nothing of the request has left: it was never queued.
		return nil, notSent(err)
	}
	answer, err := s.enqueue(req)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-answer:
		return answerOrStatus(r)
	case <-ctx.Done():
		if queued := s.withdraw(req.Id); queued {
			return nil, notSent(ctx.Err())
		}
		select {
		case r := <-answer: // it came as ctx ended
			return answerOrStatus(r)
		default:
		}
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func answerOrStatus(r *pb.BatchResponse_Response) (*pb.BatchResponse_Response, error) {
	if r.Status != nil {
		return nil, decodeStatus(r.Status)
	}
	return r, nil
}

// stream returns the open stream, opening one if there is none. The
// stream outlives ctx, which bounds only the opening.
func (b *batchClient) stream(ctx context.Context) (*batchStream, error) {
	select {
	case b.lock <- struct{}{}:
		defer func() { <-b.lock }()
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another call to open the batch stream: %w", ctx.Err())
	}
	if b.closed {
		return nil, errClientClosed
	}
	if b.current != nil && !b.current.isBroken() {
		return b.current, nil
	}
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	stream, err := b.Batch(sctx, grpc.MaxCallRecvMsgSize(grpctransport.MaxMessageSize))
	if !stop() {
		// ctx ended while the stream opened: the stream, if any, ended
		// with it.
		cancel()
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open batch stream: %w", err)
	}
	s := &batchStream{
		stream:  stream,
		cancel:  cancel,
		kick:    make(chan struct{}, 1),
		waiting: make(map[uint64]chan *pb.BatchResponse_Response),
	}
	go s.sendLoop(sctx)
	go s.receiveLoop()
	b.current = s
	return s, nil
}

// close ends the open stream, failing what is out on it, and refuses
// calls from then on.
func (b *batchClient) close() {
	b.lock <- struct{}{}
	defer func() { <-b.lock }()
	b.closed = true
	if b.current != nil {
		b.current.fail(errClientClosed)
		b.current = nil
	}
}

func (s *batchStream) isBroken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

// enqueue gives req an id and queues it for the next message; the answer
// will come on the channel returned.
func (s *batchStream) enqueue(req *pb.BatchRequest_Request) (<-chan *pb.BatchResponse_Response, error) {
	answer := make(chan *pb.BatchResponse_Response, 1)
	s.mu.Lock()
	if s.broken {
		s.mu.Unlock()
		return nil, notSent(errors.New("batch stream broke before the request was queued"))
	}
	s.nextID++
	req.Id = s.nextID
	s.waiting[req.Id] = answer
	s.queue = append(s.queue, req)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // the sender will see the queue anyway
	}
	return answer, nil
}

// withdraw drops the request id whose caller stopped waiting, and reports
// whether it was still queued: then it will never be sent. An answer that
// comes for it later is ignored.
func (s *batchStream) withdraw(id uint64) (queued bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiting, id)
	for i, req := range s.queue {
		if req.Id == id {
			s.queue = slices.Delete(s.queue, i, i+1)
			return true
		}
	}
	return false
}

// sendLoop sends what is queued, in messages of up to maxBatchBytes,
// until the stream breaks or is closed.
func (s *batchStream) sendLoop(ctx context.Context) {
	for {
		select {
		case <-s.kick:
		case <-ctx.Done():
			return
		}
		s.mu.Lock()
		queue := s.queue
		s.queue = nil
		s.mu.Unlock()
		for len(queue) > 0 {
			n, size := 1, proto.Size(queue[0])
			for n < len(queue) {
				next := proto.Size(queue[n])
				if size+next > maxBatchBytes {
					break
				}
				size += next
				n++
			}
			if err := s.stream.Send(&pb.BatchRequest{Requests: queue[:n]}); err != nil {
				s.fail(fmt.Errorf("send: %w", err), queue[n:]...)
				return
			}
			queue = queue[n:]
		}
	}
}

// receiveLoop hands each answer to its caller until the stream ends.
func (s *batchStream) receiveLoop() {
	for {
		batch, err := s.stream.Recv()
		if err != nil {
			s.fail(fmt.Errorf("receive: %w", err))
			return
		}
		s.mu.Lock()
		for _, r := range batch.Responses {
			if answer, ok := s.waiting[r.Id]; ok {
				delete(s.waiting, r.Id)
				answer <- r
			}
		}
		s.mu.Unlock()
	}
}

// fail ends the stream after err: the requests never handed to gRPC
// (those still queued, and unsent) fail as not sent, the others as
// perhaps delivered, for they may have reached the node and taken effect.
// The next call opens a new stream.
func (s *batchStream) fail(err error, unsent ...*pb.BatchRequest_Request) {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return
	}
	s.broken = true
	for _, req := range append(s.queue, unsent...) {
		if answer, ok := s.waiting[req.Id]; ok {
			delete(s.waiting, req.Id)
			answer <- &pb.BatchResponse_Response{Id: req.Id, Status: encodeStatus(notSent(err))}
		}
	}
	s.queue = nil
	lost := status.Newf(codes.Unavailable, "batch stream broke with the request out: %v", err).Err()
	for id, answer := range s.waiting {
		answer <- &pb.BatchResponse_Response{Id: id, Status: encodeStatus(lost)}
	}
	clear(s.waiting)
}

// notSent is the status of a request that never left the client, in the
// words gRPC uses for one it had no connection to send on.
func notSent(err error) error {
	return status.Errorf(codes.Unavailable, "connection error: batch stream: %v", err)
}

// decodeStatus turns an answer's encoded status back into the error the
// unary RPC would have returned.
func decodeStatus(b []byte) error {
	var st spb.Status
	if err := proto.Unmarshal(b, &st); err != nil {
		return status.Errorf(codes.Internal, "undecodable status in batch answer: %v", err)
	}
	if st.Code == int32(codes.OK) {
		return status.Error(codes.Internal, "batch answer failed with status OK")
	}
	return status.ErrorProto(&st)
}

// answerOf returns the answer of the kind get reads from r, or an error
// if r is of another kind.
func answerOf[T any](r *pb.BatchResponse_Response, err error, get func(*pb.BatchResponse_Response) *T) (*T, error) {
	if err != nil {
		return nil, err
	}
	if v := get(r); v != nil {
		return v, nil
	}
	return nil, status.Errorf(codes.Internal, "batch answer %d is of the wrong kind (%T)", r.Id, r.Cmd)
}

func (b *batchClient) Tso(ctx context.Context, req *pb.TsoRequest, _ ...grpc.CallOption) (*pb.TsoResponse, error) {
	r, err := b.do(ctx, &pb.BatchRequest_Request{Cmd: &pb.BatchRequest_Request_Tso{Tso: req}})
	return answerOf(r, err, (*pb.BatchResponse_Response).GetTso)
}

func (b *batchClient) BatchGet(ctx context.Context, req *pb.BatchGetRequest, _ ...grpc.CallOption) (*pb.BatchGetResponse, error) {
	r, err := b.do(ctx, &pb.BatchRequest_Request{Cmd: &pb.BatchRequest_Request_BatchGet{BatchGet: req}})
	return answerOf(r, err, (*pb.BatchResponse_Response).GetBatchGet)
}

func (b *batchClient) Prewrite(ctx context.Context, req *pb.PrewriteRequest, _ ...grpc.CallOption) (*pb.PrewriteResponse, error) {
	r, err := b.do(ctx, &pb.BatchRequest_Request{Cmd: &pb.BatchRequest_Request_Prewrite{Prewrite: req}})
	return answerOf(r, err, (*pb.BatchResponse_Response).GetPrewrite)
}

func (b *batchClient) Commit(ctx context.Context, req *pb.CommitRequest, _ ...grpc.CallOption) (*pb.CommitResponse, error) {
	r, err := b.do(ctx, &pb.BatchRequest_Request{Cmd: &pb.BatchRequest_Request_Commit{Commit: req}})
	return answerOf(r, err, (*pb.BatchResponse_Response).GetCommit)
}

func (b *batchClient) Rollback(ctx context.Context, req *pb.RollbackRequest, _ ...grpc.CallOption) (*pb.RollbackResponse, error) {
	r, err := b.do(ctx, &pb.BatchRequest_Request{Cmd: &pb.BatchRequest_Request_Rollback{Rollback: req}})
	return answerOf(r, err, (*pb.BatchResponse_Response).GetRollback)
}

func (b *batchClient) CheckTxnStatus(ctx context.Context, req *pb.CheckTxnStatusRequest, _ ...grpc.CallOption) (*pb.CheckTxnStatusResponse, error) {
	r, err := b.do(ctx, &pb.BatchRequest_Request{Cmd: &pb.BatchRequest_Request_CheckTxnStatus{CheckTxnStatus: req}})
	return answerOf(r, err, (*pb.BatchResponse_Response).GetCheckTxnStatus)
}

func (b *batchClient) ResolveLock(ctx context.Context, req *pb.ResolveLockRequest, _ ...grpc.CallOption) (*pb.ResolveLockResponse, error) {
	r, err := b.do(ctx, &pb.BatchRequest_Request{Cmd: &pb.BatchRequest_Request_ResolveLock{ResolveLock: req}})
	return answerOf(r, err, (*pb.BatchResponse_Response).GetResolveLock)
}
