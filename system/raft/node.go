package raft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/squall-chaos/squall/system/fault"
)

// StateMachine is what a Node replicates. The Node calls it from its one
// goroutine, in log order.
type StateMachine interface {
	// Apply applies committed entries in index order. Entries with nil
	// Data are the leaders' empty entries; skip them.
	Apply(entries []Entry)
	// Snapshot returns an image of the state after the last applied entry.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot's image.
	Restore(s Snapshot) error
}

// SnapshotCapturer is a StateMachine whose snapshots are encoded off the
// node's goroutine, so that a large state does not stop the group while
// it is encoded. The node calls CaptureSnapshot on its goroutine, between
// Applies: it must be cheap (a copy of the state, say) and must not change
// with later Applies. The function it returns encodes that capture, on
// another goroutine, into what Snapshot would have returned then.
type SnapshotCapturer interface {
	CaptureSnapshot() (encode func() ([]byte, error))
}

// NodeConfig configures a Node.
type NodeConfig struct {
	// Config configures the protocol; its Storage and Applied are filled in
	// by StartNode from the fields below.
	Config
	Storage      DurableStorage
	Transport    Transport
	StateMachine StateMachine
	// Clock drives ticks; clock faults injected here change the node's
	// sense of time, as they would a real server's. Default: the system clock.
	Clock fault.Clock
	// TickInterval is the duration of one tick. Default 100ms, which with
	// the default ElectionTick of 10 gives election timeouts of 1-2 s.
	TickInterval time.Duration
	// SnapshotEntries is how many entries may be applied after the last
	// snapshot before the node takes a new one and compacts: each time a
	// number drawn between SnapshotEntries and half as many again, so that
	// the replicas of a group, which apply the same entries, do not all
	// stop to snapshot at the same moment. Default 10000.
	SnapshotEntries uint64
	// SnapshotPacedBySize also holds a snapshot back until the entries
	// applied since the last one hold at least as many bytes of data as
	// that snapshot's image. A state machine whose snapshots cost in
	// proportion to its state then spends about as much on snapshots per
	// byte logged however large its state grows, instead of re-encoding
	// a large state every SnapshotEntries entries. The price is a longer
	// log, in memory and on disk, to replay on restart: up to the last
	// snapshot's size (plus SnapshotRetain entries), which is the state's
	// size unless the state has since shrunk.
	SnapshotPacedBySize bool
	// SnapshotRetain is how many entries a compaction keeps before the
	// snapshot point, so that slightly lagging followers catch up from the
	// log instead of a snapshot. Default 1000.
	SnapshotRetain uint64
	// MaxProposalBatch bounds the proposals combined into one append.
	// Default 4096.
	MaxProposalBatch int
	// Failpoints, if not nil, is the node's registry: StartNode registers
	// FailBeforeApply in it, and the node evaluates it before it applies
	// committed entries. Several groups of a process may share it.
	Failpoints *fault.Failpoints
	Logger     *slog.Logger
}

// FailBeforeApply is the failpoint a Node evaluates between persisting a
// Ready (and sending its messages) and applying the Ready's committed
// entries to the state machine, when there are any. Armed with sleep, it
// holds the node's goroutine, so the entries are committed but not yet
// applied here, and proposals waiting on them wait. Armed with an error,
// the node stops with that error, as on a storage failure, before
// applying them; a restarted node applies them from its log. Armed with
// crash, the process dies there.
const FailBeforeApply = "raft/before-apply"

// Errors a Node returns. A definite error means the operation certainly
// had no effect; an indeterminate one means it may have taken effect.
var (
	// ErrStopped: the node stopped. Indeterminate for a proposal that was
	// already handed to the node.
	ErrStopped = errors.New("raft: node stopped")
	// ErrProposalLost: another entry was committed at the proposal's
	// index, so the proposal never will be. Definite.
	ErrProposalLost = errors.New("raft: proposal lost to a leader change")
	// ErrOutcomeUnknown: a snapshot from the leader replaced the log before
	// this node learned the proposal's fate. Indeterminate.
	ErrOutcomeUnknown = errors.New("raft: proposal outcome unknown (replaced by a snapshot)")
	// ErrReadTimeout: a ReadIndex request got no answer in two to three
	// election timeouts (its messages were lost, or leadership moved;
	// requests are expired once per election timeout). Definite: a read
	// has no effect; retry.
	ErrReadTimeout = errors.New("raft: read index request timed out")
)

