package raft_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// BenchmarkCommitMemoryEtcdRaft is BenchmarkCommitMemory's load on
// etcd-io/raft, the peer squall's Raft is measured against: the same
// proposal size and proposers, the same in-memory storage and message
// passing (a channel per node), the same timing (10 ms ticks, election
// after 10, heartbeat every one, PreVote and CheckQuorum on, 1 MiB
// messages, 256 in flight). Run both in one command so that they share the
// machine's state, alternating with -count:
//
//	go test -run '^$' -bench 'CommitMemory(EtcdRaft)?/nodes=3' -benchtime 3s -count 4 ./system/raft/
//
// Both report leader-changes: terms the cluster went through after the
// first leader, which a benchmark that loses its leader to stalls shows.
func BenchmarkCommitMemoryEtcdRaft(b *testing.B) {
	for _, nodes := range []int{3, 5} {
		for _, workers := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("nodes=%d/proposers=%d", nodes, workers), func(b *testing.B) {
				c := startEtcdCluster(b, nodes)
				leader := c.leader(b)
				term := leader.node.Status().GetTerm()
				runProposers(b, workers, 128, leader.propose)
				b.ReportMetric(float64(c.maxTerm()-term), "leader-changes")
			})
		}
	}
}

// etcdCluster is etcd-io/raft nodes in one process, each driven the way
// etcd's server and raftexample drive one: a goroutine that ticks and
// handles each Ready by appending to a MemoryStorage, sending the messages
// and applying the committed entries, and one that steps the node with
// the messages it receives.
type etcdCluster struct {
	nodes []*etcdNode
}

type etcdNode struct {
	id      uint64
	node    etcdraft.Node
	storage *etcdraft.MemoryStorage
	inbox   chan *raftpb.Message
	peers   []*etcdNode // by id-1

	nextID  atomic.Uint64
	mu      sync.Mutex
	waiters map[uint64]chan struct{} // proposals made here, by id
}

func startEtcdCluster(b *testing.B, n int) *etcdCluster {
	c := &etcdCluster{}
	var peers []etcdraft.Peer
	for i := 1; i <= n; i++ {
		peers = append(peers, etcdraft.Peer{ID: uint64(i)})
	}
	for i := 1; i <= n; i++ {
		storage := etcdraft.NewMemoryStorage()
		node := etcdraft.StartNode(&etcdraft.Config{
			ID:              uint64(i),
			ElectionTick:    10,
			HeartbeatTick:   1,
			Storage:         storage,
			MaxSizePerMsg:   1 << 20,
			MaxInflightMsgs: 256,
			PreVote:         true,
			CheckQuorum:     true,
			Logger:          quietLogger{},
		}, peers)
		c.nodes = append(c.nodes, &etcdNode{id: uint64(i), node: node, storage: storage,
			inbox: make(chan *raftpb.Message, 4096), waiters: map[uint64]chan struct{}{}})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		n.peers = c.nodes
		wg.Go(func() { n.run(stop) })
		wg.Go(func() { n.receive(stop) })
	}
	b.Cleanup(func() {
		close(stop)
		wg.Wait()
		for _, n := range c.nodes {
			n.node.Stop()
		}
	})
	return c
}

// receive steps the node with the messages sent to it, on a goroutine of
// its own as etcd's transport does, so that the Ready loop never waits
// for the node to take a message.
func (n *etcdNode) receive(stop <-chan struct{}) {
	ctx := context.Background()
	for {
		select {
		case <-stop:
			return
		case m := <-n.inbox:
			n.node.Step(ctx, m)
		}
	}
}

func (n *etcdNode) run(stop <-chan struct{}) {
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			n.node.Tick()
		case rd := <-n.node.Ready():
			if !etcdraft.IsEmptyHardState(rd.HardState) {
				n.storage.SetHardState(rd.HardState)
			}
			n.storage.Append(rd.Entries)
			for _, m := range rd.Messages {
				select {
				case n.peers[m.GetTo()-1].inbox <- m:
				default: // a full inbox drops, as a congested network would
				}
			}
			for _, e := range rd.CommittedEntries {
				if e.GetType() == raftpb.EntryNormal && len(e.Data) >= 8 {
					n.committed(binary.BigEndian.Uint64(e.Data))
				}
			}
			n.node.Advance()
		}
	}
}

// proposalPatience bounds the wait for a proposal to apply. etcd-io/raft
// drops a proposal a leader change overtakes without a word, so a
// benchmark that lost one would otherwise wait for it forever.
const proposalPatience = 10 * time.Second

// propose proposes data and waits until this node applies it.
func (n *etcdNode) propose(ctx context.Context, data []byte) error {
	id := n.nextID.Add(1)
	entry := binary.BigEndian.AppendUint64(make([]byte, 0, len(data)), id)
	entry = append(entry, data[min(8, len(data)):]...)
	done := make(chan struct{})
	n.mu.Lock()
	n.waiters[id] = done
	n.mu.Unlock()
	forget := func() {
		n.mu.Lock()
		delete(n.waiters, id)
		n.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, proposalPatience)
	defer cancel()
	if err := n.node.Propose(ctx, entry); err != nil {
		forget()
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		forget()
		return fmt.Errorf("proposal %d not applied within %v (lost to a leader change?): %w", id, proposalPatience, ctx.Err())
	}
}

func (n *etcdNode) committed(id uint64) {
	n.mu.Lock()
	done, ok := n.waiters[id]
	delete(n.waiters, id)
	n.mu.Unlock()
	if ok {
		close(done)
	}
}

// leader campaigns node 1 and returns the leader once one leads.
func (c *etcdCluster) leader(b *testing.B) *etcdNode {
	c.nodes[0].node.Campaign(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if st := n.node.Status(); st.RaftState == etcdraft.StateLeader {
				return n
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal("no etcd-io/raft leader within 30s")
	return nil
}

func (c *etcdCluster) maxTerm() uint64 {
	var term uint64
	for _, n := range c.nodes {
		term = max(term, n.node.Status().GetTerm())
	}
	return term
}

// quietLogger drops etcd-io/raft's log lines, which would time the
// terminal rather than Raft.
type quietLogger struct{}

func (quietLogger) Debug(...any)            {}
func (quietLogger) Debugf(string, ...any)   {}
func (quietLogger) Error(...any)            {}
func (quietLogger) Errorf(string, ...any)   {}
func (quietLogger) Info(...any)             {}
func (quietLogger) Infof(string, ...any)    {}
func (quietLogger) Warning(...any)          {}
func (quietLogger) Warningf(string, ...any) {}
func (quietLogger) Fatal(v ...any)          { panic(fmt.Sprint(v...)) }
func (quietLogger) Fatalf(f string, v ...any) {
	panic(fmt.Sprintf(f, v...))
}
func (quietLogger) Panic(v ...any)            { panic(fmt.Sprint(v...)) }
func (quietLogger) Panicf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
