package grpctransport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/raftpb"
)

// hangGuard bounds every wait in these tests. It is far longer than any
// wait should take on a slow machine: it only turns a hang into a failure.
const hangGuard = 30 * time.Second

// inbox collects what a group's handler receives.
type inbox chan raft.Message

func newInbox() inbox { return make(inbox, 1<<16) }

func (in inbox) handler(m raft.Message) { in <- m }

// next returns the next message that match accepts, skipping others.
func (in inbox) next(t *testing.T, what string, match func(raft.Message) bool) raft.Message {
	t.Helper()
	guard := time.After(hangGuard)
	for {
		select {
		case m := <-in:
			if match(m) {
				return m
			}
		case <-guard:
			t.Fatalf("no %s within %v", what, hangGuard)
		}
	}
}

func ofType(typ raft.MessageType) func(raft.Message) bool {
	return func(m raft.Message) bool { return m.Type == typ }
}

// node is one transport serving on a loopback listener.
type node struct {
	id  uint64
	tr  *Transport
	srv *grpc.Server
}

func (n *node) stop() {
	n.srv.Stop()
	n.tr.Close()
}

// listen reserves a loopback address per id.
func listen(t testing.TB, ids ...uint64) (map[uint64]string, map[uint64]net.Listener) {
	t.Helper()
	addrs, lis := map[uint64]string{}, map[uint64]net.Listener{}
	for _, id := range ids {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[id], lis[id] = l.Addr().String(), l
	}
	return addrs, lis
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startNode serves a transport for id on l; tweak may adjust its config.
func startNode(t *testing.T, id uint64, peers map[uint64]string, l net.Listener, tweak func(*Config)) *node {
	t.Helper()
	cfg := Config{Self: id, Peers: peers, Logger: testLogger(t)}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions()...)
	tr.Register(srv)
	go srv.Serve(l)
	n := &node{id: id, tr: tr, srv: srv}
	t.Cleanup(n.stop)
	return n
}

// startCluster starts a node per id, all knowing each other.
func startCluster(t *testing.T, ids ...uint64) map[uint64]*node {
	t.Helper()
	addrs, lis := listen(t, ids...)
	nodes := map[uint64]*node{}
	for _, id := range ids {
		nodes[id] = startNode(t, id, addrs, lis[id], nil)
	}
	return nodes
}

// sendReturns fails the test if Send blocks.
func sendReturns(t *testing.T, s raft.Transport, msgs ...raft.Message) {
	t.Helper()
	done := make(chan struct{})
	go func() { s.Send(msgs); close(done) }()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("Send blocked for %v", hangGuard)
	}
}

func TestMessagesReachTheirGroups(t *testing.T) {
	nodes := startCluster(t, 1, 2, 3)
	send := map[uint64]raft.Transport{}
	inboxes := map[[2]uint64]inbox{} // {node, group}
	for _, id := range []uint64{1, 2, 3} {
		for _, g := range []uint64{10, 20} {
			in := newInbox()
			inboxes[[2]uint64{id, g}] = in
			s := nodes[id].tr.AddGroup(g, in.handler)
			if id == 1 {
				send[g] = s
			}
		}
	}
	for _, g := range []uint64{10, 20} {
		for _, to := range []uint64{2, 3} {
			sendReturns(t, send[g], raft.Message{Type: raft.MsgApp, From: 1, To: to, Term: g, Index: to,
				Entries: []raft.Entry{{Term: g, Index: to + 1, Data: []byte("x")}}})
		}
	}
	for _, g := range []uint64{10, 20} {
		for _, to := range []uint64{2, 3} {
			m := inboxes[[2]uint64{to, g}].next(t, "MsgApp", ofType(raft.MsgApp))
			if m.From != 1 || m.To != to || m.Term != g || m.Index != to || len(m.Entries) != 1 || string(m.Entries[0].Data) != "x" {
				t.Errorf("node %d group %d got %+v", to, g, m)
			}
		}
	}
	for key, in := range inboxes {
		if len(in) != 0 {
			t.Errorf("node %d group %d got %d unexpected messages, first %+v", key[0], key[1], len(in), <-in)
		}
	}
}