// NotLeaderError is returned for proposals and reads made at a node that
// cannot serve them. Definite. Leader is the node believed to lead, or None.
type NotLeaderError struct{ Leader uint64 }

func (e *NotLeaderError) Error() string {
	if e.Leader == None {
		return "raft: not the leader (leader unknown)"
	}
	return fmt.Sprintf("raft: not the leader (leader is %d)", e.Leader)
}

// Node drives a Core: it ticks it from the clock, feeds it messages and
// proposals, persists and sends what its Ready asks, and applies committed
// entries to the state machine. All of it happens on one goroutine, which
// is what lets proposals that arrive during an fsync share the next one
// (group commit).
type Node struct {
	cfg    NodeConfig
	core   *Core
	logger *slog.Logger

	propc     chan *proposal
	recvc     chan Message
	readc     chan *readRequest
	transferc chan uint64
	stopc     chan struct{}
	donec     chan struct{}
	stopOnce  sync.Once

	// Owned by the run goroutine.
	waiters map[uint64]*proposal
	// reads maps a ReadIndex request context to the callers it answers:
	// every read that arrived while the previous batch was being handled
	// shares one heartbeat round.
	reads     map[string]*readBatch
	readSeq   uint64
	applied   uint64
	snapIndex uint64
	// snapAfter is how many applied entries past snapIndex trigger the
	// next snapshot (see NodeConfig.SnapshotEntries).
	snapAfter uint64
	// snapBytes is the size of the last snapshot's image, and
	// loggedBytes the data of the entries applied since it was captured
	// (see NodeConfig.SnapshotPacedBySize).
	snapBytes, loggedBytes uint64
	// encoding is set while a SnapshotCapturer's capture is encoded; the
	// image comes back on encoded.
	encoding bool
	encoded  chan snapshotImage
	// snapshotting counts the goroutines encoding (and writing) a
	// snapshot: Stop waits for them, so none writes to a storage its
	// owner has closed.
	snapshotting sync.WaitGroup

	statusMu sync.Mutex
	status   Status
	err      error

	appliedMu     sync.Mutex
	appliedNotify chan struct{}
	appliedIndex  uint64

	// leaseIndex is the core's LeaseRead index as of the last step, 0
	// when it has no lease: lease reads load it without waiting for the
	// node's goroutine.
	leaseIndex atomic.Uint64
}

type proposal struct {
	ctx         context.Context
	data        []byte
	term, index uint64
	done        chan error
}

type readRequest struct {
	index uint64
	done  chan error
}

type readBatch struct {
	tick     uint64
	requests []*readRequest
}

func (b *readBatch) finish(index uint64, err error) {
	for _, r := range b.requests {
		r.index = index
		r.done <- err
	}
}

// StartNode recovers the state machine from storage's snapshot, builds the
// core and starts the node's goroutine. Entries after the snapshot are
// re-applied as the node learns they are committed.
func StartNode(cfg NodeConfig) (*Node, error) {
	if cfg.Storage == nil || cfg.Transport == nil || cfg.StateMachine == nil {
		return nil, errors.New("raft: node config needs Storage, Transport and StateMachine")
	}
	if cfg.Clock == nil {
		cfg.Clock = fault.SystemClock()
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.SnapshotEntries == 0 {
		cfg.SnapshotEntries = 10000
	}
	if cfg.SnapshotRetain == 0 {
		cfg.SnapshotRetain = 1000
	}
	if cfg.MaxProposalBatch <= 0 {
		cfg.MaxProposalBatch = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Failpoints != nil {
		cfg.Failpoints.Register(FailBeforeApply, "in a raft group's node, after committed entries are persisted and before they are applied (error: the node stops, unapplied)")
	}
	snap, err := cfg.Storage.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("raft: read snapshot: %w", err)
	}
	if !snap.IsEmpty() {
		if err := cfg.StateMachine.Restore(snap); err != nil {
			return nil, fmt.Errorf("raft: restore snapshot at index %d: %w", snap.Meta.Index, err)
		}
	}
	cfg.Config.Storage = cfg.Storage
	cfg.Config.Applied = snap.Meta.Index
	core, err := NewCore(cfg.Config)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:           cfg,
		core:          core,
		logger:        cfg.Logger.With("raft", cfg.ID),
		propc:         make(chan *proposal, cfg.MaxProposalBatch),
		recvc:         make(chan Message, 4096),
		readc:         make(chan *readRequest, 1024),
		transferc:     make(chan uint64),
		stopc:         make(chan struct{}),
		donec:         make(chan struct{}),
		waiters:       make(map[uint64]*proposal),
		reads:         make(map[string]*readBatch),
		applied:       snap.Meta.Index,
		snapIndex:     snap.Meta.Index,
		snapAfter:     snapshotInterval(cfg.SnapshotEntries),
		snapBytes:     uint64(len(snap.Data)),
		encoded:       make(chan snapshotImage, 1),
		appliedNotify: make(chan struct{}),
		appliedIndex:  snap.Meta.Index,
	}
	n.status = core.Status()
	go n.run()
	return n, nil
}

