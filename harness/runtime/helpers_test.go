package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/squall-chaos/squall/nemesis"
)

// requireDocker skips the test when no Docker engine answers, unless
// SQUALL_REQUIRE_DOCKER=1 demands one.
func requireDocker(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Available(ctx); err != nil {
		if os.Getenv("SQUALL_REQUIRE_DOCKER") == "1" {
			tb.Fatalf("SQUALL_REQUIRE_DOCKER=1 but Docker is unavailable: %v", err)
		}
		tb.Skipf("Docker is unavailable: %v", err)
	}
}

// dockerClient is a client for the test's own checks and cleanup.
func dockerClient(tb testing.TB) client.APIClient {
	tb.Helper()
	provider, docker, err := connect(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { provider.Close() })
	return docker
}

// newRunID returns a run id unique to this test, and removes whatever the
// run leaves when the test ends, pass or fail.
func newRunID(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	run := "test-" + hex.EncodeToString(b)
	docker := dockerClient(tb)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := removeRun(ctx, docker, run); err != nil {
			tb.Errorf("clean up run %s: %v", run, err)
		}
	})
	return run
}

// runObjects lists what the engine still holds of run.
func runObjects(tb testing.TB, docker client.APIClient, run string) []object {
	tb.Helper()
	objects, err := listSquall(context.Background(), docker, run)
	if err != nil {
		tb.Fatal(err)
	}
	return objects
}

// leftAfter lists run's objects after its cleanup (leftAfterCleanup):
// those a cleanup missed, not a network the engine holds for no container.
func leftAfter(tb testing.TB, docker client.APIClient, run string) []object {
	tb.Helper()
	objects, err := leftAfterCleanup(context.Background(), docker, run)
	if err != nil {
		tb.Fatal(err)
	}
	return objects
}

// kvArgs is the command line of a KV node.
func kvArgs(name string, members []nemesis.Node) []string {
	return []string{"node", "--system", "kv", "--id", name, "--peers", peerList(members), "--data", DataDir, "--log-level", "debug"}
}

// peerList is squall's --peers of members: n1=IP:7000,...
func peerList(members []nemesis.Node) string {
	peers := make([]string, len(members))
	for i, m := range members {
		peers[i] = m.Name + "=" + netip.AddrPortFrom(m.IP, 7000).String()
	}
	return strings.Join(peers, ",")
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}
