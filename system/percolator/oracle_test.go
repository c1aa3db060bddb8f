package percolator

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/memnet"
)

// oracleCluster runs the oracle group alone: n Raft nodes over an in-memory
// network, each with its own skewable clock and an Oracle. Members crash
// and restart from in-memory storage that survives them.
type oracleCluster struct {
	t      testing.TB
	net    *memnet.Network
	config raft.NodeConfig // a template: ID, Storage, Transport, StateMachine and Clock are per member
	// oracle is the template of each member's oracle configuration:
	// Clock and Failpoints are per member.
	oracle  OracleConfig
	members []*oracleMember
}

type oracleMember struct {
	id      uint64
	storage *raft.MemoryStorage
	// clock is the member's machine clock; it survives restarts.
	clock *fault.SkewedClock
	// marks counts the high-water marks applied here, across restarts.
	marks atomic.Int64
	// fps is the member's failpoint registry, kept across restarts.
	fps *fault.Failpoints

	mu     sync.Mutex
	node   *raft.Node
	oracle *Oracle
}

// markCounter is the member's state machine as the node sees it: the
// oracle's, counting the marks it applies.
type markCounter struct {
	*OracleState
	marks *atomic.Int64
}

func (mc markCounter) Apply(ents []raft.Entry) {
	for _, e := range ents {
		if e.Data != nil {
			mc.marks.Add(1)
		}
	}
	mc.OracleState.Apply(ents)
}

// newOracleCluster starts n members; tune, if not nil, adjusts the node
// configuration template. The cluster is stopped when the test ends.
func newOracleCluster(t testing.TB, n int, tune func(*raft.NodeConfig)) *oracleCluster {
	t.Helper()
	return newOracleClusterWith(t, n, tune, OracleConfig{})
}

// newOracleClusterWith is newOracleCluster with oracle as the template of
// the members' oracle configuration.
func newOracleClusterWith(t testing.TB, n int, tune func(*raft.NodeConfig), oracle OracleConfig) *oracleCluster {
	t.Helper()
	c := &oracleCluster{
		oracle: oracle,
		t:      t,
		net:    memnet.New(uint64(time.Now().UnixNano()), nil),
		config: raft.NodeConfig{
			Config:       raft.Config{ElectionTick: 30},
			TickInterval: 10 * time.Millisecond,
		},
	}
	if tune != nil {
		tune(&c.config)
	}
	var ids []uint64
	for i := range n {
		ids = append(ids, uint64(i+1))
	}
	for _, id := range ids {
		m := &oracleMember{id: id, storage: raft.NewMemoryStorage(ids), clock: fault.NewClock()}
		m.fps = fault.NewFailpoints(m.clock, nil)
		c.members = append(c.members, m)
		c.start(m)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			c.crash(m)
		}
	})
	return c
}

// start runs m from its storage, as a fresh process would.
func (c *oracleCluster) start(m *oracleMember) {
	c.t.Helper()
	state := NewOracleState()
	cfg := c.config
	cfg.ID, cfg.Storage, cfg.Clock = m.id, m.storage, m.clock
	cfg.StateMachine = markCounter{state, &m.marks}
	// Messages that arrive before the node exists are lost, as they would
	// be on the wire; Raft retransmits.
	var started atomic.Pointer[raft.Node]
	cfg.Transport = c.net.Connect(m.id, func(msg raft.Message) {
		if node := started.Load(); node != nil {
			node.Receive(msg)
		}
	})
	node, err := raft.StartNode(cfg)
	if err != nil {
		c.t.Fatalf("start member %d: %v", m.id, err)
	}
	started.Store(node)
	m.mu.Lock()
	ocfg := c.oracle
	ocfg.Clock, ocfg.Failpoints = m.clock, m.fps
	m.node, m.oracle = node, NewOracle(node, state, ocfg)
	m.mu.Unlock()
}

// crash stops m as a kill would; only its storage survives.
func (c *oracleCluster) crash(m *oracleMember) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.node == nil {
		return
	}
	c.net.Disconnect(m.id)
	m.node.Stop()
	m.node, m.oracle = nil, nil
}

// running returns m's node and oracle, or nils if m is down.
func (m *oracleMember) running() (*raft.Node, *Oracle) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node, m.oracle
}