// Receive hands the node a message from the transport. It never blocks:
// when the node is overwhelmed the message is dropped, and Raft's
// retransmissions make up for it.
func (n *Node) Receive(m Message) {
	select {
	case n.recvc <- m:
	default:
	}
}

// Propose replicates data and returns once it is committed and applied on
// this node. A context error after the proposal was handed over is
// indeterminate: the entry may still commit.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		// Empty data marks a leader's no-op entry; state machines skip it.
		return errors.New("raft: empty proposal")
	}
	p := &proposal{ctx: ctx, data: data, done: make(chan error, 1)}
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
}

// ReadIndex returns an index such that a read of the state machine, once it
// has applied that index, is linearizable (Raft thesis 6.4). It costs a
// heartbeat round, not a log write (or nothing, with lease-based reads).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	r := &readRequest{done: make(chan error, 1)}
	select {
	case n.readc <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		return 0, ErrStopped
	}
	select {
	case err := <-r.done:
		return r.index, err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		return 0, ErrStopped
	}
}

// LeaseRead returns, while the node leads under a lease (ReadOnlyLeaseBased)
// as of its last step, the index a read must wait for (WaitApplied) to be
// linearizable; ok is false otherwise, and the read needs ReadIndex. It
// costs a load, not a trip through the node's goroutine. The lease is
// timed in the node's ticks, which stop while its goroutine does: a node
// frozen and thawed goes on answering until it steps, as its lease says.
func (n *Node) LeaseRead() (index uint64, ok bool) {
	index = n.leaseIndex.Load()
	return index, index > 0
}

// WaitApplied blocks until the state machine has applied index.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		n.appliedMu.Lock()
		applied, notify := n.appliedIndex, n.appliedNotify
		n.appliedMu.Unlock()
		if applied >= index {
			return nil
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.donec:
			return ErrStopped
		}
	}
}

// LinearizableRead returns once the state machine may serve a
// linearizable read: ReadIndex, then WaitApplied.
func (n *Node) LinearizableRead(ctx context.Context) error {
	index, err := n.ReadIndex(ctx)
	if err != nil {
		return err
	}
	return n.WaitApplied(ctx, index)
}

