package percolator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/system/raft"
)

// markWindow is how far past the clock (or past the last timestamp handed
// out, if that is ahead) a new high-water mark reaches. Every Raft write
// of the oracle pays for a window's worth of timestamps, so under steady
// load the oracle writes about once per window, whatever the call rate.
// The price is that a new leader's timestamps jump up to a window ahead of
// its clock.
const markWindow = 3 * time.Second

// OracleState is the oracle group's replicated state machine: the
// high-water mark, a physical time in milliseconds such that every
// timestamp any leader has handed out is below ComposeTS(mark, 0). It only
// grows. The raft.Node applies it; Oracle reads it.
type OracleState struct {
	mu        sync.Mutex
	highWater uint64
}

var _ raft.StateMachine = (*OracleState)(nil)

// NewOracleState returns the state of an empty oracle group (mark 0).
func NewOracleState() *OracleState { return &OracleState{} }

// HighWater is the mark as of the last applied entry.
func (s *OracleState) HighWater() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.highWater
}

// Apply implements raft.StateMachine. An entry it cannot decode leaves the
// mark as it was on every replica alike; the proposer notices that the
// mark did not reach what it proposed and hands out nothing.
func (s *OracleState) Apply(ents []raft.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range ents {
		if e.Data == nil {
			continue // a new leader's empty entry
		}
		var cmd percolatorpb.OracleCommand
		if err := proto.Unmarshal(e.Data, &cmd); err != nil {
			continue
		}
		s.highWater = max(s.highWater, cmd.HighWater)
	}
}

// Snapshot implements raft.StateMachine: the image is the mark, 8 bytes
// big-endian.
func (s *OracleState) Snapshot() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, s.HighWater()), nil
}

