package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/raftpb"
)

// outbound is a queued message and the group it belongs to.
type outbound struct {
	group uint64
	msg   raft.Message
}

// peer is the sending side of the connection to one other node: a bounded
// queue that Send fills, and a sender goroutine (run) that empties it.
type peer struct {
	t      *Transport
	id     uint64
	addr   string
	log    *slog.Logger
	conn   *grpc.ClientConn
	client raftpb.RaftClient

	// written counts the bytes written to conn, for the send watchdog.
	written *atomic.Uint64

	clock               fault.Clock
	queueSize           int
	sendTimeout         time.Duration
	snapshotSendTimeout time.Duration

	// wake holds a token when the queue may be non-empty.
	wake chan struct{}

	mu    sync.Mutex
	queue []outbound
	spare []outbound // the sender's last, emptied queue, reused to spare allocations
	// overflow counts, per group, the messages Send dropped because the
	// queue was full, and the MsgSnaps among them, for the sender to report.
	overflow map[uint64]dropCount

	// Owned by the sender goroutine. A failure episode begins with a failed
	// send, a broken stream or a full queue, and ends with the next
	// successful send; each group hears MsgUnreachable at most once per
	// episode (told). Only failed sends are logged, on the first and when
	// sends succeed again (failing): a queue that overflows under load
	// would log every batch.
	told    map[uint64]bool
	failing bool
	stream  *outStream // nil until the first send, and after one fails
}

type dropCount struct{ msgs, snaps int }

func newPeer(t *Transport, cfg Config, id uint64, addr string, conn *grpc.ClientConn, written *atomic.Uint64) *peer {
	return &peer{
		written:             written,
		t:                   t,
		id:                  id,
		addr:                addr,
		log:                 t.log.With("peer", id, "addr", addr),
		conn:                conn,
		client:              raftpb.NewRaftClient(conn),
		clock:               cfg.Clock,
		queueSize:           cfg.QueueSize,
		sendTimeout:         cfg.SendTimeout,
		snapshotSendTimeout: cfg.SnapshotSendTimeout,
		wake:                make(chan struct{}, 1),
		overflow:            make(map[uint64]dropCount),
		told:                make(map[uint64]bool),
	}
}

