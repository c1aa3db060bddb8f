package grpctransport

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/system/raft"
)

// BenchmarkTransportThroughput measures MsgApps per second from one
// transport to another over loopback. The sender keeps at most half a
// queue outstanding, as Raft's flow control would, so nothing is dropped.
func BenchmarkTransportThroughput(b *testing.B) {
	for _, entries := range []int{1, 64} {
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			benchmarkThroughput(b, entries)
		})
	}
}

func benchmarkThroughput(b *testing.B, entries int) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	addrs, lis := listen(b, 1, 2)
	var trs []*Transport
	for _, id := range []uint64{1, 2} {
		tr, err := New(Config{Self: id, Peers: addrs, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		srv := grpc.NewServer(ServerOptions()...)
		tr.Register(srv)
		go srv.Serve(lis[id])
		b.Cleanup(func() { srv.Stop(); tr.Close() })
		trs = append(trs, tr)
	}
	var received, dropped atomic.Int64
	send := trs[0].AddGroup(1, func(m raft.Message) {
		if m.Type == raft.MsgUnreachable {
			dropped.Add(1)
		}
	})
	trs[1].AddGroup(1, func(raft.Message) { received.Add(1) })

	ents := make([]raft.Entry, entries)
	for i := range ents {
		ents[i] = raft.Entry{Term: 1, Index: uint64(i + 1), Data: make([]byte, 128)}
	}
	msg := []raft.Message{{Type: raft.MsgApp, From: 1, To: 2, Term: 1, Entries: ents}}
	const window = defaultQueueSize / 2

	b.ResetTimer()
	start := time.Now()
	for sent := range int64(b.N) {
		for sent-received.Load() >= window {
			if dropped.Load() > 0 {
				b.Fatalf("messages dropped; %d of %d received", received.Load(), b.N)
			}
			time.Sleep(10 * time.Microsecond)
		}
		send.Send(msg)
	}
	for received.Load() < int64(b.N) {
		if dropped.Load() > 0 {
			b.Fatalf("messages dropped; %d of %d received", received.Load(), b.N)
		}
		time.Sleep(10 * time.Microsecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
