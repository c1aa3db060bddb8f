package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/raftpb"
)

// Handler receives one group's inbound messages and the transport's local
// reports about them (MsgUnreachable, MsgSnapStatus). It is called from the
// transport's goroutines, several at once, and never from within Send; it
// must be safe for concurrent use and must not block for long, since a
// peer's messages wait for it.
type Handler func(m raft.Message)

// Transport carries the messages of any number of Raft groups between this
// node and its peers, over one gRPC connection per peer.
type Transport struct {
	self  uint64
	log   *slog.Logger
	peers map[uint64]*peer // fixed by New

	// ctx is cancelled by Close, aborting calls in flight.
	ctx     context.Context
	cancel  context.CancelFunc
	senders sync.WaitGroup
	closed  atomic.Bool
	once    sync.Once

	mu     sync.RWMutex
	groups map[uint64]Handler
}

// New creates a transport for cfg.Self and starts a sender for every other
// peer in cfg.Peers. Connections are made lazily and remade as needed; an
// unreachable peer is not an error here.
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		self:   cfg.Self,
		log:    cfg.Logger.With("raft_id", cfg.Self),
		peers:  make(map[uint64]*peer, len(cfg.Peers)),
		ctx:    ctx,
		cancel: cancel,
		groups: make(map[uint64]Handler),
	}
	for id, addr := range cfg.Peers {
		if id == cfg.Self {
			continue
		}
		written := new(atomic.Uint64)
		conn, err := grpc.NewClient(addr, append(cfg.dialOptions(), grpc.WithContextDialer(countingDialer(written)))...)
		if err != nil {
			t.closeConns()
			cancel()
			return nil, fmt.Errorf("grpctransport: peer %d at %q: %w", id, addr, err)
		}
		t.peers[id] = newPeer(t, cfg, id, addr, conn, written)
	}
	for _, p := range t.peers {
		t.senders.Add(1)
		go p.run()
	}
	return t, nil
}

// Register adds the transport's Raft service to s, a server the caller
// owns and created with ServerOptions().
func (t *Transport) Register(s grpc.ServiceRegistrar) {
	raftpb.RegisterRaftServer(s, service{t: t})
}

// AddGroup routes group's inbound messages and reports to h, and returns
// the raft.Transport through which that group's driver sends. Adding a
// group that is already present panics: two drivers would share its
// messages.
func (t *Transport) AddGroup(group uint64, h Handler) raft.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.groups[group]; ok {
		panic(fmt.Sprintf("grpctransport: group %d added twice", group))
	}
	t.groups[group] = h
	return groupSender{t: t, group: group}
}

// RemoveGroup stops delivering group's messages and reports; inbound
// messages for it are dropped from now on. Messages it already queued may
// still be sent.
func (t *Transport) RemoveGroup(group uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.groups, group)
}

// Close stops every sender, aborting calls in flight, and closes the
// connections. Afterwards Send does nothing and inbound calls are refused.
// The server the transport was registered on is the caller's to stop.
func (t *Transport) Close() error {
	var err error
	t.once.Do(func() {
		t.closed.Store(true)
		t.cancel()
		t.senders.Wait()
		err = t.closeConns()
	})
	return err
}

func (t *Transport) closeConns() error {
	var errs []error
	for _, p := range t.peers {
		if err := p.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("grpctransport: close connection to peer %d at %q: %w", p.id, p.addr, err))
		}
	}
	return errors.Join(errs...)
}

// handler returns group's handler, or nil once the group is removed or the
// transport closed.
func (t *Transport) handler(group uint64) Handler {
	if t.closed.Load() {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.groups[group]
}

// report hands a local report to group's handler, if it still has one.
func (t *Transport) report(group uint64, m raft.Message) {
	if h := t.handler(group); h != nil {
		h(m)
	}
}

// groupSender is the raft.Transport of one group.
type groupSender struct {
	t     *Transport
	group uint64
}

// Send queues msgs on their peers' queues and returns at once. A message
// of a local type or to an unknown peer is dropped and logged; one that
// finds its peer's queue full is dropped and reported to the group as
// MsgUnreachable (and, for MsgSnap, a failed MsgSnapStatus) by the peer's
// sender.
func (g groupSender) Send(msgs []raft.Message) {
	if g.t.closed.Load() {
		return
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Type.IsLocal() {
			// The receiver would refuse the whole call for it.
			g.t.log.Warn("dropping local message handed to the transport", "group", g.group, "to", m.To, "type", m.Type)
			continue
		}
		p := g.t.peers[m.To]
		if p == nil {
			g.t.log.Debug("dropping message to unknown peer", "group", g.group, "to", m.To, "type", m.Type)
			continue
		}
		p.enqueue(g.group, m)
	}
}
