package runtime

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkCluster5 measures what a test run waits for: a 5-node KV
// cluster from nothing to every node serving, once the image exists
// (start-s), and its removal (teardown-s).
func BenchmarkCluster5(b *testing.B) {
	requireDocker(b)
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	image, err := EnsureImage(ctx, logger)
	if err != nil {
		b.Fatal(err)
	}
	var start, teardown time.Duration
	for b.Loop() {
		run := newRunID(b)
		began := time.Now()
		c, err := Start(ctx, Config{
			RunID:    run,
			Nodes:    []string{"n1", "n2", "n3", "n4", "n5"},
			NodeArgs: kvArgs,
			Image:    image,
			Logger:   logger,
		})
		if err != nil {
			b.Fatal(err)
		}
		started := time.Now()
		if err := c.Close(ctx); err != nil {
			b.Fatal(err)
		}
		start += started.Sub(began)
		teardown += time.Since(started)
	}
	b.ReportMetric(start.Seconds()/float64(b.N), "start-s/op")
	b.ReportMetric(teardown.Seconds()/float64(b.N), "teardown-s/op")
}
