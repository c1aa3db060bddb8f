package percolator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/internal/pending"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/system/raft"
)

// shardState is a shard's replicated state machine: the MVCC columns,
// changed only by ShardCommand entries applied in log order. It is
// applied by the raft.Node's goroutine and read by RPC handlers, hence
// the lock.
type shardState struct {
	mu   sync.RWMutex
	mvcc *mvcc

	// results reach the RPCs on this node waiting for the commands they
	// proposed, by request id.
	results pending.Results[applyResult]
}

// applyResult is a command's answer: one of the operations' responses,
// or an error that refused the command as a whole.
type applyResult struct {
	resp proto.Message
	err  error
}

func newShardState(bugs Bugs) *shardState {
	return &shardState{mvcc: newMVCC(bugs)}
}

// Apply implements raft.StateMachine.
func (s *shardState) Apply(ents []raft.Entry) {
	type delivery struct {
		id uint64
		r  applyResult
	}
	results := make([]delivery, 0, len(ents))
	s.mu.Lock()
	for _, e := range ents {
		if e.Data == nil {
			continue // a new leader's empty entry
		}
		var cmd pb.ShardCommand
		if err := proto.Unmarshal(e.Data, &cmd); err != nil {
			// Every replica fails the same way on the same entry, so the
			// columns stay identical. The proposer hears why if the request
			// id was decoded; otherwise no result reaches it.
			results = append(results, delivery{cmd.RequestId, applyResult{err: fmt.Errorf("percolator: undecodable shard command at index %d: %w", e.Index, err)}})
			continue
		}
		results = append(results, delivery{cmd.RequestId, s.apply(e.Index, &cmd)})
	}
	s.mu.Unlock()
	for _, d := range results {
		s.results.Deliver(d.id, d.r)
	}
}

// apply runs one command; the caller holds mu.
func (s *shardState) apply(index uint64, cmd *pb.ShardCommand) applyResult {
	switch c := cmd.Cmd.(type) {
	case *pb.ShardCommand_Prewrite:
		return applyResult{resp: s.mvcc.prewrite(c.Prewrite)}
	case *pb.ShardCommand_Commit:
		return applyResult{resp: &pb.CommitResponse{Error: s.mvcc.commit(c.Commit.Keys, c.Commit.StartTs, c.Commit.CommitTs)}}
	case *pb.ShardCommand_Rollback:
		return applyResult{resp: &pb.RollbackResponse{Error: s.mvcc.rollback(c.Rollback.Keys, c.Rollback.StartTs)}}
	case *pb.ShardCommand_CheckTxnStatus:
		return applyResult{resp: s.mvcc.checkTxnStatus(c.CheckTxnStatus)}
	case *pb.ShardCommand_ResolveLock:
		s.mvcc.resolveLock(c.ResolveLock)
		return applyResult{resp: &pb.ResolveLockResponse{}}
	}
	return applyResult{err: fmt.Errorf("percolator: empty shard command at index %d", index)}
}

// get reads keys from the local columns, for reads the caller made
// linearizable.
func (s *shardState) get(keys [][]byte, ts uint64) []*pb.GetResponse {
	results := make([]*pb.GetResponse, len(keys))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i, k := range keys {
		results[i] = s.mvcc.get(k, ts)
	}
	return results
}

// Snapshot implements raft.StateMachine.
func (s *shardState) Snapshot() ([]byte, error) { return s.CaptureSnapshot()() }

// CaptureSnapshot implements raft.SnapshotCapturer: it clones the columns
// (copying the two maps but no key's versions: see mvcc.clone) and leaves
// encoding the clone, which sorts every key and version and takes many
// times longer, to the function it returns, which the Raft node runs on
// another goroutine while this shard goes on applying commands.
func (s *shardState) CaptureSnapshot() func() ([]byte, error) {
	// A read lock, so that reads go on while the maps are copied. clone
	// also bumps the mvcc's generation, which only Apply and this method
	// use, and both run on the node's goroutine.
	s.mu.RLock()
	c := s.mvcc.clone()
	s.mu.RUnlock()
	return func() ([]byte, error) { return c.marshal(), nil }
}

// Restore implements raft.StateMachine.
func (s *shardState) Restore(snap raft.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := unmarshalMVCC(snap.Data, s.mvcc.bugs)
	if err != nil {
		return fmt.Errorf("percolator: restore snapshot at index %d: %w", snap.Meta.Index, err)
	}
	s.mvcc = m
	return nil
}

// errNoResult means Propose reported an entry applied whose result never
// reached its waiter: a broken invariant, not a fate of the command.
var errNoResult = errors.New("percolator: command applied without a result")

// shard is this node's replica of one shard group: its Raft node and
// state machine, and the way RPCs write (propose and wait for the result)
// and read (linearizably) through them.
type shard struct {
	group  uint32
	node   *raft.Node
	state  *shardState
	nextID atomic.Uint64
}

func newShard(group uint32, node *raft.Node, state *shardState) *shard {
	s := &shard{group: group, node: node, state: state}
	// Request ids only need to be unique among this node's waiting RPCs,
	// across restarts too (an old entry may be applied after a restart).
	s.nextID.Store(rand.Uint64() >> 1)
	return s
}

// propose replicates cmd and returns its result once applied here. Errors
// are raft's (or the state machine's) as they are; the server maps them.
func (s *shard) propose(ctx context.Context, cmd *pb.ShardCommand) (proto.Message, error) {
	cmd.RequestId = s.nextID.Add(1)
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode shard command: %w", err)
	}
	ch := s.state.results.Wait(cmd.RequestId)
	defer s.state.results.Forget(cmd.RequestId)
	if err := s.node.Propose(ctx, data); err != nil {
		return nil, err
	}
	// Propose returns after the entry is applied here, which delivered
	// the result.
	select {
	case r := <-ch:
		return r.resp, r.err
	default:
		return nil, errNoResult
	}
}

// get reads keys as of ts, linearizably: after this replica has applied
// everything committed when the read began. Only the leader serves reads,
// as it does writes: Raft could confirm a follower's read through the
// leader, but the service's contract is that clients talk to leaders.
func (s *shard) get(ctx context.Context, keys [][]byte, ts uint64) ([]*pb.GetResponse, error) {
	if st := s.node.Status(); st.Role != raft.Leader {
		return nil, &raft.NotLeaderError{Leader: st.Lead}
	}
	if err := s.node.LinearizableRead(ctx); err != nil {
		return nil, err
	}
	return s.state.get(keys, ts), nil
}
