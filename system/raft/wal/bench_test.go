package wal

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/squall-chaos/squall/system/raft"
)

// BenchmarkSave measures Save of a batch of 128-byte entries, each Save
// paying one fsync, and the CPU time this process spends per Save (for
// one entry, about what a plain write-and-fsync loop costs).
func BenchmarkSave(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			s, err := Open(b.TempDir(), testPeers)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, 128)
			ents := make([]raft.Entry, n)
			index := uint64(1)
			b.SetBytes(int64(n * len(data)))
			before := processCPU()
			b.ResetTimer()
			for range b.N {
				for i := range ents {
					ents[i] = raft.Entry{Index: index, Term: 1, Data: data}
					index++
				}
				if err := s.Save(raft.HardState{Term: 1, Commit: index - 1}, ents, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64((processCPU()-before).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the CPU time this process has spent so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
