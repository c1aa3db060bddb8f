package kv

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/internal/member"
	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/memnet"
)

// memCluster is a KV cluster in this process whose Raft traffic crosses an
// in-memory network the test can cut, and whose members crash and restart
// from in-memory storage that survives them. Clients reach each member's KV
// service over real gRPC on loopback, and that traffic is never cut, as in
// Jepsen: faults come between the servers.
type memCluster struct {
	t     testing.TB
	net   *memnet.Network
	peers []Peer
	ids   map[string]uint64
	cfg   Config // a template: Name and Peers are set per member
	// retain is memClusterOptions.Retain.
	retain uint64

	members []*memMember
}

// memMember is one member: its durable storage, and its running Raft and
// gRPC server while it is up.
type memMember struct {
	name    string
	id      uint64
	addr    string
	storage *raft.MemoryStorage
	// snapsReceived counts the InstallSnapshot messages delivered to the
	// member, across restarts.
	snapsReceived atomic.Int64

	mu     sync.Mutex
	raft   *raft.Node
	server *grpc.Server
}

// memClusterOptions tunes newMemCluster.
type memClusterOptions struct {
	// Retain overrides how many entries a compaction keeps behind the
	// snapshot point (raft's SnapshotRetain, 1000 by default, not
	// reachable through Config), so that tests reach compaction with few
	// writes. 0 keeps the node's choice.
	Retain uint64
	// Tune adjusts each member's Config.
	Tune func(*Config)
}

// newMemCluster starts an n-member cluster; it is stopped when the test ends.
func newMemCluster(t testing.TB, n int, opts memClusterOptions) *memCluster {
	t.Helper()
	c := &memCluster{
		t:      t,
		net:    memnet.New(uint64(time.Now().UnixNano()), nil),
		cfg:    Config{Cluster: "mem", TickInterval: 10 * time.Millisecond, ElectionTick: 30},
		retain: opts.Retain,
	}
	if opts.Tune != nil {
		opts.Tune(&c.cfg)
	}
	listeners := make([]net.Listener, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen for member %d: %v", i+1, err)
		}
		listeners[i] = l
		c.peers = append(c.peers, Peer{Name: fmt.Sprintf("n%d", i+1), Addr: l.Addr().String()})
	}
	c.ids = member.RaftIDs(c.peers)
	for i, p := range c.peers {
		c.members = append(c.members, &memMember{
			name:    p.Name,
			id:      c.ids[p.Name],
			addr:    p.Addr,
			storage: raft.NewMemoryStorage(slices.Sorted(maps.Values(c.ids))),
		})
		c.start(c.members[i], listeners[i])
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			c.crash(m)
		}
	})
	return c
}

// shortRetainStorage keeps only retain entries behind each snapshot,
// whatever the node asks for.
type shortRetainStorage struct {
	*raft.MemoryStorage
	retain uint64
}

func (s shortRetainStorage) CreateSnapshot(index uint64, peers []uint64, data []byte, _ uint64) error {
	return s.MemoryStorage.CreateSnapshot(index, peers, data, s.retain)
}

func (c *memCluster) start(m *memMember, l net.Listener) {
	c.t.Helper()
	cfg := c.cfg
	cfg.Name, cfg.Peers = m.name, c.peers
	cfg, err := cfg.withDefaults()
	if err != nil {
		c.t.Fatalf("member %s: %v", m.name, err)
	}
	var storage raft.DurableStorage = m.storage
	if c.retain > 0 {
		storage = shortRetainStorage{m.storage, c.retain}
	}
	node, kvs, err := startReplica(cfg, storage, func(deliver func(raft.Message)) raft.Transport {
		return c.net.Connect(m.id, func(msg raft.Message) {
			if msg.Type == raft.MsgSnap {
				m.snapsReceived.Add(1)
			}
			deliver(msg)
		})
	})
	if err != nil {
		c.t.Fatalf("start member %s: %v", m.name, err)
	}
	server := grpc.NewServer()
	kvs.Register(server)
	fault.NewAdminServer(cfg.Clock, cfg.Failpoints).Register(server)
	go server.Serve(l)
	m.mu.Lock()
	m.raft, m.server = node, server
	m.mu.Unlock()
}

// crash stops m at once, as a kill would: RPCs in flight fail, and only
// what its storage holds survives. Crashing a stopped member does nothing.
func (c *memCluster) crash(m *memMember) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raft == nil {
		return
	}
	c.net.Disconnect(m.id)
	m.server.Stop()
	m.raft.Stop()
	m.raft, m.server = nil, nil
}

// restart starts a crashed member again from its storage, on its address.
func (c *memCluster) restart(m *memMember) {
	c.t.Helper()
	var l net.Listener
	var err error
	// The port was just released; another process may hold it briefly.
	for range 50 {
		if l, err = net.Listen("tcp", m.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("restart member %s: %v", m.name, err)
	}
	c.start(m, l)
}

func (m *memMember) up() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.raft != nil
}

// status is m's Raft status, and false if m is down.
func (m *memMember) status() (raft.Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raft == nil {
		return raft.Status{}, false
	}
	return m.raft.Status(), true
}

// leader returns the up member that leads in the highest term, if any.
func (c *memCluster) leader() *memMember {
	var lead *memMember
	var term uint64
	for _, m := range c.members {
		if st, ok := m.status(); ok && st.Role == raft.Leader && st.Term >= term {
			lead, term = m, st.Term
		}
	}
	return lead
}

// waitLeader waits until one of among leads (all members if none given).
func (c *memCluster) waitLeader(ctx context.Context, among ...*memMember) *memMember {
	c.t.Helper()
	if len(among) == 0 {
		among = c.members
	}
	for {
		for _, m := range among {
			if st, ok := m.status(); ok && st.Role == raft.Leader {
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

// isolate cuts m off from every other member.
func (c *memCluster) isolate(m *memMember) {
	var others []uint64
	for _, o := range c.others(m) {
		others = append(others, o.id)
	}
	c.net.Partition([]uint64{m.id}, others)
}

// others returns every member but m.
func (c *memCluster) others(m *memMember) []*memMember {
	var others []*memMember
	for _, o := range c.members {
		if o != m {
			others = append(others, o)
		}
	}
	return others
}

// client returns a client of the given members (all if none given),
// closed when the test ends.
func (c *memCluster) client(of ...*memMember) *Client {
	c.t.Helper()
	peers := c.peers
	if len(of) > 0 {
		peers = nil
		for _, m := range of {
			peers = append(peers, Peer{Name: m.name, Addr: m.addr})
		}
	}
	cl, err := NewClient(ClientConfig{Peers: peers, AttemptTimeout: 500 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}