func TestOrderPreservedPerPeer(t *testing.T) {
	nodes := startCluster(t, 1, 2)
	send := nodes[1].tr.AddGroup(1, func(raft.Message) {})
	in := newInbox()
	nodes[2].tr.AddGroup(1, in.handler)

	const total = 3000 // below the default queue size: nothing may be dropped
	for i := uint64(1); i <= total; {
		// Mix single sends with bursts so batches of many sizes form.
		burst := min(i%7+1, total-i+1)
		msgs := make([]raft.Message, burst)
		for j := range msgs {
			msgs[j] = raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Index: i}
			i++
		}
		sendReturns(t, send, msgs...)
	}
	for want := uint64(1); want <= total; want++ {
		m := in.next(t, "heartbeat", ofType(raft.MsgHeartbeat))
		if m.Index != want {
			t.Fatalf("got heartbeat %d, want %d", m.Index, want)
		}
	}
}

// TestSnapshotAfterStreamedMessages: a snapshot, sent in a call of its
// own, does not overtake what was sent on the stream before it.
func TestSnapshotAfterStreamedMessages(t *testing.T) {
	nodes := startCluster(t, 1, 2)
	send := nodes[1].tr.AddGroup(1, func(raft.Message) {})
	in := newInbox()
	nodes[2].tr.AddGroup(1, in.handler)

	for round := range uint64(5) {
		app := bigMsgApp()
		app.Index = round
		sendReturns(t, send, app, raft.Message{Type: raft.MsgSnap, From: 1, To: 2,
			Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: round, Term: 1}}})
		first := in.next(t, "MsgApp or MsgSnap", func(m raft.Message) bool { return m.Type == raft.MsgApp || m.Type == raft.MsgSnap })
		if first.Type != raft.MsgApp || first.Index != round {
			t.Fatalf("round %d: the peer got %s (index %d) first; want the MsgApp sent before the snapshot", round, first.Type, first.Index)
		}
		in.next(t, "MsgSnap", ofType(raft.MsgSnap))
	}
}

func TestDownPeerReportedUnreachableOnce(t *testing.T) {
	addrs, lis := listen(t, 1, 2)
	lis[2].Close() // nothing listens at node 2's address
	n1 := startNode(t, 1, addrs, lis[1], nil)
	reports := newInbox()
	send := n1.tr.AddGroup(7, reports.handler)

	for i := range 20 {
		sendReturns(t, send, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Index: uint64(i)})
	}
	m := reports.next(t, "MsgUnreachable", ofType(raft.MsgUnreachable))
	if m.From != 2 || m.To != 1 {
		t.Errorf("got %+v; want MsgUnreachable from 2 to 1", m)
	}
	// A snapshot sent last is reported failed once everything before it
	// has been tried, so every report of the heartbeats comes before it.
	sendReturns(t, send, raft.Message{Type: raft.MsgSnap, From: 1, To: 2,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 1}}})
	st := reports.next(t, "MsgSnapStatus", func(m raft.Message) bool {
		if m.Type == raft.MsgUnreachable {
			t.Errorf("MsgUnreachable reported twice in one failure episode")
		}
		return m.Type == raft.MsgSnapStatus
	})
	if !st.Reject || st.From != 2 || st.To != 1 {
		t.Errorf("got %+v; want a rejected MsgSnapStatus from 2 to 1", st)
	}
	for len(reports) > 0 {
		if m := <-reports; m.Type == raft.MsgUnreachable {
			t.Errorf("MsgUnreachable reported twice in one failure episode")
		}
	}
}