// TransferLeadership asks the leader to hand leadership to transferee and
// waits until the node sees it lead.
func (n *Node) TransferLeadership(ctx context.Context, transferee uint64) error {
	select {
	case n.transferc <- transferee:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	ticker := n.cfg.Clock.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for n.Status().Lead != transferee {
		select {
		case <-ticker.C():
		case <-ctx.Done():
			return ctx.Err()
		case <-n.donec:
			return ErrStopped
		}
	}
	return nil
}

// Status reports the node's state as of its last step.
func (n *Node) Status() Status {
	n.statusMu.Lock()
	defer n.statusMu.Unlock()
	return n.status
}

// Err returns the error that stopped the node, if a storage failure (or
// an error injected at FailBeforeApply) did.
func (n *Node) Err() error {
	n.statusMu.Lock()
	defer n.statusMu.Unlock()
	return n.err
}

// Done is closed when the node has stopped.
func (n *Node) Done() <-chan struct{} { return n.donec }

// Stop stops the node and waits for its goroutine. It does not close the
// storage or the transport, which the caller owns.
func (n *Node) Stop() {
	n.stopOnce.Do(func() { close(n.stopc) })
	<-n.donec
	n.snapshotting.Wait()
}

func (n *Node) run() {
	defer close(n.donec)
	ticker := n.cfg.Clock.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	var err error
	for err == nil {
		select {
		case <-ticker.C():
			n.core.Tick()
			n.expire()
		case p := <-n.propc:
			n.propose(p)
		case m := <-n.recvc:
			n.step(m)
		drain:
			for range cap(n.recvc) {
				select {
				case m := <-n.recvc:
					n.step(m)
				default:
					break drain
				}
			}
		case r := <-n.readc:
			n.read(r)
		case to := <-n.transferc:
			n.core.TransferLeadership(to)
		case img := <-n.encoded:
			n.encoding = false
			if err = img.err; err != nil {
				err = fmt.Errorf("raft: snapshot state machine at %d: %w", img.index, err)
				continue
			}
			if img.overtaken {
				continue
			}
			if err = n.saveSnapshot(img.index, img.peers, img.data, img.size); err != nil {
				continue
			}
		case <-n.stopc:
			n.failAll(ErrStopped)
			return
		}
		err = n.handleReady()
	}
	// Storage failed (or a failpoint failed the apply). Going on could
	// break the promises made for what was acknowledged as persisted; stop.
	n.logger.Error("raft node stopping on failure", "err", err)
	n.statusMu.Lock()
	n.err = err
	n.statusMu.Unlock()
	n.failAll(ErrStopped)
}

func (n *Node) step(m Message) {
	if err := n.core.Step(m); err != nil && !errors.Is(err, ErrProposalDropped) {
		n.logger.Debug("raft: dropped message", "type", m.Type, "from", m.From, "err", err)
	}
}

// propose appends p and every proposal queued behind it as one batch.
func (n *Node) propose(p *proposal) {
	batch := []*proposal{p}
	for len(batch) < n.cfg.MaxProposalBatch {
		select {
		case p := <-n.propc:
			batch = append(batch, p)
			continue
		default:
		}
		break
	}
	data := make([][]byte, len(batch))
	for i, p := range batch {
		data[i] = p.data
	}
	if err := n.core.Propose(data...); err != nil {
		err = n.notLeader(err)
		for _, p := range batch {
			p.done <- err
		}
		return
	}
	st := n.core.Status()
	first := st.LastIndex - uint64(len(batch)) + 1
	for i, p := range batch {
		p.term, p.index = st.Term, first+uint64(i)
		if old := n.waiters[p.index]; old != nil {
			old.done <- ErrProposalLost // its entry was overwritten
		}
		n.waiters[p.index] = p
	}
}

func (n *Node) notLeader(err error) error {
	if errors.Is(err, ErrProposalDropped) {
		lead := n.core.Status().Lead
		if lead == n.cfg.ID {
			lead = None // we lead but are transferring leadership
		}
		return &NotLeaderError{Leader: lead}
	}
	return err
}

// read asks the core for one read index on behalf of r and every read
// queued behind it.
func (n *Node) read(r *readRequest) {
	batch := &readBatch{tick: n.core.ticks, requests: []*readRequest{r}}
	for len(batch.requests) < cap(n.readc) {
		select {
		case r := <-n.readc:
			batch.requests = append(batch.requests, r)
			continue
		default:
		}
		break
	}
	n.readSeq++
	key := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, n.cfg.ID), n.readSeq)
	if err := n.core.ReadIndex(key); err != nil {
		batch.finish(0, n.notLeader(err))
		return
	}
	n.reads[string(key)] = batch
}

// expire fails reads that went unanswered for two election timeouts and
// forgets proposals whose callers gave up.
func (n *Node) expire() {
	if n.core.ticks%uint64(n.core.electionTimeout) != 0 {
		return
	}
	for k, b := range n.reads {
		if n.core.ticks-b.tick >= 2*uint64(n.core.electionTimeout) {
			b.finish(0, ErrReadTimeout)
			delete(n.reads, k)
		}
	}
	for i, p := range n.waiters {
		if p.ctx.Err() != nil {
			delete(n.waiters, i)
		}
	}
}

