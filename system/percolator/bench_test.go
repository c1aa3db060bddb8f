package percolator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchClients is the number of transactions the benchmark runs at once.
const benchClients = 64

// BenchmarkTxn runs two-key read-modify-write transactions (read two
// keys, write both incremented) from benchClients goroutines, on 3 and 5
// nodes over loopback with WALs that fsync, at the default Raft tick.
// Low contention draws the keys from 100,000; high contention from 10.
// It reports committed transactions per second, the share of attempts
// that failed with a conflict, and the latency percentiles of the
// committed ones. Run it with
//
//	go test -run '^$' -bench BenchmarkTxn -benchtime 10000x ./system/percolator/
func BenchmarkTxn(b *testing.B) {
	for _, nodes := range []int{3, 5} {
		for _, contention := range []struct {
			name string
			keys int
		}{{"low", 100_000}, {"high", 10}} {
			b.Run(fmt.Sprintf("nodes=%d/contention=%s", nodes, contention.name), func(b *testing.B) {
				benchReadModifyWrite(b, nodes, contention.keys)
			})
		}
	}
}

func benchReadModifyWrite(b *testing.B, nodes, keys int) {
	cluster := startCluster(b, nodes, func(cfg *Config) {
		cfg.TickInterval, cfg.ElectionTick = 0, 0 // the defaults
	})
	c := newTestClient(b, cluster.peers, nil)
	ctx := context.Background()
	warmUp(b, c)

	var next, conflicts atomic.Int64
	latencies := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range benchClients {
		rng := rand.New(rand.NewPCG(uint64(w), 1))
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				k1 := rng.IntN(keys)
				k2 := (k1 + 1 + rng.IntN(keys-1)) % keys
				t0 := time.Now()
				err := readModifyWrite(ctx, c, benchKey(k1), benchKey(k2))
				switch {
				case err == nil:
					latencies[w] = append(latencies[w], time.Since(t0))
				case errors.Is(err, ErrConflict):
					conflicts.Add(1)
				default:
					b.Errorf("transaction: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	committed := slices.Concat(latencies...)
	slices.Sort(committed)
	if len(committed) == 0 {
		b.Fatal("no transaction committed")
	}
	percentile := func(p float64) float64 {
		return float64(committed[int(p*float64(len(committed)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(committed))/elapsed.Seconds(), "txn/s")
	b.ReportMetric(100*float64(conflicts.Load())/float64(b.N), "conflict%")
	b.ReportMetric(percentile(0.50), "p50-ms")
	b.ReportMetric(percentile(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // wall time per attempt over 64 goroutines says little
}

func benchKey(i int) []byte { return []byte("bench-" + strconv.Itoa(i)) }

// readModifyWrite increments the counters at k1 and k2 in one transaction.
func readModifyWrite(ctx context.Context, c *Client, k1, k2 []byte) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	keys := [][]byte{k1, k2}
	values, _, err := tx.BatchGet(ctx, keys)
	if err != nil {
		return err
	}
	for i, k := range keys {
		n, _ := strconv.Atoi(string(values[i])) // absent: 0
		tx.Set(k, []byte(strconv.Itoa(n+1)))
	}
	return tx.Commit(ctx)
}

// warmUp runs one transaction per worker, so that the client has found
// every group's leader and its connections before the clock starts.
func warmUp(b testing.TB, c *Client) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for w := range benchClients {
		wg.Go(func() {
			k := fmt.Sprintf("warmup-%d", w)
			if err := readModifyWrite(ctx, c, []byte(k+"a"), []byte(k+"b")); err != nil {
				b.Errorf("warm-up transaction: %v", err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