func TestSnapshotDeliveredAndReported(t *testing.T) {
	nodes := startCluster(t, 1, 2)
	reports, in := newInbox(), newInbox()
	send := nodes[1].tr.AddGroup(1, reports.handler)
	nodes[2].tr.AddGroup(1, in.handler)

	data := bytes.Repeat([]byte("snapshot"), 8<<20/8) // 8 MiB: more than gRPC's default limit
	sendReturns(t, send, raft.Message{Type: raft.MsgSnap, From: 1, To: 2, Term: 2,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 100, Term: 2, Peers: []uint64{1, 2}}, Data: data}})

	got := in.next(t, "MsgSnap", ofType(raft.MsgSnap))
	if got.Snapshot == nil || got.Snapshot.Meta.Index != 100 || !bytes.Equal(got.Snapshot.Data, data) {
		t.Errorf("snapshot arrived altered: meta %+v, %d bytes", got.Snapshot.Meta, len(got.Snapshot.Data))
	}
	st := reports.next(t, "MsgSnapStatus", ofType(raft.MsgSnapStatus))
	if st.Reject || st.From != 2 || st.To != 1 {
		t.Errorf("got %+v; want an accepted MsgSnapStatus from 2 to 1", st)
	}
}

func TestRestartedPeerReachedAgain(t *testing.T) {
	addrs, lis := listen(t, 1, 2)
	n1 := startNode(t, 1, addrs, lis[1], nil)
	n2 := startNode(t, 2, addrs, lis[2], nil)
	reports := newInbox()
	send := n1.tr.AddGroup(1, reports.handler)
	in := newInbox()
	n2.tr.AddGroup(1, in.handler)

	heartbeat := raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2}
	sendReturns(t, send, heartbeat)
	in.next(t, "heartbeat before the restart", ofType(raft.MsgHeartbeat))

	// Keep sending, as Raft's heartbeats would, while node 2 is down long
	// enough for reconnection attempts to back off to their cap, and after.
	stopSending := make(chan struct{})
	defer close(stopSending)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSending:
				return
			case <-tick.C:
				send.Send([]raft.Message{heartbeat})
			}
		}
	}()
	n2.stop()
	reports.next(t, "MsgUnreachable while node 2 is down", ofType(raft.MsgUnreachable))
	time.Sleep(3 * time.Second)

	l, err := net.Listen("tcp", addrs[2])
	if err != nil {
		t.Fatalf("listen again on node 2's address: %v", err)
	}
	n2 = startNode(t, 2, addrs, l, nil)
	in = newInbox()
	start := time.Now()
	n2.tr.AddGroup(1, in.handler)
	in.next(t, "heartbeat after the restart", ofType(raft.MsgHeartbeat))
	t.Logf("reached the restarted peer after %v", time.Since(start))

	// The episode ended once the peer was reached: losing it again is a
	// new one, reported anew.
	for range 10 { // the first acknowledged, the later ones end the episode
		in.next(t, "more heartbeats after the restart", ofType(raft.MsgHeartbeat))
	}
	for len(reports) > 0 {
		<-reports
	}
	n2.stop()
	reports.next(t, "MsgUnreachable when node 2 goes down again", ofType(raft.MsgUnreachable))
}

// stalledServer is a peer that reads nothing until released, like a
// SIGSTOPped process: its streams open, and then no envelope is read, so
// the sender's flow-control window fills; its unary calls do not return.
// Its small fixed windows make a window's worth of data little.
type stalledServer struct {
	raftpb.UnimplementedRaftServer
	streams  chan struct{}         // a token per stream opened
	received chan *raftpb.Envelope // what it read once released
	release  chan struct{}
}

