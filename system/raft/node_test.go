package raft_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/memnet"
)

// recorder is a state machine that keeps the data of every applied entry.
type recorder struct {
	mu   sync.Mutex
	data []string
}

func (r *recorder) Apply(ents []raft.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range ents {
		if e.Data != nil {
			r.data = append(r.data, string(e.Data))
		}
	}
}

func (r *recorder) Snapshot() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b []byte
	for _, d := range r.data {
		b = binary.AppendUvarint(b, uint64(len(d)))
		b = append(b, d...)
	}
	return b, nil
}

func (r *recorder) Restore(s raft.Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.data = nil
	for b := s.Data; len(b) > 0; {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return errors.New("bad snapshot")
		}
		r.data = append(r.data, string(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	return nil
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.data)
}

// cluster is a set of raft.Nodes on a memnet network.
type cluster struct {
	t        testing.TB
	net      *memnet.Network
	ids      []uint64
	nodes    map[uint64]*raft.Node
	storages map[uint64]*raft.MemoryStorage
	sms      map[uint64]*recorder
	tune     func(*raft.NodeConfig)
}

func newCluster(t testing.TB, n int, tune func(*raft.NodeConfig)) *cluster {
	c := &cluster{t: t, net: memnet.New(1, nil), nodes: map[uint64]*raft.Node{},
		storages: map[uint64]*raft.MemoryStorage{}, sms: map[uint64]*recorder{}, tune: tune}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	for _, id := range c.ids {
		c.storages[id] = raft.NewMemoryStorage(c.ids)
		c.start(id)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Stop()
		}
	})
	return c
}

// start starts (or restarts, from its storage) node id.
func (c *cluster) start(id uint64) {
	c.sms[id] = &recorder{}
	var node *raft.Node
	cfg := raft.NodeConfig{
		Config:       raft.Config{ID: id},
		Storage:      c.storages[id],
		StateMachine: c.sms[id],
		TickInterval: 10 * time.Millisecond,
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	// The handler may run before StartNode returns: it waits until the
	// node exists before handing it a message.
	ready := make(chan struct{})
	cfg.Transport = c.net.Connect(id, func(m raft.Message) { <-ready; node.Receive(m) })
	n, err := raft.StartNode(cfg)
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	node = n
	close(ready)
	c.nodes[id] = n
}

// crash stops node id and cuts it off; its MemoryStorage keeps what it
// persisted.
func (c *cluster) crash(id uint64) {
	c.net.Disconnect(id)
	c.nodes[id].Stop()
	delete(c.nodes, id)
}

// crashFollower crashes a node that does not lead and returns it, so
// that it falls behind while the others go on.
func (c *cluster) crashFollower() uint64 {
	id := c.ids[0]
	if c.leader() == id {
		id = c.ids[1]
	}
	c.crash(id)
	return id
}

// leader waits for a node that leads with a quorum of live nodes agreeing.
func (c *cluster) leader() uint64 {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		votes := map[uint64]int{}
		for _, n := range c.nodes {
			st := n.Status()
			if st.Lead != raft.None {
				if l := c.nodes[st.Lead]; l != nil && l.Status().Role == raft.Leader && l.Status().Term == st.Term {
					votes[st.Lead]++
				}
			}
		}
		for l, v := range votes {
			if v > len(c.ids)/2 {
				return l
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("no leader within 30s")
	return raft.None
}

// propose proposes at the current leader, retrying leader changes.
func (c *cluster) propose(data string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := c.nodes[c.leader()].Propose(ctx, []byte(data))
		var nle *raft.NotLeaderError
		switch {
		case err == nil:
			return
		case errors.As(err, &nle), errors.Is(err, raft.ErrProposalLost):
			continue
		default:
			c.t.Fatalf("propose %q: %v", data, err)
		}
	}
}

// waitApplied waits until every live node has applied want.
func (c *cluster) waitApplied(want []string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for id := range c.nodes {
			if !slices.Equal(c.sms[id].snapshot(), want) {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	for id := range c.nodes {
		c.t.Errorf("node %d applied %v", id, c.sms[id].snapshot())
	}
	c.t.Fatalf("nodes did not converge on %v", want)
}

func TestNodeReplicatesAndSurvivesCrashes(t *testing.T) {
	c := newCluster(t, 3, nil)
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("a%d", i))
		c.propose(want[len(want)-1])
	}
	c.waitApplied(want)

	old := c.leader()
	c.crash(old)
	for i := range 20 {
		want = append(want, fmt.Sprintf("b%d", i))
		c.propose(want[len(want)-1])
	}
	if l := c.leader(); l == old {
		t.Fatalf("crashed node %d still leads", old)
	}
	c.start(old)
	c.waitApplied(want)
}

func TestNodeSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, func(cfg *raft.NodeConfig) {
		cfg.SnapshotEntries = 10
		cfg.SnapshotRetain = 2
	})
	lagging := c.crashFollower()
	var want []string
	for i := range 50 {
		want = append(want, fmt.Sprintf("x%d", i))
		c.propose(want[len(want)-1])
	}
	c.start(lagging)
	c.waitApplied(want)
	if snap, _ := c.storages[lagging].Snapshot(); snap.IsEmpty() {
		t.Fatalf("node %d caught up without a snapshot", lagging)
	}
}