// waitLeader waits until one of the running members among (all if none
// given) leads, and returns it.
func (c *oracleCluster) waitLeader(ctx context.Context, among ...*oracleMember) *oracleMember {
	c.t.Helper()
	if len(among) == 0 {
		among = c.members
	}
	for {
		for _, m := range among {
			if node, _ := m.running(); node != nil && node.Status().Role == raft.Leader {
				return m
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("no leader among %d members: %v", len(among), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// allocate asks every running member in turn, as a client looking for the
// leader would, and returns the first answer.
func (c *oracleCluster) allocate(ctx context.Context, count uint32) (uint64, error) {
	err := errors.New("no member is running")
	for _, m := range c.members {
		_, oracle := m.running()
		if oracle == nil {
			continue
		}
		attempt, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		var first uint64
		first, err = oracle.Allocate(attempt, count)
		cancel()
		if err == nil {
			return first, nil
		}
	}
	return 0, err
}

// allocateRetrying retries allocate until it succeeds, failing the test
// when ctx ends first.
func (c *oracleCluster) allocateRetrying(ctx context.Context, count uint32) uint64 {
	c.t.Helper()
	for {
		first, err := c.allocate(ctx, count)
		if err == nil {
			return first
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("allocate %d: %v (last error %v)", count, ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// realTimeOrder checks what the oracle promises its callers: a call's
// timestamps exceed those of every call that completed before it began
// (which also makes the ranges of all calls disjoint).
type realTimeOrder struct {
	t         testing.TB
	mu        sync.Mutex
	completed uint64 // the highest timestamp of a completed call
	calls     int
}

// begin is called when a call begins; it returns the floor the call's
// timestamps must exceed.
func (r *realTimeOrder) begin() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.completed
}

// end records a completed call that began when the floor was floor.
func (r *realTimeOrder) end(floor, first uint64, count uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first <= floor {
		r.t.Errorf("timestamps went backwards: got [%d, +%d) after a call had completed with %d", first, count, floor)
	}
	r.completed = max(r.completed, first+uint64(count)-1)
	r.calls++
}

func (r *realTimeOrder) state() (completed uint64, calls int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.completed, r.calls
}

// call makes one checked allocation through the cluster.
func (r *realTimeOrder) call(ctx context.Context, c *oracleCluster, count uint32) error {
	floor := r.begin()
	first, err := c.allocate(ctx, count)
	if err == nil {
		r.end(floor, first, count)
	}
	return err
}

// hammer runs workers that allocate through c until ctx ends. Every
// twentieth call of the first worker asks for more timestamps than one
// millisecond's logical counter holds, so the counter carries.
func hammer(ctx context.Context, c *oracleCluster, order *realTimeOrder, workers int) (wait func()) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				count := uint32(1 + i%16)
				if w == 0 && i%20 == 0 {
					count = 1<<LogicalBits + 7
				}
				if order.call(ctx, c, count) != nil {
					time.Sleep(5 * time.Millisecond) // a failover: let it finish
				}
			}
		})
	}
	return wg.Wait
}

// waitCalls waits until order has recorded n more calls than it had.
func waitCalls(ctx context.Context, t testing.TB, order *realTimeOrder, n int) {
	t.Helper()
	_, start := order.state()
	for {
		if _, calls := order.state(); calls >= start+n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d allocations: %v", n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestOracleStateKeepsHighestMark(t *testing.T) {
	mark := func(ms uint64) []byte {
		data, err := proto.Marshal(&percolatorpb.OracleCommand{HighWater: ms})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	s := NewOracleState()
	s.Apply([]raft.Entry{
		{Index: 1},
		{Index: 2, Data: mark(500)},
		{Index: 3, Data: mark(300)},
		{Index: 4, Data: []byte{0xff, 0xff}}, // undecodable
	})
	if got := s.HighWater(); got != 500 {
		t.Fatalf("HighWater = %d, want 500 (the highest mark applied)", got)
	}
	image, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := NewOracleState()
	if err := restored.Restore(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 4}, Data: image}); err != nil {
		t.Fatal(err)
	}
	if got := restored.HighWater(); got != 500 {
		t.Fatalf("restored HighWater = %d, want 500", got)
	}
	if err := restored.Restore(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 9}, Data: []byte{1, 2, 3}}); err == nil {
		t.Fatal("Restore accepted a 3-byte image")
	}
}

// Concurrent callers get timestamps in real-time order, also after every
// clock jumps an hour back.
func TestOracleMonotonicUnderConcurrency(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newOracleCluster(t, 3, nil)
	c.waitLeader(ctx)
	order := &realTimeOrder{t: t}
	run, stop := context.WithCancel(ctx)
	wait := hammer(run, c, order, 8)
	waitCalls(ctx, t, order, 500)
	for _, m := range c.members {
		m.clock.SetOffset(-time.Hour)
	}
	waitCalls(ctx, t, order, 500)
	stop()
	wait()
}

// The round the issue asks for: kill the leader and turn every surviving
// clock back; the next leader's timestamps still exceed every earlier one.
// The killed member comes back, and the next round kills whoever leads.
func TestOracleMonotonicAcrossLeaderKillAndClockJump(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newOracleCluster(t, 3, nil)
	order := &realTimeOrder{t: t}
	run, stop := context.WithCancel(ctx)
	wait := hammer(run, c, order, 4)
	for round := 1; round <= 4; round++ {
		waitCalls(ctx, t, order, 200)
		leader := c.waitLeader(ctx)
		c.crash(leader)
		highest, _ := order.state()
		for _, m := range c.members {
			if m != leader {
				m.clock.SetOffset(-time.Duration(round) * time.Hour)
			}
		}
		if first := c.allocateRetrying(ctx, 1); first <= highest {
			t.Fatalf("round %d: the new leader handed out %d, not above %d handed out before the kill", round, first, highest)
		}
		// The killed machine's clock went back too while it was down.
		leader.clock.SetOffset(-time.Duration(round) * time.Hour)
		c.start(leader)
	}
	waitCalls(ctx, t, order, 200)
	stop()
	wait()
}

// A leader cut off from the others cannot confirm its leadership, so it
// hands out nothing, in particular nothing below what its successor has
// handed out. Check-quorum is off so that it keeps believing it leads.
func TestOracleDeposedLeaderHandsOutNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newOracleCluster(t, 3, func(cfg *raft.NodeConfig) { cfg.DisableCheckQuorum = true })
	c.allocateRetrying(ctx, 10)
	old := c.waitLeader(ctx)
	var others []*oracleMember
	var otherIDs []uint64
	for _, m := range c.members {
		if m != old {
			others, otherIDs = append(others, m), append(otherIDs, m.id)
			m.clock.SetOffset(-time.Hour)
		}
	}
	c.net.Partition([]uint64{old.id}, otherIDs)
	c.waitLeader(ctx, others...)
	successor := c.allocateRetrying(ctx, 1)

	node, oracle := old.running()
	if st := node.Status(); st.Role != raft.Leader {
		t.Fatalf("the cut-off member is %v, want it to still believe it leads", st.Role)
	}
	attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
	defer cancelAttempt()
	if first, err := oracle.Allocate(attempt, 1); err == nil {
		t.Fatalf("the deposed leader handed out %d (its successor already handed out %d)", first, successor)
	}

	c.net.Heal()
	order := &realTimeOrder{t: t, completed: successor}
	succeeded := 0
	for range 100 {
		if err := order.call(ctx, c, 1); err != nil {
			time.Sleep(10 * time.Millisecond)
		} else {
			succeeded++
		}
	}
	if succeeded == 0 {
		t.Fatal("no allocation succeeded after the partition healed")
	}
}