func (s *stalledServer) Send(ctx context.Context, env *raftpb.Envelope) (*raftpb.Ack, error) {
	select {
	case <-s.release:
		s.received <- env
		return &raftpb.Ack{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *stalledServer) Stream(stream raftpb.Raft_StreamServer) error {
	s.streams <- struct{}{}
	select {
	case <-s.release:
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
	for {
		env, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.received <- env
	}
}

func startStalled(t *testing.T, l net.Listener) *stalledServer {
	s := &stalledServer{streams: make(chan struct{}, 100), received: make(chan *raftpb.Envelope, 1000), release: make(chan struct{})}
	const window = 64 << 10 // gRPC's least; fixed, so it does not grow
	srv := grpc.NewServer(append(ServerOptions(), grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window))...)
	raftpb.RegisterRaftServer(srv, s)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return s
}

// nextStream waits for a stream to reach the stalled peer.
func (s *stalledServer) nextStream(t *testing.T) {
	t.Helper()
	select {
	case <-s.streams:
	case <-time.After(hangGuard):
		t.Fatalf("no stream reached the stalled peer within %v", hangGuard)
	}
}

// heartbeats returns the indexes of the next n heartbeats the released
// peer reads, skipping other messages.
func (s *stalledServer) heartbeats(t *testing.T, n int) []uint64 {
	t.Helper()
	var got []uint64
	guard := time.After(hangGuard)
	for len(got) < n {
		select {
		case env := <-s.received:
			for _, b := range env.GetBatches() {
				for _, m := range b.GetMessages() {
					if m.GetType() == raftpb.MessageType_MsgHeartbeat {
						got = append(got, m.GetIndex())
					}
				}
			}
		case <-guard:
			t.Fatalf("the released peer read heartbeats %v; want %d within %v", got, n, hangGuard)
		}
	}
	return got
}

// taken waits until p's sender has taken everything queued.
func taken(t *testing.T, p *peer) {
	t.Helper()
	guard := time.After(hangGuard)
	for {
		p.mu.Lock()
		n := len(p.queue)
		p.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-guard:
			t.Fatalf("the sender left %d messages queued for %v", n, hangGuard)
		case <-time.After(time.Millisecond):
		}
	}
}

// bigMsgApp is a MsgApp larger than the stalled peer's window: once the
// transport has handed it to gRPC, the next send on the stream blocks.
func bigMsgApp() raft.Message {
	return raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 1,
		Entries: []raft.Entry{{Term: 1, Index: 1, Data: make([]byte, 1<<20)}}}
}

func TestStalledPeerTimesOut(t *testing.T) {
	addrs, lis := listen(t, 1, 2)
	stalled := startStalled(t, lis[2])
	n1 := startNode(t, 1, addrs, lis[1], func(c *Config) { c.SendTimeout = 200 * time.Millisecond })
	reports := newInbox()
	send := n1.tr.AddGroup(1, reports.handler)

	sendReturns(t, send, bigMsgApp())
	stalled.nextStream(t)
	sendReturns(t, send, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Index: 1})
	reports.next(t, "MsgUnreachable after the send deadline", ofType(raft.MsgUnreachable))

	// The sender was not wedged: the next message opens a new stream.
	sendReturns(t, send, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Index: 2})
	stalled.nextStream(t)

	// Once the peer resumes, it reads that message, and a snapshot's call
	// completes.
	close(stalled.release)
	if got := stalled.heartbeats(t, 1); got[0] != 2 {
		t.Errorf("the new stream carried heartbeat %d, want 2", got[0])
	}
	sendReturns(t, send, raft.Message{Type: raft.MsgSnap, From: 1, To: 2,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 3, Term: 1}}})
	st := reports.next(t, "MsgSnapStatus after the peer resumed", ofType(raft.MsgSnapStatus))
	if st.Reject {
		t.Errorf("snapshot sent after the peer resumed reported %+v; want accepted", st)
	}
}

// slowListener's connections read at most slowChunk bytes per slowPause:
// a peer that keeps taking data, slowly.
type slowListener struct{ net.Listener }

const (
	slowChunk = 32 << 10
	slowPause = 10 * time.Millisecond
)

func (l slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return slowConn{c}, err
}

type slowConn struct{ net.Conn }

func (c slowConn) Read(b []byte) (int, error) {
	time.Sleep(slowPause)
	return c.Conn.Read(b[:min(len(b), slowChunk)])
}

