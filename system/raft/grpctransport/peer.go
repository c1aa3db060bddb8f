package grpctransport

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

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
	// call or a full queue and ends with the next successful call; each
	// group hears MsgUnreachable at most once per episode (told). Only
	// failed calls are logged, on the first and when calls succeed again
	// (failing): a queue that overflows under load would log every batch.
	told    map[uint64]bool
	failing bool
}

type dropCount struct{ msgs, snaps int }

func newPeer(t *Transport, cfg Config, id uint64, addr string, conn *grpc.ClientConn) *peer {
	return &peer{
		t:                   t,
		id:                  id,
		addr:                addr,
		log:                 t.log.With("peer", id, "addr", addr),
		conn:                conn,
		client:              raftpb.NewRaftClient(conn),
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

// run is the sender goroutine: it sends everything queued since its last
// call in one call (batching), so at most one call per peer is in flight
// and messages to a peer arrive in the order they were queued. A failed
// call's messages are dropped, not retried: Raft retransmits what still
// matters, and what queued during the failure is fresher.
func (p *peer) run() {
	defer p.t.senders.Done()
	ctx := p.t.ctx
	for {
		select {
		case <-ctx.Done():
			return
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
			if err := p.call(ctx, rest[:n]); err != nil {
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

// envelopeLen is how many of msgs go in the next call: as many as fit in
// maxEnvelopeBytes, and always at least one.
func envelopeLen(msgs []outbound) int {
	size := 0
	for i := range msgs {
		size += wireSize(&msgs[i].msg)
		if size > maxEnvelopeBytes && i > 0 {
			return i
		}
	}
	return len(msgs)
}

// call sends msgs in one unary call. The call's deadline is what keeps a
// stalled peer (SIGSTOPped, or behind a firewall that drops its packets)
// from holding the sender forever: when it passes, gRPC abandons the call,
// the messages are dropped, and the next call starts afresh. A stream would
// need a watchdog to get the same, and could not tell a snapshot delivered.
func (p *peer) call(ctx context.Context, msgs []outbound) error {
	env := &raftpb.Envelope{From: p.t.self, To: p.id}
	timeout := p.sendTimeout
	byGroup := make(map[uint64]*raftpb.Batch)
	for i := range msgs {
		o := &msgs[i]
		b := byGroup[o.group]
		if b == nil {
			b = &raftpb.Batch{GroupId: o.group}
			byGroup[o.group] = b
			env.Batches = append(env.Batches, b)
		}
		b.Messages = append(b.Messages, messageToPB(&o.msg))
		if o.msg.Type == raft.MsgSnap {
			timeout = max(timeout, p.snapshotSendTimeout)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := p.client.Send(ctx, env)
	return err
}

// succeed ends any failure episode and reports delivered snapshots.
func (p *peer) succeed(msgs []outbound) {
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

// failAll reports msgs, which a failed call dropped.
func (p *peer) failAll(msgs []outbound, err error) {
	if !p.failing {
		p.failing = true
		p.log.Warn("peer unreachable; dropping its messages until a call succeeds", "dropped", len(msgs), "err", err)
	}
	for i := range msgs {
		snaps := 0
		if msgs[i].msg.Type == raft.MsgSnap {
			snaps = 1
		}
		p.dropped(msgs[i].group, snaps)
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