// Restore implements raft.StateMachine.
func (s *OracleState) Restore(snap raft.Snapshot) error {
	if len(snap.Data) != 8 {
		return fmt.Errorf("oracle: snapshot at index %d is %d bytes, want an 8-byte high-water mark", snap.Meta.Index, len(snap.Data))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.highWater = binary.BigEndian.Uint64(snap.Data)
	return nil
}

// Oracle hands out timestamps on the node that leads the oracle group.
//
// Timestamps increase in real time: a call's timestamps exceed those of
// every call, at any node, that completed before it began. Three things
// make that so:
//
//   - Within one leadership, next = max(last+1, clock), so a clock that
//     jumps back only stalls the physical part while the logical counter
//     (which carries into the physical part when it overflows) goes on.
//   - Nothing is handed out at or above the persisted mark: when a batch
//     would cross it, the oracle first commits a new mark through Raft.
//   - Every call first confirms through ReadIndex that this node still
//     leads and has applied every mark committed so far. A deposed leader
//     cannot confirm, so it cannot hand out a timestamp below one its
//     successor already has. If the mark applied here is above the last
//     one this oracle knows it wrote, another leader has been handing out
//     timestamps below that mark, and this oracle starts above it.
//
// The confirmation costs a heartbeat round per call, not a log write;
// concurrent calls share rounds (raft.Node batches reads).
type Oracle struct {
	node   *raft.Node
	state  *OracleState
	clock  fault.Clock
	logger *slog.Logger
	fps    *fault.Failpoints
	// trustClock is the planted bug oracle-trusts-clock.
	trustClock bool

	// turn serializes allocations (a mutex callers can stop waiting for).
	turn chan struct{}
	// Owned by whoever holds turn.
	last uint64 // the highest timestamp this oracle has handed out
	mark uint64 // the highest mark this oracle has written or started above
	// lastNowMs is the clock's reading at the last allocation, which the
	// bug TrustClock compares the next reading with.
	lastNowMs uint64
}

// OracleConfig configures an Oracle. The zero value is the default.
type OracleConfig struct {
	// Clock is the node's clock, which timestamps come from. Default: the
	// system clock.
	Clock  fault.Clock
	Logger *slog.Logger
	// Failpoints, if not nil, is the node's registry: NewOracle registers
	// FailOracleBeforePersist and FailOracleAfterPersist in it, and the
	// oracle evaluates them around every raise of the persisted
	// high-water mark.
	Failpoints *fault.Failpoints
	// TrustClock plants the bug oracle-trusts-clock (Bugs.OracleTrustsClock).
	TrustClock bool
}

// Failpoints of the oracle, around the raise of its persisted high-water
// mark, which the leader proposes through Raft before it hands out a
// timestamp at or above the mark in force. Armed with an error, the
// allocation fails (definitely: no timestamp was handed out). Armed with
// crash, the process dies before the new mark is proposed, or after it is
// committed and applied and before any timestamp under it is handed out;
// either way the next leader must start above every timestamp handed out.
const (
	FailOracleBeforePersist = "percolator/oracle-before-persist"
	FailOracleAfterPersist  = "percolator/oracle-after-persist"
)

// NewOracle returns the oracle served by node, whose state machine is state.
func NewOracle(node *raft.Node, state *OracleState, cfg OracleConfig) *Oracle {
	if cfg.Clock == nil {
		cfg.Clock = fault.SystemClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if fps := cfg.Failpoints; fps != nil {
		fps.Register(FailOracleBeforePersist, "on the oracle's leader, before it proposes a higher high-water mark (error: the timestamp request fails)")
		fps.Register(FailOracleAfterPersist, "on the oracle's leader, after a higher high-water mark is committed and applied, before timestamps under it are handed out (error: the timestamp request fails)")
	}
	return &Oracle{node: node, state: state, clock: cfg.Clock, logger: cfg.Logger, fps: cfg.Failpoints,
		trustClock: cfg.TrustClock, turn: make(chan struct{}, 1)}
}

// Allocate hands out count timestamps, first through first+count-1. It
// returns a *raft.NotLeaderError (definite) when this node does not lead
// the oracle group; other errors come from raft (the confirmation read or
// the mark's proposal). Whatever the error, no timestamp was handed out.
func (o *Oracle) Allocate(ctx context.Context, count uint32) (first uint64, err error) {
	if count == 0 {
		return 0, errors.New("oracle: asked for 0 timestamps")
	}
	if st := o.node.Status(); st.Role != raft.Leader {
		return 0, &raft.NotLeaderError{Leader: st.Lead}
	}
	// Confirm before taking the turn, so that concurrent callers share one
	// heartbeat round. Every call confirms after it began, which is what
	// real-time order needs; holding the turn does not matter for it.
	if err := o.node.LinearizableRead(ctx); err != nil {
		return 0, fmt.Errorf("oracle: confirm leadership: %w", err)
	}
	select {
	case o.turn <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-o.turn }()

	if applied := o.state.HighWater(); applied > o.mark {
		if !o.trustClock {
			o.last = max(o.last, ComposeTS(applied, 0))
		}
		o.mark = applied
		o.logger.Info("oracle starting above the high-water mark", "mark_ms", applied)
	}
	now := o.nowMs()
	next := max(o.last+1, ComposeTS(now, 0))
	if o.trustClock && now < o.lastNowMs {
		// The planted bug: the clock is trusted never to go back, so a
		// reading below the last one is taken as it is.
		next = ComposeTS(now, 0)
	}
	o.lastNowMs = now
	end := next + uint64(count) // one past the batch
	if end > ComposeTS(o.mark, 0) {
		if err := o.raiseMark(ctx, max(o.nowMs(), PhysicalMs(end))+uint64(markWindow.Milliseconds())); err != nil {
			return 0, err
		}
	}
	o.last = end - 1
	return next, nil
}

// raiseMark commits mark through Raft and waits for it to apply here.
func (o *Oracle) raiseMark(ctx context.Context, mark uint64) error {
	data, err := proto.Marshal(&percolatorpb.OracleCommand{HighWater: mark})
	if err != nil {
		return fmt.Errorf("oracle: encode high-water mark %d: %w", mark, err)
	}
	if err := o.eval(ctx, FailOracleBeforePersist); err != nil {
		return err
	}
	if err := o.node.Propose(ctx, data); err != nil {
		return fmt.Errorf("oracle: persist high-water mark %d: %w", mark, err)
	}
	if applied := o.state.HighWater(); applied < mark {
		return fmt.Errorf("oracle: high-water mark %d committed but the state machine holds %d", mark, applied)
	}
	// Record our own mark, not what is applied: a higher one applied with
	// it was written by a later leader, and the next call, if this node
	// still leads, must start above it. This call's batch is safe: it is
	// below our mark, which that leader started above.
	o.mark = mark
	return o.eval(ctx, FailOracleAfterPersist)
}

// eval evaluates the failpoint name, if the oracle has a registry.
func (o *Oracle) eval(ctx context.Context, name string) error {
	if o.fps == nil {
		return nil
	}
	return o.fps.Eval(ctx, name)
}

// nowMs is the clock's physical time in milliseconds; a clock set before
// the epoch reads 0 rather than wrapping around.
func (o *Oracle) nowMs() uint64 {
	return uint64(max(0, o.clock.Now().UnixMilli()))
}