// TestSlowPeerIsNotCutOff sends an envelope that a slow peer needs several
// send timeouts to take, and a heartbeat after it, whose send waits until
// gRPC has written the envelope out: the peer keeps taking bytes, so the
// watchdog leaves the send to finish instead of cancelling it and
// reporting the peer unreachable.
func TestSlowPeerIsNotCutOff(t *testing.T) {
	// The default: beside a second suite a 1 s timeout saw a second in
	// which the sender, itself starved, wrote nothing.
	const sendTimeout = defaultSendTimeout
	addrs, lis := listen(t, 1, 2)
	n1 := startNode(t, 1, addrs, lis[1], func(c *Config) { c.SendTimeout = sendTimeout })
	n2 := startNode(t, 2, addrs, slowListener{lis[2]}, nil)
	reports, in2 := newInbox(), newInbox()
	send := n1.tr.AddGroup(1, reports.handler)
	n2.tr.AddGroup(1, in2.handler)

	// At most slowChunk per slowPause, 16 MiB takes 5s or more: over two
	// send timeouts.
	const size = 16 << 20
	big := raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 1,
		Entries: []raft.Entry{{Term: 1, Index: 1, Data: make([]byte, size)}}}
	start := time.Now()
	sendReturns(t, send, big)
	taken(t, n1.tr.peers[2])
	sendReturns(t, send, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 1})
	guard := time.After(hangGuard)
	for arrived := 0; arrived < 2; {
		select {
		case m := <-reports:
			t.Fatalf("after %v the sender reported %v while the slow peer was taking the envelope", time.Since(start), m.Type)
		case m := <-in2:
			switch {
			case m.Type == raft.MsgApp && len(m.Entries[0].Data) != size:
				t.Fatalf("the peer got an entry of %d bytes; want %d", len(m.Entries[0].Data), size)
			case m.Type == raft.MsgApp || m.Type == raft.MsgHeartbeat:
				arrived++
			}
		case <-guard:
			t.Fatalf("the envelope and heartbeat did not arrive within %v", hangGuard)
		}
	}
	if took := time.Since(start); took < 2*sendTimeout {
		t.Fatalf("the peer took %v for %d bytes, not slow enough to test the watchdog", took, size)
	}
}

func TestFullQueueDropsInsteadOfBlocking(t *testing.T) {
	const queueSize = 8
	addrs, lis := listen(t, 1, 2)
	stalled := startStalled(t, lis[2])
	n1 := startNode(t, 1, addrs, lis[1], func(c *Config) { c.QueueSize = queueSize; c.SendTimeout = time.Hour })
	reports := newInbox()
	send := n1.tr.AddGroup(1, reports.handler)

	hb := func(i uint64) raft.Message { return raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Index: i} }
	sendReturns(t, send, bigMsgApp())
	stalled.nextStream(t)
	sendReturns(t, send, hb(0))
	taken(t, n1.tr.peers[2]) // the sender is now stuck sending hb(0)

	var burst []raft.Message
	for i := uint64(1); i <= 3*queueSize; i++ {
		burst = append(burst, hb(i))
	}
	burst = append(burst, raft.Message{Type: raft.MsgSnap, From: 1, To: 2,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 9, Term: 1}}})
	sendReturns(t, send, burst...)
	close(stalled.release)

	got := stalled.heartbeats(t, 1+queueSize)
	if !slices.Equal(got, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("after the stall the peer got heartbeats %v; want 0 and the first %d queued, 1..%d", got, queueSize, queueSize)
	}
	reports.next(t, "MsgUnreachable for the overflow", ofType(raft.MsgUnreachable))
	st := reports.next(t, "MsgSnapStatus for the dropped snapshot", ofType(raft.MsgSnapStatus))
	if !st.Reject {
		t.Errorf("dropped snapshot reported %+v; want Reject", st)
	}
	select {
	case env := <-stalled.received:
		t.Errorf("the peer got more than the queue held: %v", env)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestUnknownAndRemovedGroupsDropped(t *testing.T) {
	nodes := startCluster(t, 1, 2)
	in1, in2 := newInbox(), newInbox()
	nodes[2].tr.AddGroup(1, in1.handler)
	nodes[2].tr.AddGroup(2, in2.handler)
	nop := func(raft.Message) {}
	send1 := nodes[1].tr.AddGroup(1, nop)
	send2 := nodes[1].tr.AddGroup(2, nop)
	send3 := nodes[1].tr.AddGroup(3, nop) // node 2 has no group 3

	nodes[2].tr.RemoveGroup(2)
	hb := raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2}
	sendReturns(t, send3, hb)
	sendReturns(t, send2, hb)
	sendReturns(t, send1, hb) // sent last, so it arrives last
	in1.next(t, "group 1 heartbeat", ofType(raft.MsgHeartbeat))
	if len(in2) != 0 {
		t.Errorf("removed group 2 still received %+v", <-in2)
	}
}

