package elle

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/checker/elle/elletest"
	"github.com/squall-chaos/squall/history"
)

func generated(txns int, seed uint64) history.History {
	return elletest.StrictSerializable(elletest.Config{
		Txns: txns, Processes: 20, Keys: 16, WritesPerKey: 32, MaxMops: 4,
		InfoRate: 0.02, FailRate: 0.03, Seed: seed,
	})
}

func TestGeneratedHistoriesAreValid(t *testing.T) {
	for seed := range uint64(4) {
		h := generated(5000, seed)
		if err := h.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, model := range []string{"read-committed", "snapshot-isolation", "serializable", "strict-serializable"} {
			res := Check(context.Background(), h, Options{Model: model})
			if res.Verdict != checker.Valid {
				t.Fatalf("seed %d, %s: %s: %+v", seed, model, res.Summary, res.Anomalies)
			}
		}
	}
}

// TestGeneratedStaleReadIsFound makes a reader of a valid history miss
// committed appends it saw: the checker must notice.
func TestGeneratedStaleReadIsFound(t *testing.T) {
	h := generated(2000, 7)
	// Rewrite the last committed read of a list longer than three to miss
	// its last three elements: a stale read.
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Type != history.OK {
			continue
		}
		for j, m := range h[i].Value.([]any) {
			mop := m.([]any)
			if list, _ := mop[2].([]any); mop[0] == "r" && len(list) > 3 {
				stale := append([]any(nil), h[i].Value.([]any)...)
				stale[j] = []any{"r", mop[1], list[:len(list)-3]}
				h[i].Value = stale
				res := Check(context.Background(), h, Options{Model: "strict-serializable"})
				if res.Verdict != checker.Invalid {
					t.Fatalf("stale read at event %d not found: %s", i, res.Summary)
				}
				return
			}
		}
	}
	t.Fatal("no read to make stale")
}

func BenchmarkCheck100k(b *testing.B) { benchmarkCheck(b, 100_000) }
func BenchmarkCheck1M(b *testing.B)   { benchmarkCheck(b, 1_000_000) }

// benchmarkCheck reports transactions checked per second, the CPU time
// a check takes (the process's, collector included: steadier than the
// wall time on a shared machine), the heap the generated history holds,
// and the peak heap in use while checking.
func benchmarkCheck(b *testing.B, txns int) {
	h := generated(txns, 1)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	historyHeap := ms.HeapInuse

	stop, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var peakHeap uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			select {
			case <-stop:
				peak <- peakHeap
				return
			case <-tick.C:
			}
		}
	}()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		res := Check(context.Background(), h, Options{Model: "strict-serializable"})
		if res.Verdict != checker.Valid {
			b.Fatalf("%s", res.Summary)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	close(stop)
	b.ReportMetric(float64(txns*b.N)/b.Elapsed().Seconds(), "txns/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(historyHeap)/(1<<20), "history-MiB")
	b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MiB")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
