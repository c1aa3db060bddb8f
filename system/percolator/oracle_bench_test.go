package percolator

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOracle measures the leader's Allocate on a three-member
// in-memory cluster: each operation is one call for count timestamps,
// made by one of callers concurrent goroutines. It reports timestamps per
// second. Every call costs a ReadIndex heartbeat round (shared by the
// calls that arrive together) and, once per markWindow, a Raft write; a
// Tso RPC adds a gRPC round trip on top.
func BenchmarkOracle(b *testing.B) {
	for _, bc := range []struct{ callers, count int }{{1, 1}, {16, 1}, {16, 16}} {
		b.Run(fmt.Sprintf("callers=%d/count=%d", bc.callers, bc.count), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c := newOracleCluster(b, 3, nil)
			c.allocateRetrying(ctx, 1)
			_, oracle := c.waitLeader(ctx).running()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range bc.callers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := oracle.Allocate(ctx, uint32(bc.count)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*bc.count)/b.Elapsed().Seconds(), "timestamps/s")
		})
	}
}