func TestNodeLinearizableRead(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.propose("w1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range c.ids {
		// Followers forward to the leader; after LinearizableRead returns,
		// the acknowledged write is visible locally.
		var err error
		for {
			if err = c.nodes[id].LinearizableRead(ctx); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("node %d read: %v", id, err)
		}
		if got := c.sms[id].snapshot(); !slices.Contains(got, "w1") {
			t.Fatalf("node %d served a read without the acknowledged write: %v", id, got)
		}
	}
}

// TestNodeLeaseRead: a lease-based leader answers LeaseRead without its
// goroutine, at an index that covers every acknowledged write; a node in
// the default (safe) read mode never does.
func TestNodeLeaseRead(t *testing.T) {
	lease := newCluster(t, 3, func(cfg *raft.NodeConfig) { cfg.ReadOnly = raft.ReadOnlyLeaseBased })
	lease.propose("w1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for served := false; !served; {
		for _, id := range lease.ids {
			index, ok := lease.nodes[id].LeaseRead()
			if !ok {
				continue
			}
			if err := lease.nodes[id].WaitApplied(ctx, index); err != nil {
				t.Fatalf("node %d: wait for lease read index %d: %v", id, index, err)
			}
			if got := lease.sms[id].snapshot(); !slices.Contains(got, "w1") {
				t.Fatalf("node %d lease read at %d misses the acknowledged write: %v", id, index, got)
			}
			served = true
		}
		if ctx.Err() != nil {
			t.Fatal("no node held a lease within 30s")
		}
		time.Sleep(time.Millisecond)
	}

	safe := newCluster(t, 3, nil)
	safe.propose("w1")
	for range 50 {
		for _, id := range safe.ids {
			if index, ok := safe.nodes[id].LeaseRead(); ok {
				t.Fatalf("node %d in safe read mode answered a lease read at %d", id, index)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestNodeProposeAtFollowerIsDefiniteNotLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader()
	for _, id := range c.ids {
		if id == l {
			continue
		}
		err := c.nodes[id].Propose(context.Background(), []byte("x"))
		var nle *raft.NotLeaderError
		if !errors.As(err, &nle) || nle.Leader != l {
			t.Fatalf("propose at follower %d: %v, want NotLeaderError naming %d", id, err, l)
		}
	}
}

func TestNodeTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	l := c.leader()
	to := c.ids[0]
	if to == l {
		to = c.ids[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nodes[l].TransferLeadership(ctx, to); err != nil {
		t.Fatal(err)
	}
	if got := c.leader(); got != to {
		t.Fatalf("leader is %d after transfer to %d", got, to)
	}
	c.propose("after-transfer")
}

// capturing is a recorder whose snapshots are encoded off the node's
// goroutine (raft.SnapshotCapturer), and only once release is closed.
type capturing struct {
	*recorder
	release  <-chan struct{}
	captured chan int // the number of entries each capture holds
	restored chan int // if not nil, the number of entries of each snapshot restored
}

func (c *capturing) Restore(s raft.Snapshot) error {
	if err := c.recorder.Restore(s); err != nil {
		return err
	}
	if c.restored != nil {
		c.restored <- len(c.recorder.snapshot())
	}
	return nil
}

func (c *capturing) CaptureSnapshot() func() ([]byte, error) {
	copied := &recorder{data: c.recorder.snapshot()}
	c.captured <- len(copied.data)
	return func() ([]byte, error) {
		// Bounded, so that a node that encodes on its own goroutine fails
		// the test (its proposals time out) instead of hanging it.
		select {
		case <-c.release:
		case <-time.After(time.Minute):
		}
		return copied.Snapshot()
	}
}

// newCapturingCluster starts a 3-node cluster that snapshots every 10-15
// entries (paced by size if paced) and encodes each capture at once. The
// maps give, per node, the entries held by each snapshot it captured and
// by each it restored, in order; a restarted node gets new channels.
func newCapturingCluster(t *testing.T, paced bool) (c *cluster, captured, restored map[uint64]chan int) {
	release := make(chan struct{})
	close(release)
	captured, restored = map[uint64]chan int{}, map[uint64]chan int{}
	c = newCluster(t, 3, func(cfg *raft.NodeConfig) {
		cfg.SnapshotEntries, cfg.SnapshotRetain = 10, 2
		cfg.SnapshotPacedBySize = paced
		captured[cfg.ID], restored[cfg.ID] = make(chan int, 1000), make(chan int, 1000)
		cfg.StateMachine = &capturing{recorder: cfg.StateMachine.(*recorder), release: release,
			captured: captured[cfg.ID], restored: restored[cfg.ID]}
	})
	return c, captured, restored
}

// received returns what ch holds, in order, without waiting for more.
func received(ch <-chan int) []int {
	var got []int
	for {
		select {
		case n := <-ch:
			got = append(got, n)
		default:
			return got
		}
	}
}

// TestSnapshotsPacedBySize: with SnapshotPacedBySize, a node snapshots
// only once the entries applied since its last snapshot hold as many
// bytes as that snapshot's image, so the snapshots of a growing state
// space out; without it, they come every 10 to 15 entries.
func TestSnapshotsPacedBySize(t *testing.T) {
	const entries = 200
	for _, paced := range []bool{false, true} {
		t.Run(fmt.Sprintf("paced=%v", paced), func(t *testing.T) {
			c, captured, _ := newCapturingCluster(t, paced)
			var want []string
			for i := range entries {
				want = append(want, fmt.Sprintf("e%03d", i)) // 4 bytes; 5 in the recorder's image
				c.propose(want[i])
			}
			c.waitApplied(want)
			// The leader applies each entry as it commits, before the
			// next is proposed; a follower that falls behind applies a
			// batch at once and may snapshot only once for all of it.
			leader := c.leader()
			sizes := received(captured[leader]) // entries held by each of the leader's captures
			t.Logf("the leader captured snapshots of %v entries", sizes)
			if !paced {
				// One every 10-15 entries: 13 or more.
				if len(sizes) < 10 {
					t.Errorf("the leader took %d snapshots of %d entries, want one every 10 to 15", len(sizes), entries)
				}
				return
			}
			// 10-15 entries, then each at least 2.25 times the last (the
			// image of k entries is 5k bytes; 4 bytes are logged per
			// entry): three or four in 200.
			if len(sizes) < 3 || len(sizes) > 4 {
				t.Errorf("the leader took %d snapshots of %d entries, want 3 or 4", len(sizes), entries)
			}
			for i := 1; i < len(sizes); i++ {
				if logged, image := 4*(sizes[i]-sizes[i-1]), 5*sizes[i-1]; logged < image {
					t.Errorf("the leader snapshotted after %d bytes of entries, fewer than the %d bytes of its last snapshot: captures of %v entries",
						logged, image, sizes)
				}
			}

			// Restarted, the node takes its last snapshot's size from
			// storage: the entries it applies again (at most 83, past its
			// last capture of at least 117) and 20 more hold fewer bytes,
			// so it takes no snapshot.
			c.crash(leader)
			c.start(leader)
			for i := range 20 {
				want = append(want, fmt.Sprintf("r%03d", i))
				c.propose(want[len(want)-1])
			}
			c.waitApplied(want)
			if again := received(captured[leader]); len(again) > 0 {
				t.Errorf("restarted after capturing %v entries, node %d captured %v entries again with too few bytes logged", sizes, leader, again)
			}
		})
	}
}

// TestPacedSnapshotsCountFromAnInstalledSnapshot: a node that catches up
// by installing the leader's snapshot paces its next snapshot by the
// installed one's size, not by what it had before (nothing).
func TestPacedSnapshotsCountFromAnInstalledSnapshot(t *testing.T) {
	c, captured, restored := newCapturingCluster(t, true)
	lagging := c.crashFollower()
	var want []string
	for i := range 100 {
		want = append(want, fmt.Sprintf("e%03d", i)) // 4 bytes each; 5 in an image
		c.propose(want[i])
	}
	c.start(lagging) // with nothing applied, so nothing restored at start
	c.waitApplied(want)
	installs := received(restored[lagging])
	if len(installs) == 0 {
		t.Fatalf("node %d caught up without installing a snapshot", lagging)
	}
	installed := installs[0]
	// The leader's snapshots hold at most about 75 entries, so the node
	// applied 25 or more after installing one: enough for a snapshot by
	// count (10-15), not always by size.
	if captures := received(captured[lagging]); len(captures) > 0 {
		if n := captures[0]; 4*(n-installed) < 5*installed {
			t.Errorf("node %d installed a snapshot of %d entries (%d bytes), then took one of %d entries after only %d bytes",
				lagging, installed, 5*installed, n, 4*(n-installed))
		}
	}
}

// TestNodeEncodesSnapshotsOffItsGoroutine: while a SnapshotCapturer's
// capture is being encoded, the group goes on committing and applying;
// the snapshot saved afterwards holds the state as captured, and a
// lagging node catches up from it.
func TestNodeEncodesSnapshotsOffItsGoroutine(t *testing.T) {
	release := make(chan struct{})
	captured := make(chan int, 100)
	c := newCluster(t, 3, func(cfg *raft.NodeConfig) {
		cfg.SnapshotEntries, cfg.SnapshotRetain = 10, 2
		cfg.StateMachine = &capturing{recorder: cfg.StateMachine.(*recorder), release: release, captured: captured}
	})
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("a%d", i))
		c.propose(want[len(want)-1])
	}
	c.waitApplied(want)
	// Every node has captured by now, and its encoding waits for release.
	var held []int
	for range c.ids {
		select {
		case n := <-captured:
			held = append(held, n)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d nodes captured a snapshot after 20 entries with SnapshotEntries 10", len(held), len(c.ids))
		}
	}
	// The group goes on while the encodings wait.
	for i := range 20 {
		want = append(want, fmt.Sprintf("b%d", i))
		c.propose(want[len(want)-1])
	}
	c.waitApplied(want)
	for _, id := range c.ids {
		if snap, _ := c.storages[id].Snapshot(); !snap.IsEmpty() {
			t.Fatalf("node %d saved a snapshot before its encoding was released", id)
		}
	}
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range c.ids {
		for {
			snap, _ := c.storages[id].Snapshot()
			if !snap.IsEmpty() {
				var r recorder
				if err := r.Restore(snap); err != nil {
					t.Fatal(err)
				}
				got := r.snapshot()
				// Once released, a node may have captured and saved again.
				held = append(held, received(captured)...)
				if !slices.Contains(held, len(got)) || !slices.Equal(got, want[:len(got)]) {
					t.Fatalf("node %d saved a snapshot of %d entries %v; want one of the captures (%v entries), a prefix of what was applied", id, len(got), got, held)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d saved no snapshot after its encoding was released", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// writingStorage is a MemoryStorage that is a raft.SnapshotWriter:
// WriteSnapshot holds each image until release is closed, and
// CreateSnapshot must then come without data, as the node promises.
type writingStorage struct {
	*raft.MemoryStorage
	release <-chan struct{}
	writing chan uint64 // the index of each WriteSnapshot, as it starts

	mu     sync.Mutex
	images map[uint64][]byte
}

func (w *writingStorage) WriteSnapshot(index uint64, peers []uint64, data []byte, retain uint64) error {
	w.writing <- index
	select {
	case <-w.release:
	case <-time.After(time.Minute): // a node that waits on its own goroutine fails, not hangs
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.images[index] = data
	return nil
}

func (w *writingStorage) CreateSnapshot(index uint64, peers []uint64, data []byte, retain uint64) error {
	w.mu.Lock()
	image, written := w.images[index]
	w.mu.Unlock()
	if !written || data != nil {
		return fmt.Errorf("CreateSnapshot at %d with %d bytes (written: %v): want nil data after WriteSnapshot", index, len(data), written)
	}
	return w.MemoryStorage.CreateSnapshot(index, peers, image, retain)
}

// TestNodeWritesSnapshotsOffItsGoroutine: with a SnapshotWriter storage,
// the image is written off the node's goroutine (the group goes on
// committing while every write is held), CreateSnapshot then only
// compacts, and Stop waits for a write in flight.
func TestNodeWritesSnapshotsOffItsGoroutine(t *testing.T) {
	release := make(chan struct{})
	writing := make(chan uint64, 100)
	encoded := make(chan struct{})
	close(encoded)
	c := newCluster(t, 3, func(cfg *raft.NodeConfig) {
		cfg.SnapshotEntries, cfg.SnapshotRetain = 10, 2
		cfg.StateMachine = &capturing{recorder: cfg.StateMachine.(*recorder), release: encoded, captured: make(chan int, 100)}
		cfg.Storage = &writingStorage{MemoryStorage: cfg.Storage.(*raft.MemoryStorage), release: release,
			writing: writing, images: map[uint64][]byte{}}
	})
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("a%d", i))
		c.propose(want[len(want)-1])
	}
	c.waitApplied(want)
	for i := range c.ids {
		select {
		case <-writing:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d nodes began writing a snapshot after 20 entries with SnapshotEntries 10", i, len(c.ids))
		}
	}
	for i := range 20 {
		want = append(want, fmt.Sprintf("b%d", i))
		c.propose(want[len(want)-1])
	}
	c.waitApplied(want)
	for _, id := range c.ids {
		if snap, _ := c.storages[id].Snapshot(); !snap.IsEmpty() {
			t.Fatalf("node %d compacted to a snapshot whose write is still held", id)
		}
	}
	stopped := make(chan struct{})
	go func() {
		c.nodes[1].Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("node 1 stopped while its snapshot was being written")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-stopped
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range c.ids[1:] {
		for {
			if err := c.nodes[id].Err(); err != nil {
				t.Fatalf("node %d: %v", id, err)
			}
			if snap, _ := c.storages[id].Snapshot(); !snap.IsEmpty() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d compacted to no snapshot after its write was released", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestLeaderKeepsLeadershipWithALongLog: with one follower cut off and
// compaction held back (as a lagging follower would hold it), a leader
// takes 100,000 proposals from 64 proposers in one term, its log growing
// all the while, and the follower catches up from the log when it
// returns. The election timeout is a real node's (2 s), so only a stall
// of the leader's goroutine (a GC marking the log, say) could cost the
// term, not a busy machine's ordinary scheduling.
func TestLeaderKeepsLeadershipWithALongLog(t *testing.T) {
	const proposals, proposers = 100_000, 64
	counters := map[uint64]*counter{}
	c := newCluster(t, 3, func(cfg *raft.NodeConfig) {
		cfg.ElectionTick, cfg.HeartbeatTick = 200, 10
		cfg.SnapshotEntries = 1 << 40 // never: the log keeps everything
		counters[cfg.ID] = &counter{}
		cfg.StateMachine = counters[cfg.ID]
	})
	leader := c.leader()
	term := c.nodes[leader].Status().Term
	lagging := c.ids[0]
	if lagging == leader {
		lagging = c.ids[1]
	}
	c.net.Isolate(lagging)

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, proposers)
	data := make([]byte, 40)
	for range proposers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			for next.Add(1) <= proposals {
				if err := c.nodes[leader].Propose(ctx, data); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("proposal at the leader of term %d: %v (status %+v)", term, err, c.nodes[leader].Status())
	}
	if st := c.nodes[leader].Status(); st.Role != raft.Leader || st.Term != term {
		t.Fatalf("after %d proposals node %d is %v in term %d; it led term %d", proposals, leader, st.Role, st.Term, term)
	}
	if first, _ := c.storages[leader].FirstIndex(); first != 1 {
		t.Fatalf("the leader compacted its log to %d; the test needs it whole", first)
	}

	c.net.Heal()
	want := c.nodes[leader].Status().Applied
	deadline := time.Now().Add(2 * time.Minute)
	for c.nodes[lagging].Status().Applied < want || counters[lagging].n.Load() < proposals {
		if time.Now().After(deadline) {
			t.Fatalf("the lagging follower applied %d entries (%+v); want the leader's %d", counters[lagging].n.Load(), c.nodes[lagging].Status(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := c.nodes[lagging].Status(); st.Term != term {
		t.Fatalf("the returned follower: %+v; want term %d", st, term)
	}
}
