// Package dockertest is what container tests share: Require, which skips
// a test where Docker is unavailable, unless CI demands Docker, and
// KeptOnFailure, a directory for a test's runs.
package dockertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/squall-chaos/squall/harness/runtime"
)

// Require skips tb if the Docker engine cannot be reached, or fails it if
// $SQUALL_REQUIRE_DOCKER is 1 (as in CI, where a missing Docker must not
// pass as skipped tests). Ryuk, whose image cannot be pulled, is off.
func Require(tb testing.TB) {
	tb.Helper()
	tb.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := runtime.Available(ctx); err != nil {
		if os.Getenv("SQUALL_REQUIRE_DOCKER") == "1" {
			tb.Fatalf("SQUALL_REQUIRE_DOCKER=1 but Docker is unavailable: %v", err)
		}
		tb.Skipf("Docker is unavailable: %v", err)
	}
}

// KeptOnFailure returns a new directory (named with prefix) for a test's
// runs that outlives the test if it fails, so that the run directory a
// failure names, nodes' logs included, can still be read; a passing
// test's is removed. (A t.TempDir goes whatever the outcome.)
func KeptOnFailure(tb testing.TB, prefix string) string {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("the runs are kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}
