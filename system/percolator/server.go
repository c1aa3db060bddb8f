package percolator

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/internal/member"
	"github.com/squall-chaos/squall/system/internal/rpcerr"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/system/raft"
)

// Failpoints marked by the Percolator server.
const (
	// FailBeforePrewrite fires before a Prewrite is proposed: armed with
	// an error, the prewrite fails definitely.
	FailBeforePrewrite = "percolator/before-prewrite"
	// FailBeforeCommit fires before a Commit is proposed: armed with an
	// error, the commit fails definitely.
	FailBeforeCommit = "percolator/before-commit"
	// FailAfterCommit fires after a Commit is applied, before the client
	// is answered: armed with an error, the commit took effect and the
	// client hears nothing it can trust.
	FailAfterCommit = "percolator/after-commit"
)

// OracleGroup is the Raft group of the timestamp oracle; shards are
// groups 1..shards.
const OracleGroup = 0

// Server is the Percolator gRPC service of one node: the oracle and every
// shard, each answered only by the group's leader.
type Server struct {
	pb.UnimplementedPercolatorServer
	self       uint64
	peers      map[uint64]member.Peer // by raft id
	oracle     *Oracle
	oracleNode *raft.Node
	shards     []*shard // shards[i] is group i+1
	fps        *fault.Failpoints
}

// Register registers the Percolator service on g.
func (s *Server) Register(g grpc.ServiceRegistrar) { pb.RegisterPercolatorServer(g, s) }

// Tso implements pb.PercolatorServer.
func (s *Server) Tso(ctx context.Context, req *pb.TsoRequest) (*pb.TsoResponse, error) {
	if req.Count == 0 {
		return nil, status.Error(codes.InvalidArgument, "tso: count must be at least 1")
	}
	first, err := s.oracle.Allocate(ctx, req.Count)
	if errors.Is(err, fault.ErrInjected) {
		// A failpoint of the oracle: refused, as the other points' are.
		return nil, status.Error(codes.Aborted, err.Error())
	}
	if err != nil {
		return nil, s.serverError(OracleGroup, err)
	}
	return &pb.TsoResponse{First: first, Count: req.Count}, nil
}

// Get implements pb.PercolatorServer.
func (s *Server) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	sh, err := s.shard(req.Shard, req.Key)
	if err != nil {
		return nil, err
	}
	results, err := sh.get(ctx, [][]byte{req.Key}, req.Version)
	if err != nil {
		return nil, s.serverError(sh.group, err)
	}
	return results[0], nil
}

// BatchGet implements pb.PercolatorServer.
func (s *Server) BatchGet(ctx context.Context, req *pb.BatchGetRequest) (*pb.BatchGetResponse, error) {
	if len(req.Keys) == 0 {
		return nil, status.Error(codes.InvalidArgument, "batch get: no keys")
	}
	sh, err := s.shard(req.Shard, req.Keys...)
	if err != nil {
		return nil, err
	}
	results, err := sh.get(ctx, req.Keys, req.Version)
	if err != nil {
		return nil, s.serverError(sh.group, err)
	}
	return &pb.BatchGetResponse{Results: results}, nil
}