func (n *Node) handleReady() error {
	// Before the Ready's messages leave: a follower told of a commit
	// acknowledges writes a lease read here must see.
	index, _ := n.core.LeaseRead()
	n.leaseIndex.Store(index)
	for n.core.HasReady() {
		rd := n.core.Ready()
		if ss := rd.SoftState; ss != nil {
			n.logger.Info("raft role change", "role", ss.Role.String(), "leader", ss.Lead, "term", n.core.term)
			// Reads in flight were addressed to the old leadership; the
			// new one will not answer them.
			n.failReads(&NotLeaderError{Leader: ss.Lead})
		}
		// Entries, votes and snapshots must be durable before any message
		// that depends on them leaves. A commit-index change alone is not
		// worth an fsync: it is relearned from the leader.
		msgs := rd.Messages
		if rd.MustSync {
			// The core's prevHard is the hard state of the last Ready
			// carried out, and so, in term and vote, the one persisted.
			prev := n.core.prevHard
			termOrVote := !rd.HardState.IsEmpty() &&
				(rd.HardState.Term != prev.Term || rd.HardState.Vote != prev.Vote)
			if !termOrVote {
				// A leader's appends and heartbeats do not depend on its own
				// copy being durable (Raft thesis 10.2.1): send them first, so
				// followers write while the leader does. The leader's copy
				// counts toward a commit only through acknowledgements, which
				// this goroutine handles after the fsync below returns.
				var early []Message
				early, msgs = splitEarlyMessages(msgs)
				if len(early) > 0 {
					n.cfg.Transport.Send(early)
				}
			}
			if err := n.cfg.Storage.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
				return fmt.Errorf("raft: persist: %w", err)
			}
		}
		if len(msgs) > 0 {
			n.cfg.Transport.Send(msgs)
		}
		if s := rd.Snapshot; s != nil {
			if err := n.cfg.StateMachine.Restore(*s); err != nil {
				return fmt.Errorf("raft: restore snapshot at index %d: %w", s.Meta.Index, err)
			}
			n.applied, n.snapIndex = s.Meta.Index, s.Meta.Index
			n.snapBytes, n.loggedBytes = uint64(len(s.Data)), 0
			for i, p := range n.waiters {
				if i <= s.Meta.Index {
					p.done <- ErrOutcomeUnknown
					delete(n.waiters, i)
				}
			}
		}
		if ents := rd.CommittedEntries; len(ents) > 0 {
			if fps := n.cfg.Failpoints; fps != nil {
				if err := fps.Eval(context.Background(), FailBeforeApply); err != nil {
					return fmt.Errorf("raft: apply entries %d-%d: %w", ents[0].Index, ents[len(ents)-1].Index, err)
				}
			}
			n.cfg.StateMachine.Apply(ents)
			n.applied = ents[len(ents)-1].Index
			for _, e := range ents {
				n.loggedBytes += uint64(len(e.Data))
				if p := n.waiters[e.Index]; p != nil {
					delete(n.waiters, e.Index)
					if p.term == e.Term {
						p.done <- nil
					} else {
						p.done <- ErrProposalLost
					}
				}
			}
		}
		for _, rs := range rd.ReadStates {
			if b := n.reads[string(rs.RequestCtx)]; b != nil {
				delete(n.reads, string(rs.RequestCtx))
				b.finish(rs.Index, nil)
			}
		}
		n.core.Advance(rd)
		n.publishApplied()
		if err := n.maybeSnapshot(); err != nil {
			return err
		}
	}
	n.statusMu.Lock()
	n.status = n.core.Status()
	n.statusMu.Unlock()
	return nil
}

