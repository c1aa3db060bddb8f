package kv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/squall-chaos/squall/system/internal/member"
)

// benchClients is the concurrency of the benchmarks: one kv.Client each,
// so that writes run concurrently.
const benchClients = 64

// benchCluster starts n nodes on loopback with real gRPC and a WAL that
// fsyncs, at the default 100ms tick, and returns benchClients clients that
// have found the leader.
func benchCluster(b *testing.B, n int, mode ReadMode) []*Client {
	b.Helper()
	_, peers := startNodes(b, n, func(cfg *Config) {
		cfg.TickInterval = 0 // the default
		cfg.ReadMode = mode
	})
	// The clients share connections, as the clients of one process would.
	pool := member.NewConnPool()
	b.Cleanup(func() { pool.Close() })
	clients := make([]*Client, benchClients)
	for i := range clients {
		c, err := NewClient(ClientConfig{Peers: peers, Pool: pool})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		clients[i] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			if _, err := c.Put(ctx, fmt.Sprintf("warmup%d", i), []byte("x")); err != nil {
				b.Errorf("warm-up put: %v", err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return clients
}

// runOps runs b.N calls of op spread over the clients and reports
// throughput and latency percentiles.
func runOps(b *testing.B, clients []*Client, op func(ctx context.Context, c *Client, i int) error) {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	latencies := make([][]time.Duration, len(clients))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for ci, c := range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(ctx, c, i); err != nil {
					b.Errorf("op %d: %v", i, err)
					return
				}
				latencies[ci] = append(latencies[ci], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	percentile := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(percentile(0.50), "p50-ms")
	b.ReportMetric(percentile(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // wall time per op over 64 clients says little
}

func BenchmarkPut(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			clients := benchCluster(b, n, ReadIndex)
			value := make([]byte, 100)
			runOps(b, clients, func(ctx context.Context, c *Client, i int) error {
				_, err := c.Put(ctx, fmt.Sprintf("key%d", i%10000), value)
				return err
			})
		})
	}
}

func BenchmarkGet(b *testing.B) {
	const keys = 1000
	for _, n := range []int{3, 5} {
		for _, mode := range []ReadMode{ReadIndex, ReadLog, ReadLease} {
			b.Run(fmt.Sprintf("nodes=%d/mode=%s", n, mode), func(b *testing.B) {
				clients := benchCluster(b, n, mode)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				value := make([]byte, 100)
				for i := range keys {
					if _, err := clients[0].Put(ctx, fmt.Sprintf("key%d", i), value); err != nil {
						b.Fatal(err)
					}
				}
				runOps(b, clients, func(ctx context.Context, c *Client, i int) error {
					resp, err := c.Get(ctx, fmt.Sprintf("key%d", i%keys))
					if err == nil && !resp.Found {
						err = fmt.Errorf("key%d not found", i%keys)
					}
					return err
				})
			})
		}
	}
}

// BenchmarkMemory100kKeys loads 100,000 keys of 100 bytes into a 3-node
// cluster and reports the Go heap in use per node (the process holds all
// three) and the whole process's resident set. Each iteration loads a new
// cluster; run it with -benchtime=1x.
func BenchmarkMemory100kKeys(b *testing.B) {
	const keys = 100_000
	for range b.N {
		clients := benchCluster(b, 3, ReadIndex)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		value := make([]byte, 100)
		var next atomic.Int64
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < keys; i = next.Add(1) - 1 {
					if _, err := c.Put(ctx, fmt.Sprintf("key%06d", i), value); err != nil {
						b.Errorf("put: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		cancel()
		if b.Failed() {
			b.FailNow()
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/3/(1<<20), "heap-MB/node")
		if rss, err := vmRSS("self"); err == nil {
			b.ReportMetric(float64(rss)/(1<<20), "process-RSS-MB")
		} else {
			b.Logf("no RSS: %v", err)
		}
		b.ReportMetric(0, "ns/op")
	}
}

// BenchmarkNodeRSS100kKeys loads 100,000 keys of 100-byte values into three
// real `squall node` processes and reports the largest resident set of the
// three (VmRSS), the memory a node costs in production. Run it once:
// -benchtime 1x.
func BenchmarkNodeRSS100kKeys(b *testing.B) {
	c := startProcCluster(b, 3)
	// Production settings: the process tests' tiny snapshot interval would
	// measure snapshot garbage rather than the node.
	c.extraArgs = []string{"--tick", "100ms", "--snapshot-entries", "10000"}
	for _, name := range c.running() {
		c.terminate(name)
		c.start(name)
	}
	pool := member.NewConnPool()
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const keys, workers = 100_000, 64
	value := []byte(strings.Repeat("v", 100))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		client, err := NewClient(ClientConfig{Peers: c.peers, Pool: pool})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for i := next.Add(1) - 1; i < keys; i = next.Add(1) - 1 {
				if _, err := client.Put(ctx, fmt.Sprintf("key%06d", i), value); err != nil {
					b.Errorf("put %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	c.waitConverged()
	maxRSS := 0.0
	for _, name := range c.running() {
		rss, err := vmRSS(strconv.Itoa(c.proc(name).cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		maxRSS = max(maxRSS, float64(rss)/(1<<20))
	}
	b.ReportMetric(maxRSS, "max-node-RSS-MB")
	b.ReportMetric(0, "ns/op")
}

// vmRSS returns the resident set size in bytes of a process ("self" or a
// pid), from /proc.
func vmRSS(pid string) (int64, error) {
	path := "/proc/" + pid + "/status"
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q in %s: %w", rest, path, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in %s: %v", path, sc.Err())
}

// BenchmarkSnapshot100kKeys is the time a snapshot of 100,000 keys of
// 100-byte values holds the Raft goroutine: "capture" is what it does now
// (CaptureSnapshot gathers where the records are; encoding runs elsewhere), "encode"
// what a capture's encoding costs off it, "whole" what Snapshot costs on
// it when taken in one step.
func BenchmarkSnapshot100kKeys(b *testing.B) {
	const keys = 100_000
	st := newState(0)
	value := make([]byte, 100)
	for i := range keys {
		key := fmt.Sprintf("key%06d", i)
		st.data.put(key, value, uint64(i+1))
	}
	b.Run("capture", func(b *testing.B) {
		for b.Loop() {
			st.CaptureSnapshot()
		}
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			encode := st.CaptureSnapshot()
			b.StartTimer()
			if _, err := encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Snapshot(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
