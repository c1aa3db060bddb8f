package kv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/internal/member"
	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/system/raft"
)

// ReadMode says how a node makes reads linearizable.
type ReadMode string

const (
	// ReadIndex confirms leadership with a heartbeat round and waits for
	// the state machine to reach the commit index (no log write). The
	// default; linearizable whatever the clocks do.
	ReadIndex ReadMode = "readindex"
	// ReadLog sends every read through the log like a write. Linearizable,
	// and slow.
	ReadLog ReadMode = "log"
	// ReadLease serves reads on the leader while it holds a lease, without
	// a round trip or a trip through Raft's goroutine. Linearizable only while clocks drift boundedly: UNSAFE
	// under clock faults and pauses, which is what the harness shows (the
	// lease-reads bug is this mode).
	ReadLease ReadMode = "lease"
)

// ParseReadMode validates a read mode name.
func ParseReadMode(s string) (ReadMode, error) {
	switch m := ReadMode(s); m {
	case ReadIndex, ReadLog, ReadLease:
		return m, nil
	}
	return "", fmt.Errorf("unknown read mode %q (want readindex, log or lease)", s)
}

// Peer names a cluster member.
type Peer = member.Peer

// Failpoints marked by the KV server.
const (
	// FailBeforePropose fires before a write is proposed: a crash here
	// loses a write that was never sent to Raft.
	FailBeforePropose = "kv/before-propose"
	// FailAfterCommit fires after a write committed and applied, before
	// the client hears of it: a crash here makes an indeterminate outcome
	// of a write that took effect.
	FailAfterCommit = "kv/after-commit"
	// FailBeforeRead fires before a read is served.
	FailBeforeRead = "kv/before-read"
)

// Server is the KV gRPC service of one node.
type Server struct {
	kvpb.UnimplementedKVServer
	node   *raft.Node
	st     *state
	self   uint64
	peers  map[uint64]Peer
	mode   ReadMode
	bugs   Bugs
	clock  fault.Clock
	fps    *fault.Failpoints
	nextID atomic.Uint64
}

// newServer serves st, replicated by node, as the member self of peers
// configured by cfg (its read mode, bugs, clock and failpoints).
func newServer(node *raft.Node, st *state, self uint64, peers map[uint64]Peer, cfg Config) *Server {
	s := &Server{node: node, st: st, self: self, peers: peers, mode: cfg.ReadMode, bugs: cfg.Bugs, clock: cfg.Clock, fps: cfg.Failpoints}
	// Request ids only need to be unique among this node's waiting RPCs,
	// across restarts too (an old entry may be applied after a restart).
	s.nextID.Store(rand.Uint64() >> 1)
	return s
}

// Register registers the KV service on g.
func (s *Server) Register(g grpc.ServiceRegistrar) { kvpb.RegisterKVServer(g, s) }

// propose replicates cmd and returns its result once applied here.
func (s *Server) propose(ctx context.Context, cmd *kvpb.Command) (applyResult, error) {
	if err := s.fps.Eval(ctx, FailBeforePropose); err != nil {
		return applyResult{}, status.Error(codes.Aborted, err.Error())
	}
	cmd.RequestId = s.nextID.Add(1)
	data, err := proto.Marshal(cmd)
	if err != nil {
		return applyResult{}, status.Errorf(codes.InvalidArgument, "encode command: %v", err)
	}
	ch := s.st.results.Wait(cmd.RequestId)
	defer s.st.results.Forget(cmd.RequestId)
	pctx := ctx
	if s.bugs.TimeoutIsFailure {
		var cancel context.CancelFunc
		pctx, cancel = s.clockTimeout(ctx, TimeoutIsFailureAfter)
		defer cancel()
	}
	if err := s.node.Propose(pctx, data); err != nil {
		if pctx.Err() != nil && ctx.Err() == nil {
			// The planted bug: the entry may yet commit, and the
			// client is told that the write failed.
			return applyResult{}, s.serverError(fmt.Errorf("%w after %v: %v", ErrTimedOut, TimeoutIsFailureAfter, err))
		}
		return applyResult{}, s.serverError(err)
	}
	// Propose returns after the entry is applied here, which delivered
	// the result; the select only guards against a broken invariant.
	select {
	case r := <-ch:
		if r.err != nil {
			return r, s.serverError(r.err)
		}
		if err := s.fps.Eval(ctx, FailAfterCommit); err != nil {
			return applyResult{}, status.Error(codes.Unavailable, err.Error())
		}
		return r, nil
	case <-ctx.Done():
		return applyResult{}, s.serverError(ctx.Err())
	}
}