// Prewrite implements pb.PercolatorServer.
func (s *Server) Prewrite(ctx context.Context, req *pb.PrewriteRequest) (*pb.PrewriteResponse, error) {
	keys := make([][]byte, len(req.Mutations))
	for i, m := range req.Mutations {
		if m.Op != pb.Mutation_PUT && m.Op != pb.Mutation_DELETE {
			return nil, status.Errorf(codes.InvalidArgument, "prewrite: mutation %d of key %q: unknown op %d", i, m.Key, m.Op)
		}
		keys[i] = m.Key
	}
	sh, err := s.shard(req.Shard, keys...)
	if err != nil {
		return nil, err
	}
	switch {
	case req.StartTs == 0:
		return nil, status.Error(codes.InvalidArgument, "prewrite: start_ts is 0")
	case len(req.Primary) == 0:
		return nil, status.Error(codes.InvalidArgument, "prewrite: no primary key")
	}
	if err := distinct(keys); err != nil {
		return nil, err
	}
	resp, err := s.propose(ctx, sh, FailBeforePrewrite, &pb.ShardCommand{Cmd: &pb.ShardCommand_Prewrite{Prewrite: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.PrewriteResponse), nil
}

// Commit implements pb.PercolatorServer.
func (s *Server) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	sh, err := s.shard(req.Shard, req.Keys...)
	if err != nil {
		return nil, err
	}
	if req.CommitTs <= req.StartTs {
		return nil, status.Errorf(codes.InvalidArgument, "commit: commit_ts %d is not after start_ts %d", req.CommitTs, req.StartTs)
	}
	resp, err := s.propose(ctx, sh, FailBeforeCommit, &pb.ShardCommand{Cmd: &pb.ShardCommand_Commit{Commit: req}})
	if err != nil {
		return nil, err
	}
	if err := s.fps.Eval(ctx, FailAfterCommit); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return resp.(*pb.CommitResponse), nil
}

// Rollback implements pb.PercolatorServer.
func (s *Server) Rollback(ctx context.Context, req *pb.RollbackRequest) (*pb.RollbackResponse, error) {
	sh, err := s.shard(req.Shard, req.Keys...)
	if err != nil {
		return nil, err
	}
	resp, err := s.propose(ctx, sh, "", &pb.ShardCommand{Cmd: &pb.ShardCommand_Rollback{Rollback: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.RollbackResponse), nil
}

// CheckTxnStatus implements pb.PercolatorServer. It goes through the log:
// it may roll the transaction back.
func (s *Server) CheckTxnStatus(ctx context.Context, req *pb.CheckTxnStatusRequest) (*pb.CheckTxnStatusResponse, error) {
	sh, err := s.shard(req.Shard, req.PrimaryKey)
	if err != nil {
		return nil, err
	}
	resp, err := s.propose(ctx, sh, "", &pb.ShardCommand{Cmd: &pb.ShardCommand_CheckTxnStatus{CheckTxnStatus: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.CheckTxnStatusResponse), nil
}

// ResolveLock implements pb.PercolatorServer.
func (s *Server) ResolveLock(ctx context.Context, req *pb.ResolveLockRequest) (*pb.ResolveLockResponse, error) {
	sh, err := s.shard(req.Shard, req.Keys...)
	if err != nil {
		return nil, err
	}
	if req.CommitTs != 0 && req.CommitTs <= req.StartTs {
		return nil, status.Errorf(codes.InvalidArgument, "resolve lock: commit_ts %d is not after start_ts %d", req.CommitTs, req.StartTs)
	}
	resp, err := s.propose(ctx, sh, "", &pb.ShardCommand{Cmd: &pb.ShardCommand_ResolveLock{ResolveLock: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.ResolveLockResponse), nil
}

// Status implements pb.PercolatorServer.
func (s *Server) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	resp := &pb.StatusResponse{Id: s.peers[s.self].Name, Shards: uint32(len(s.shards))}
	resp.Groups = append(resp.Groups, s.groupStatus(OracleGroup, s.oracleNode))
	for _, sh := range s.shards {
		resp.Groups = append(resp.Groups, s.groupStatus(sh.group, sh.node))
	}
	return resp, nil
}

func (s *Server) groupStatus(group uint32, node *raft.Node) *pb.GroupStatus {
	st := node.Status()
	return &pb.GroupStatus{
		Group:   group,
		Role:    st.Role.String(),
		Term:    st.Term,
		Leader:  s.peers[st.Lead].Name,
		Commit:  st.Commit,
		Applied: st.Applied,
	}
}

// shard returns the shard a request names, after checking that it exists
// and holds every one of keys.
func (s *Server) shard(group uint32, keys ...[]byte) (*shard, error) {
	if group < 1 || int(group) > len(s.shards) {
		return nil, status.Errorf(codes.InvalidArgument, "shard %d is not one of 1..%d", group, len(s.shards))
	}
	for _, k := range keys {
		if len(k) == 0 {
			return nil, status.Error(codes.InvalidArgument, "empty key")
		}
		if owner := ShardOf(k, len(s.shards)); owner != group {
			return nil, status.Errorf(codes.InvalidArgument, "key %q belongs to shard %d, not %d", k, owner, group)
		}
	}
	return s.shards[group-1], nil
}

// distinct refuses a request that names a key twice: its mutations would
// be ambiguous.
func distinct(keys [][]byte) error {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[string(k)] {
			return status.Errorf(codes.InvalidArgument, "key %q appears twice", k)
		}
		seen[string(k)] = true
	}
	return nil
}

// propose evaluates the failpoint (if any) and replicates cmd through sh,
// returning its result once applied here.
func (s *Server) propose(ctx context.Context, sh *shard, failpoint string, cmd *pb.ShardCommand) (proto.Message, error) {
	if failpoint != "" {
		if err := s.fps.Eval(ctx, failpoint); err != nil {
			return nil, status.Error(codes.Aborted, err.Error())
		}
	}
	resp, err := sh.propose(ctx, cmd)
	if err != nil {
		return nil, s.serverError(sh.group, err)
	}
	return resp, nil
}

// serverError turns an error from raft, the oracle or a state machine
// into a gRPC status whose code tells the client which side of the
// taxonomy it is on (see package rpcerr); the message names the group.
func (s *Server) serverError(group uint32, err error) error {
	return rpcerr.FromServer(err, fmt.Sprintf("group %d", group), func(leader uint64) rpcerr.NotLeaderDetail {
		detail := &pb.NotLeader{Group: group}
		if p, ok := s.peers[leader]; ok {
			detail.LeaderId, detail.LeaderAddr = p.Name, p.Addr
		}
		return detail
	})
}
