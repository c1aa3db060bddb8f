package grpctransport_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/grpctransport"
	"github.com/squall-chaos/squall/system/raft/wal"
)

// BenchmarkCommitGRPC measures committed proposals per second and commit
// latency (from Propose to its return at the leader: committed and
// applied) of a cluster set up as in production: every node with its own
// wal.Storage, fsync on, and its own gRPC server on loopback, ticking
// every 100ms. Proposals are 128 bytes, made at the leader by `proposers`
// goroutines each waiting for its proposal before making the next.
func BenchmarkCommitGRPC(b *testing.B) {
	for _, nodes := range []int{3, 5} {
		for _, proposers := range []int{1, 64} {
			b.Run(fmt.Sprintf("nodes=%d/proposers=%d", nodes, proposers), func(b *testing.B) {
				c := newCommitCluster(b, nodes)
				leader := c.leader()
				c.saves.reset()
				runProposers(b, proposers, 128, leader.Propose)
				c.saves.report(b)
			})
		}
	}
}

// BenchmarkCommitGRPCPaced measures commit latency at a fixed offered
// load of 1,000 proposals/s: a pacer issues one proposal per millisecond,
// each in its own goroutine, whether or not earlier ones have returned, so
// a slow commit delays no later proposal and hides no latency.
func BenchmarkCommitGRPCPaced(b *testing.B) {
	for _, nodes := range []int{3, 5} {
		b.Run(fmt.Sprintf("nodes=%d/rate=1000", nodes), func(b *testing.B) {
			c := newCommitCluster(b, nodes)
			leader := c.leader()
			c.saves.reset()
			runPaced(b, time.Millisecond, 128, leader.Propose)
			c.saves.report(b)
		})
	}
}

// hangGuard bounds waits in the benchmarks' setup; it only turns a hang
// into a failure.
const hangGuard = 30 * time.Second

type commitCluster struct {
	b     *testing.B
	nodes []*raft.Node
	saves latencies // of every node's Storage.Save
}

// timedStorage records how long each Save takes: with fsync on, the
// disk's share of commit latency.
type timedStorage struct {
	*wal.Storage
	saves *latencies
}

func (s *timedStorage) Save(hs raft.HardState, ents []raft.Entry, snap *raft.Snapshot) error {
	t0 := time.Now()
	err := s.Storage.Save(hs, ents, snap)
	s.saves.add(time.Since(t0))
	return err
}

type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, d)
}

// reset forgets what was recorded during setup.
func (l *latencies) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = nil
}

// report reports the recorded Save latencies' percentiles.
func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	b.ReportMetric(float64(l.all[len(l.all)*50/100].Microseconds())/1000, "save-p50-ms")
	b.ReportMetric(float64(l.all[len(l.all)*99/100].Microseconds())/1000, "save-p99-ms")
}

// newCommitCluster starts size nodes, each with a wal.Storage in its own
// temporary directory and a gRPC server on a loopback port.
func newCommitCluster(b *testing.B, size int) *commitCluster {
	b.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ids := make([]uint64, size)
	addrs := map[uint64]string{}
	listeners := map[uint64]net.Listener{}
	for i := range ids {
		ids[i] = uint64(i + 1)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs[ids[i]], listeners[ids[i]] = l.Addr().String(), l
	}
	c := &commitCluster{b: b}
	for _, id := range ids {
		storage, err := wal.Open(b.TempDir(), ids)
		if err != nil {
			b.Fatal(err)
		}
		tr, err := grpctransport.New(grpctransport.Config{Self: id, Peers: addrs, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		srv := grpc.NewServer(grpctransport.ServerOptions()...)
		tr.Register(srv)
		var node atomic.Pointer[raft.Node]
		send := tr.AddGroup(1, func(m raft.Message) {
			// Messages before StartNode returns are dropped; Raft retransmits.
			if n := node.Load(); n != nil {
				n.Receive(m)
			}
		})
		n, err := raft.StartNode(raft.NodeConfig{
			Config:       raft.Config{ID: id},
			Storage:      &timedStorage{Storage: storage, saves: &c.saves},
			Transport:    send,
			StateMachine: &counter{},
			TickInterval: 100 * time.Millisecond,
			Logger:       quiet,
		})
		if err != nil {
			b.Fatal(err)
		}
		node.Store(n)
		go srv.Serve(listeners[id])
		b.Cleanup(func() {
			n.Stop()
			srv.Stop()
			tr.Close()
			storage.Close()
		})
		c.nodes = append(c.nodes, n)
	}
	return c
}

// leader waits until one node leads and every other follows it.
func (c *commitCluster) leader() *raft.Node {
	c.b.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if st := n.Status(); st.Role == raft.Leader && c.allFollow(st.ID, st.Term) {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.b.Fatalf("no leader within %v", hangGuard)
	return nil
}

func (c *commitCluster) allFollow(lead, term uint64) bool {
	for _, n := range c.nodes {
		if st := n.Status(); st.Lead != lead || st.Term != term {
			return false
		}
	}
	return true
}

// counter is the cheapest state machine: it counts entries, so the
// benchmarks measure Raft, storage and transport, not the application.
type counter struct{ n atomic.Uint64 }

func (c *counter) Apply(ents []raft.Entry) { c.n.Add(uint64(len(ents))) }
func (c *counter) Snapshot() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, c.n.Load()), nil
}
func (c *counter) Restore(s raft.Snapshot) error {
	if len(s.Data) == 8 {
		c.n.Store(binary.BigEndian.Uint64(s.Data))
	}
	return nil
}

// runProposers drives b.N proposals of size bytes through propose from
// `workers` goroutines and reports proposals/s and latency percentiles.
func runProposers(b *testing.B, workers, size int, propose func(context.Context, []byte) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, workers)
	data := make([]byte, size)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := propose(ctx, data); err != nil {
					b.Errorf("propose: %v", err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatency(b, elapsed, slices.Concat(lat...))
}

// runPaced issues b.N proposals of size bytes through propose, one every
// interval, each in its own goroutine, and reports the rate achieved and
// latency percentiles.
func runPaced(b *testing.B, interval time.Duration, size int, propose func(context.Context, []byte) error) {
	b.Helper()
	lat := make([]time.Duration, b.N)
	data := make([]byte, size)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Sleep to the i-th slot rather than for an interval, so that
		// oversleeping does not lower the offered rate.
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			t0 := time.Now()
			if err := propose(context.Background(), data); err != nil {
				b.Errorf("propose: %v", err)
			}
			lat[i] = time.Since(t0)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatency(b, elapsed, lat)
}

func reportLatency(b *testing.B, elapsed time.Duration, all []time.Duration) {
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "proposals/s")
	b.ReportMetric(float64(all[len(all)*50/100].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}