// enqueue adds m to the queue, or drops it if the queue is full. It never
// blocks on the network; the copy of m shares its slices.
func (p *peer) enqueue(group uint64, m *raft.Message) {
	p.mu.Lock()
	if len(p.queue) < p.queueSize {
		p.queue = append(p.queue, outbound{group: group, msg: *m})
	} else {
		d := p.overflow[group]
		d.msgs++
		if m.Type == raft.MsgSnap {
			d.snaps++
		}
		p.overflow[group] = d
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take empties the queue and the overflow counts.
func (p *peer) take() ([]outbound, map[uint64]dropCount) {
	p.mu.Lock()
	defer p.mu.Unlock()
	queued := p.queue
	p.queue, p.spare = p.spare[:0], nil
	var over map[uint64]dropCount
	if len(p.overflow) > 0 {
		over = p.overflow
		p.overflow = make(map[uint64]dropCount)
	}
	return queued, over
}

// recycle hands an emptied queue back for reuse, first clearing it so the
// messages' payloads can be collected.
func (p *peer) recycle(queued []outbound) {
	clear(queued)
	p.mu.Lock()
	p.spare = queued[:0]
	p.mu.Unlock()
}

// run is the sender goroutine: it sends everything queued since it last
// looked (batching), in order, so messages to a peer arrive in the order
// they were queued. Snapshots go in unary calls of their own, whose reply
// proves delivery; everything else goes on one long-lived stream, so a
// batch leaves without waiting for the last one's reply and costs no call
// of its own. A batch that fails to send is dropped, not retried: Raft
// retransmits what still matters, and what queued during the failure is
// fresher.
func (p *peer) run() {
	defer p.t.senders.Done()
	ctx := p.t.ctx
	defer p.closeStream()
	for {
		var ended <-chan struct{}
		if p.stream != nil {
			ended = p.stream.ended
		}
		select {
		case <-ctx.Done():
			return
		case <-ended:
			p.streamBroke(p.stream.err)
			continue
		case <-p.wake:
		}
		queued, over := p.take()
		for group, d := range over {
			p.log.Debug("queue full; dropped messages", "group", group, "count", d.msgs)
			p.dropped(group, d.snaps)
		}
		rest := queued
		for len(rest) > 0 && ctx.Err() == nil {
			n := envelopeLen(rest)
			var err error
			if rest[0].msg.Type == raft.MsgSnap {
				// What went on the stream before the snapshot arrives
				// first: the stream is drained and closed, then the call
				// made.
				if err = p.drainStream(); err == nil {
					err = p.call(ctx, rest[:n])
				}
			} else {
				err = p.streamSend(ctx, rest[:n])
			}
			if err != nil {
				if ctx.Err() != nil {
					return // closing: nobody is left to report to
				}
				p.failAll(rest, err)
				break
			}
			p.succeed(rest[:n])
			rest = rest[n:]
		}
		p.recycle(queued)
	}
}

// envelopeLen is how many of msgs go in the next envelope: a snapshot
// alone, else the messages up to the next snapshot that fit in
// maxEnvelopeBytes, and always at least one.
func envelopeLen(msgs []outbound) int {
	if msgs[0].msg.Type == raft.MsgSnap {
		return 1
	}
	size := 0
	for i := range msgs {
		size += wireSize(&msgs[i].msg)
		if i > 0 && (size > maxEnvelopeBytes || msgs[i].msg.Type == raft.MsgSnap) {
			return i
		}
	}
	return len(msgs)
}

// envelope packs msgs into one envelope, a batch per group.
func (p *peer) envelope(msgs []outbound) *raftpb.Envelope {
	env := &raftpb.Envelope{From: p.t.self, To: p.id}
	for i := range msgs {
		b := batchFor(env, msgs[i].group)
		b.Messages = append(b.Messages, messageToPB(&msgs[i].msg))
	}
	return env
}

// batchFor returns env's batch for group, adding it if it has none.
func batchFor(env *raftpb.Envelope, group uint64) *raftpb.Batch {
	for _, b := range env.Batches {
		if b.GroupId == group {
			return b
		}
	}
	b := &raftpb.Batch{GroupId: group}
	env.Batches = append(env.Batches, b)
	return b
}

// call sends msgs, a snapshot, in one unary call, whose reply says the
// peer's handler has it. The call's deadline is what keeps a stalled peer
// (SIGSTOPped, or behind a firewall that drops its packets) from holding
// the sender forever: when it passes, gRPC abandons the call.
func (p *peer) call(ctx context.Context, msgs []outbound) error {
	ctx, cancel := context.WithTimeout(ctx, p.snapshotSendTimeout)
	defer cancel()
	_, err := p.client.Send(ctx, p.envelope(msgs))
	return err
}

// outStream is the peer's open Stream call. The sender goroutine owns it;
// a goroutine of its own reads the receiver's one Ack and then waits for
// the stream to end, so that a refusal or a broken connection is noticed
// even when nothing more is sent.
type outStream struct {
	client raftpb.Raft_StreamClient
	cancel context.CancelFunc
	// watchdog cancels the stream when a Send makes no progress for the
	// send timeout: a peer that stopped reading (SIGSTOPped, or behind a
	// firewall that drops its packets) lets gRPC's flow-control window
	// fill, and Send then waits for room that never comes.
	watchdog *watchdog
	ended    chan struct{} // closed when the stream has ended
	// err is why it ended, io.EOF if the receiver ended it without error
	// (after CloseSend); read once ended is closed.
	err error
	// confirmed is set once the receiver acknowledged the stream's first
	// envelope: only then does a send on it show that the peer is
	// reachable. A peer that refuses every stream (it is another node)
	// would otherwise end the failure episode with each one.
	confirmed atomic.Bool
	// groups are those that sent on the stream: when it breaks, what they
	// sent may be lost, and each hears MsgUnreachable.
	groups map[uint64]bool
}

// streamSend sends msgs as one envelope on the peer's stream, opening one
// if none is open. A nil error means gRPC took the envelope, not that the
// peer has it: if the stream breaks later, its groups hear so then.
func (p *peer) streamSend(ctx context.Context, msgs []outbound) error {
	if s := p.stream; s != nil {
		select {
		case <-s.ended:
			// It ended while the sender was busy: report that, and send
			// on a new one rather than lose this batch to the old.
			p.streamBroke(s.err)
		default:
		}
	}
	if p.stream == nil {
		if err := p.openStream(ctx); err != nil {
			return err
		}
	}
	s := p.stream
	for i := range msgs {
		s.groups[msgs[i].group] = true
	}
	env := p.envelope(msgs)
	err := p.watched(s, func() error {
		err := s.client.Send(env)
		if errors.Is(err, io.EOF) {
			// The stream had ended; its end says why. (Other errors, such
			// as an envelope over the size limit, leave the stream open:
			// then streamBroke ends it.)
			<-s.ended
			return s.err
		}
		return err
	})
	if err != nil {
		p.streamBroke(err)
	}
	return err
}

// watched runs step, which may wait for the peer to take data, under s's
// watchdog: if the peer takes nothing for the send timeout, the watchdog
// cancels the stream, which ends step, and watched says so.
func (p *peer) watched(s *outStream, step func() error) error {
	s.watchdog.arm()
	err := step()
	if s.watchdog.disarm() {
		return fmt.Errorf("peer took nothing for %v", p.sendTimeout)
	}
	return err
}

func (p *peer) openStream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	client, err := p.client.Stream(ctx)
	if err != nil {
		cancel()
		return err
	}
	s := &outStream{client: client, cancel: cancel, ended: make(chan struct{}), groups: make(map[uint64]bool)}
	s.watchdog = newWatchdog(p.clock, p.sendTimeout, p.written, cancel, s.ended)
	go func() {
		for {
			if _, err := client.Recv(); err != nil {
				s.err = err
				close(s.ended)
				return
			}
			s.confirmed.Store(true)
		}
	}()
	p.stream = s
	return nil
}

// drainStream closes the peer's stream, if one is open, once the peer has
// everything sent on it: the receiver ends a stream without error only
// after delivering all of it. It waits at most the send timeout.
func (p *peer) drainStream() error {
	s := p.stream
	if s == nil {
		return nil
	}
	err := p.watched(s, func() error {
		if err := s.client.CloseSend(); err != nil {
			return err
		}
		<-s.ended
		if errors.Is(s.err, io.EOF) {
			return nil
		}
		return s.err
	})
	if err != nil {
		p.streamBroke(err)
		return err
	}
	p.closeStream()
	return nil
}

// streamBroke handles a stream that ended by itself: what its groups sent
// may be lost.
func (p *peer) streamBroke(err error) {
	if errors.Is(err, io.EOF) {
		err = errors.New("peer ended the stream")
	}
	groups := p.stream.groups
	p.closeStream()
	p.beginEpisode(err)
	for group := range groups {
		p.dropped(group, 0)
	}
}

// closeStream ends the peer's stream, if one is open.
func (p *peer) closeStream() {
	if p.stream == nil {
		return
	}
	p.stream.watchdog.disarm()
	p.stream.cancel()
	<-p.stream.ended
	p.stream = nil
}

// succeed ends any failure episode and reports delivered snapshots. A
// send on a stream the receiver has not yet acknowledged shows nothing.
func (p *peer) succeed(msgs []outbound) {
	if msgs[0].msg.Type != raft.MsgSnap && (p.stream == nil || !p.stream.confirmed.Load()) {
		return
	}
	clear(p.told)
	if p.failing {
		p.failing = false
		p.log.Info("peer reachable again")
	}
	for i := range msgs {
		if msgs[i].msg.Type == raft.MsgSnap {
			p.t.report(msgs[i].group, p.snapStatus(false))
		}
	}
}

// failAll reports msgs, which a failed send dropped.
func (p *peer) failAll(msgs []outbound, err error) {
	p.beginEpisode(err, "dropped", len(msgs))
	for i := range msgs {
		snaps := 0
		if msgs[i].msg.Type == raft.MsgSnap {
			snaps = 1
		}
		p.dropped(msgs[i].group, snaps)
	}
}

// beginEpisode logs err, with attrs, if no failure episode is under way,
// and starts one.
func (p *peer) beginEpisode(err error, attrs ...any) {
	if !p.failing {
		p.failing = true
		p.log.Warn("peer unreachable; dropping its messages until a send succeeds", append(attrs, "err", err)...)
	}
}

// dropped reports that messages of group were dropped, snaps of them
// MsgSnaps: MsgUnreachable unless group was told so already in this
// episode, and a failed MsgSnapStatus per snapshot.
func (p *peer) dropped(group uint64, snaps int) {
	if !p.told[group] {
		p.told[group] = true
		p.t.report(group, raft.Message{Type: raft.MsgUnreachable, From: p.id, To: p.t.self})
	}
	for range snaps {
		p.t.report(group, p.snapStatus(true))
	}
}

func (p *peer) snapStatus(failed bool) raft.Message {
	return raft.Message{Type: raft.MsgSnapStatus, From: p.id, To: p.t.self, Reject: failed}
}