// splitEarlyMessages separates the messages that need not wait for this
// Ready's fsync from the rest. Given that the term and vote did not change
// (the caller checks), none of these claims anything about this node's log:
// a leader's appends and heartbeats (its own copy counts only through
// acknowledgements), and the heartbeat and read-index traffic that confirms
// a leader for reads, which must not queue behind a follower's fsync.
// Append acknowledgements (MsgAppResp) and votes always wait.
func splitEarlyMessages(msgs []Message) (early, rest []Message) {
	for _, m := range msgs {
		switch m.Type {
		case MsgApp, MsgHeartbeat, MsgSnap, MsgHeartbeatResp, MsgReadIndex, MsgReadIndexResp:
			early = append(early, m)
		default:
			rest = append(rest, m)
		}
	}
	return early, rest
}

func (n *Node) publishApplied() {
	n.appliedMu.Lock()
	defer n.appliedMu.Unlock()
	if n.applied > n.appliedIndex {
		n.appliedIndex = n.applied
		close(n.appliedNotify)
		n.appliedNotify = make(chan struct{})
	}
}

// snapshotInterval draws the number of applied entries after which the
// next snapshot is due: between entries and half as many again.
func snapshotInterval(entries uint64) uint64 {
	return entries + rand.Uint64N(entries/2+1)
}

func (n *Node) maybeSnapshot() error {
	if n.encoding || n.applied-n.snapIndex < n.snapAfter ||
		n.cfg.SnapshotPacedBySize && n.loggedBytes < n.snapBytes {
		return nil
	}
	n.loggedBytes = 0
	if c, ok := n.cfg.StateMachine.(SnapshotCapturer); ok {
		index, peers, encode := n.applied, n.core.Peers(), c.CaptureSnapshot()
		n.encoding = true
		n.snapshotting.Add(1)
		go func() {
			defer n.snapshotting.Done()
			n.encoded <- n.encodeSnapshot(index, peers, encode)
		}()
		return nil
	}
	data, err := n.cfg.StateMachine.Snapshot()
	if err != nil {
		return fmt.Errorf("raft: snapshot state machine at %d: %w", n.applied, err)
	}
	return n.saveSnapshot(n.applied, n.core.Peers(), data, len(data))
}

// encodeSnapshot runs off the node's goroutine: it encodes a capture and,
// if the storage can (SnapshotWriter), makes the image durable too, so
// that the node's goroutine is left only the log's compaction.
func (n *Node) encodeSnapshot(index uint64, peers []uint64, encode func() ([]byte, error)) snapshotImage {
	img := snapshotImage{index: index, peers: peers}
	data, err := encode()
	img.size = len(data)
	if err != nil {
		img.err = err
		return img
	}
	w, ok := n.cfg.Storage.(SnapshotWriter)
	if !ok {
		img.data = data
		return img
	}
	switch err := w.WriteSnapshot(index, peers, data, n.cfg.SnapshotRetain); {
	case errors.Is(err, ErrSnapOutOfDate):
		img.overtaken = true
	case err != nil:
		img.err = err
	}
	return img
}

// snapshotImage is a state machine's snapshot at index, encoded: data, or
// nil once the storage holds it (SnapshotWriter).
type snapshotImage struct {
	index uint64
	peers []uint64
	data  []byte
	size  int
	// overtaken is set if a snapshot installed from the leader while this
	// one was encoded made it useless.
	overtaken bool
	err       error
}

// saveSnapshot persists a snapshot at index and compacts the log behind
// it. A snapshot that a newer one (installed from the leader while it was
// encoded) has overtaken is dropped.
func (n *Node) saveSnapshot(index uint64, peers []uint64, data []byte, size int) error {
	if err := n.cfg.Storage.CreateSnapshot(index, peers, data, n.cfg.SnapshotRetain); err != nil {
		if errors.Is(err, ErrSnapOutOfDate) {
			return nil
		}
		return fmt.Errorf("raft: save snapshot at %d: %w", index, err)
	}
	n.snapIndex, n.snapBytes = index, uint64(size)
	n.snapAfter = snapshotInterval(n.cfg.SnapshotEntries)
	n.logger.Debug("raft snapshot", "index", index, "bytes", size)
	return nil
}

func (n *Node) failReads(err error) {
	for k, b := range n.reads {
		b.finish(0, err)
		delete(n.reads, k)
	}
}

func (n *Node) failAll(err error) {
	n.failReads(err)
	for i, p := range n.waiters {
		p.done <- err
		delete(n.waiters, i)
	}
}