// Timestamps after a restart of the whole cluster, with every clock turned
// back, exceed those handed out before; the members recover the mark from
// snapshots as well as from the log.
func TestOracleMonotonicAcrossFullRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newOracleCluster(t, 3, func(cfg *raft.NodeConfig) {
		cfg.SnapshotEntries, cfg.SnapshotRetain = 2, 1
	})
	order := &realTimeOrder{t: t}
	for round := 1; round <= 3; round++ {
		for range 50 {
			floor := order.begin()
			order.end(floor, c.allocateRetrying(ctx, 3), 3)
		}
		for _, m := range c.members {
			c.crash(m)
			m.clock.SetOffset(-time.Duration(round) * time.Hour)
		}
		for _, m := range c.members {
			c.start(m)
		}
	}
	floor := order.begin()
	order.end(floor, c.allocateRetrying(ctx, 1), 1)
	snapshots := 0
	for _, m := range c.members {
		if snap, _ := m.storage.Snapshot(); !snap.IsEmpty() {
			snapshots++
		}
	}
	if snapshots == 0 {
		t.Error("no member took a snapshot; the test did not exercise recovery from one")
	}
}

// Many allocations share one Raft write: a mark covers markWindow of clock
// time, so a leader writes about once per window whatever the call rate.
func TestOracleBatchesMarkWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newOracleCluster(t, 3, nil)
	c.allocateRetrying(ctx, 1)
	leader := c.waitLeader(ctx)
	_, oracle := leader.running()
	const calls = 2000
	before, start := leader.marks.Load(), time.Now()
	for i := range calls {
		if _, err := oracle.Allocate(ctx, 1); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	writes, elapsed := leader.marks.Load()-before, time.Since(start)
	if limit := 1 + int64(elapsed/markWindow); writes > limit {
		t.Errorf("%d calls in %v wrote %d marks, want at most %d (one per %v)", calls, elapsed, writes, limit, markWindow)
	}
	t.Logf("%d calls in %v: %d mark writes", calls, elapsed, writes)
}

// A member that does not lead refuses, naming the leader.
func TestOracleFollowersRefuseNamingLeader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newOracleCluster(t, 3, nil)
	c.allocateRetrying(ctx, 1)
	leader := c.waitLeader(ctx)
	for _, m := range c.members {
		if m == leader {
			continue
		}
		node, oracle := m.running()
		for node.Status().Lead != leader.id {
			select {
			case <-ctx.Done():
				t.Fatalf("member %d never learned that %d leads", m.id, leader.id)
			case <-time.After(10 * time.Millisecond):
			}
		}
		_, err := oracle.Allocate(ctx, 1)
		var nle *raft.NotLeaderError
		if !errors.As(err, &nle) || nle.Leader != leader.id {
			t.Errorf("member %d: Allocate error %v, want a NotLeaderError naming %d", m.id, err, leader.id)
		}
	}
}

func TestOracleRefusesZeroCount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newOracleCluster(t, 1, nil)
	_, oracle := c.waitLeader(ctx).running()
	if first, err := oracle.Allocate(ctx, 0); err == nil {
		t.Fatalf("Allocate(0) = %d, want an error", first)
	}
}
