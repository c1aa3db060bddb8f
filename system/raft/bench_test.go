package raft_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/squall-chaos/squall/system/raft"
)

// counter is the cheapest state machine: it counts entries, so benchmarks
// measure Raft, not the application.
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := propose(ctx, data); err != nil {
					b.Errorf("propose: %v", err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatency(b, elapsed, slices.Concat(lat...))
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

// BenchmarkCommitMemory measures committed proposals per second and commit
// latency over the in-memory transport with in-memory storage: the cost of
// the protocol and the driver alone. Compaction is off, as in
// BenchmarkCommitMemoryEtcdRaft (its peer): the log keeps every proposal,
// so the collector has all of it to walk, and a leader lost to its stalls
// shows in leader-changes (terms after the first leader's).
func BenchmarkCommitMemory(b *testing.B) {
	for _, nodes := range []int{3, 5} {
		for _, workers := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("nodes=%d/proposers=%d", nodes, workers), func(b *testing.B) {
				c := newCluster(b, nodes, func(cfg *raft.NodeConfig) {
					cfg.StateMachine = &counter{}
					cfg.SnapshotEntries = 1 << 40 // never
				})
				leader := c.nodes[c.leader()]
				term := leader.Status().Term
				runProposers(b, workers, 128, leader.Propose)
				var last uint64
				for _, n := range c.nodes {
					last = max(last, n.Status().Term)
				}
				b.ReportMetric(float64(last-term), "leader-changes")
			})
		}
	}
}

// BenchmarkGCOfLongLog measures one full garbage collection while a
// MemoryStorage holds 2,000,000 uncompacted entries of 40 bytes, each
// proposed as its own allocation (a log whose compaction a lagging
// follower holds back): the GC's marking cost of the log.
func BenchmarkGCOfLongLog(b *testing.B) {
	const entries, size = 2_000_000, 40
	ms := raft.NewMemoryStorage([]uint64{1})
	batch := make([]raft.Entry, 0, 1000)
	for i := uint64(1); i <= entries; i++ {
		batch = append(batch, raft.Entry{Index: i, Term: 1, Data: make([]byte, size)})
		if len(batch) == cap(batch) {
			if err := ms.Append(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		runtime.GC()
	}
	b.StopTimer()
	runtime.KeepAlive(ms)
}