// clockTimeout returns a context that is also cancelled once d has passed
// on the node's clock.
func (s *Server) clockTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	timer := s.clock.NewTimer(d)
	go func() {
		defer timer.Stop()
		select {
		case <-timer.C():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Txn implements kvpb.KVServer.
func (s *Server) Txn(ctx context.Context, req *kvpb.TxnRequest) (*kvpb.TxnResponse, error) {
	if err := validateTxn(req); err != nil {
		return nil, err
	}
	if s.bugs.DuplicateRetries {
		// The planted bug: without its session the state machine cannot
		// tell a retry from a new write, and applies it again.
		req.Session = nil
	}
	r, err := s.propose(ctx, &kvpb.Command{Txn: req})
	if err != nil {
		return nil, err
	}
	return r.txn, nil
}

func validateTxn(req *kvpb.TxnRequest) error {
	for _, ops := range [][]*kvpb.Op{req.Success, req.Failure} {
		for i, op := range ops {
			if op.GetOp() == nil {
				return status.Errorf(codes.InvalidArgument, "txn op %d: no operation set", i)
			}
		}
	}
	return nil
}

// Put implements kvpb.KVServer.
func (s *Server) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	resp, err := s.Txn(ctx, &kvpb.TxnRequest{Session: req.Session,
		Success: []*kvpb.Op{{Op: &kvpb.Op_Put{Put: req}}}})
	if err != nil {
		return nil, err
	}
	return resp.Results[0].GetPut(), nil
}

// Append implements kvpb.KVServer.
func (s *Server) Append(ctx context.Context, req *kvpb.AppendRequest) (*kvpb.AppendResponse, error) {
	resp, err := s.Txn(ctx, &kvpb.TxnRequest{Session: req.Session,
		Success: []*kvpb.Op{{Op: &kvpb.Op_Append{Append: req}}}})
	if err != nil {
		return nil, err
	}
	return resp.Results[0].GetAppend(), nil
}

// Delete implements kvpb.KVServer.
func (s *Server) Delete(ctx context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	resp, err := s.Txn(ctx, &kvpb.TxnRequest{Session: req.Session,
		Success: []*kvpb.Op{{Op: &kvpb.Op_Delete{Delete: req}}}})
	if err != nil {
		return nil, err
	}
	return resp.Results[0].GetDelete(), nil
}

// CompareAndSet implements kvpb.KVServer as a transaction: compare the
// value (or absence), then read and put, or only read.
func (s *Server) CompareAndSet(ctx context.Context, req *kvpb.CompareAndSetRequest) (*kvpb.CompareAndSetResponse, error) {
	cmp := &kvpb.Compare{Key: req.Key, Target: kvpb.Compare_VALUE, Op: kvpb.Compare_EQUAL, Value: req.Expected}
	if req.ExpectAbsent {
		cmp = &kvpb.Compare{Key: req.Key, Target: kvpb.Compare_VERSION, Op: kvpb.Compare_EQUAL, Version: 0}
	}
	get := &kvpb.Op{Op: &kvpb.Op_Get{Get: &kvpb.GetRequest{Key: req.Key}}}
	resp, err := s.Txn(ctx, &kvpb.TxnRequest{
		Session:  req.Session,
		Compares: []*kvpb.Compare{cmp},
		Success:  []*kvpb.Op{get, {Op: &kvpb.Op_Put{Put: &kvpb.PutRequest{Key: req.Key, Value: req.Value}}}},
		Failure:  []*kvpb.Op{get},
	})
	if err != nil {
		return nil, err
	}
	out := &kvpb.CompareAndSetResponse{Succeeded: resp.Succeeded, Current: resp.Results[0].GetGet()}
	if resp.Succeeded {
		out.Version = resp.Results[1].GetPut().Version
	}
	return out, nil
}

// Get implements kvpb.KVServer in the node's read mode.
func (s *Server) Get(ctx context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	if err := s.fps.Eval(ctx, FailBeforeRead); err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	if s.bugs.StaleReads {
		// The planted bug: answer from local state, which on a deposed
		// leader or lagging follower may miss acknowledged writes.
		return s.st.read(req.Key), nil
	}
	if s.mode == ReadLog {
		r, err := s.propose(ctx, &kvpb.Command{Get: req})
		if err != nil {
			return nil, err
		}
		return r.get, nil
	}
	if index, ok := s.node.LeaseRead(); ok {
		if err := s.node.WaitApplied(ctx, index); err != nil {
			return nil, s.serverError(err)
		}
		return s.st.read(req.Key), nil
	}
	if err := s.node.LinearizableRead(ctx); err != nil {
		return nil, s.serverError(err)
	}
	return s.st.read(req.Key), nil
}

// Status implements kvpb.KVServer.
func (s *Server) Status(context.Context, *kvpb.StatusRequest) (*kvpb.StatusResponse, error) {
	st := s.node.Status()
	return &kvpb.StatusResponse{
		Id:        s.peers[s.self].Name,
		Role:      st.Role.String(),
		Term:      st.Term,
		Leader:    s.peers[st.Lead].Name,
		Commit:    st.Commit,
		Applied:   st.Applied,
		LastIndex: st.LastIndex,
		ReadMode:  string(s.mode),
		Keys:      uint64(s.st.size()),
	}, nil
}