func TestMisroutedEnvelopeRefused(t *testing.T) {
	addrs, lis := listen(t, 1, 2)
	n2 := startNode(t, 2, addrs, lis[2], nil)
	in := newInbox()
	n2.tr.AddGroup(1, in.handler)
	// Node 1 believes node 3 lives at node 2's address.
	n1 := startNode(t, 1, map[uint64]string{1: addrs[1], 3: addrs[2]}, lis[1], nil)
	reports := newInbox()
	send := n1.tr.AddGroup(1, reports.handler)

	sendReturns(t, send, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 3})
	m := reports.next(t, "MsgUnreachable", ofType(raft.MsgUnreachable))
	if m.From != 3 {
		t.Errorf("got %+v; want MsgUnreachable from 3", m)
	}
	// Each later batch opens a stream that the peer refuses in turn. That
	// is one failure episode, reported once: a stream gRPC took the batch
	// on shows nothing until the peer acknowledges it.
	for i := range 20 {
		sendReturns(t, send, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 3, Index: uint64(i)})
		time.Sleep(10 * time.Millisecond) // one batch, one stream, each
	}
	sendReturns(t, send, raft.Message{Type: raft.MsgSnap, From: 1, To: 3,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 1}}})
	reports.next(t, "MsgSnapStatus", func(m raft.Message) bool {
		if m.Type == raft.MsgUnreachable {
			t.Errorf("MsgUnreachable reported again in one failure episode")
		}
		return m.Type == raft.MsgSnapStatus
	})
	if len(in) != 0 {
		t.Errorf("node 2 accepted a message for node 3: %+v", <-in)
	}
}

func TestAddGroupTwicePanics(t *testing.T) {
	tr, err := New(Config{Self: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.AddGroup(1, func(raft.Message) {})
	defer func() {
		if recover() == nil {
			t.Error("second AddGroup(1) did not panic")
		}
	}()
	tr.AddGroup(1, func(raft.Message) {})
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"self 0":         {Self: 0},
		"peer 0":         {Self: 1, Peers: map[uint64]string{0: "127.0.0.1:1"}},
		"empty address":  {Self: 1, Peers: map[uint64]string{2: ""}},
		"negative queue": {Self: 1, QueueSize: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()

	addrs, lis := listen(t, 1, 2)
	n1 := startNode(t, 1, addrs, lis[1], nil)
	n2 := startNode(t, 2, addrs, lis[2], nil)
	var mu sync.Mutex
	var afterClose []raft.Message
	closed := false
	send := n1.tr.AddGroup(1, func(m raft.Message) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			afterClose = append(afterClose, m)
		}
	})
	in := newInbox()
	n2.tr.AddGroup(1, in.handler)
	sendReturns(t, send, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2})
	in.next(t, "heartbeat", ofType(raft.MsgHeartbeat))

	n2.stop()
	n1.stop()
	mu.Lock()
	closed = true
	mu.Unlock()
	if err := n1.tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	sendReturns(t, send, raft.Message{Type: raft.MsgSnap, From: 1, To: 2,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 1, Term: 1}}})

	deadline := time.Now().Add(hangGuard)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(afterClose) != 0 {
		t.Errorf("handler called after Close: %+v", afterClose)
	}
}

func TestLocalMessagesNotSent(t *testing.T) {
	nodes := startCluster(t, 1, 2)
	reports, in := newInbox(), newInbox()
	send := nodes[1].tr.AddGroup(1, reports.handler)
	nodes[2].tr.AddGroup(1, in.handler)

	sendReturns(t, send,
		raft.Message{Type: raft.MsgProp, From: 1, To: 2, Entries: []raft.Entry{{Data: []byte("x")}}},
		raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2})
	if m := in.next(t, "any message", func(raft.Message) bool { return true }); m.Type != raft.MsgHeartbeat {
		t.Errorf("node 2 received %v; want only the heartbeat", m.Type)
	}
	if len(reports) != 0 {
		t.Errorf("sender reported %+v; the heartbeat's call should have succeeded", <-reports)
	}
}
