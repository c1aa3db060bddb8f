package kv

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/squall-chaos/squall/internal/loopback"
)

// Reads run concurrently on one Client, their retries and backoff too:
// the race detector checks the state they share.
func TestClientConcurrentReadsRetry(t *testing.T) {
	c, err := NewClient(ClientConfig{Peers: []Peer{{Name: "n1", Addr: loopback.Addrs(t, 1)[0]}}, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrDefinite) && !errors.Is(err, ErrIndeterminate) {
				t.Errorf("get from a cluster that is down = %v, want a failure in the taxonomy", err)
			}
		})
	}
	wg.Wait()
}
