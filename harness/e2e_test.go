package harness

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/results"
)

func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := runtime.Available(ctx); err != nil {
		if os.Getenv("SQUALL_REQUIRE_DOCKER") == "1" {
			t.Fatalf("SQUALL_REQUIRE_DOCKER=1 but Docker is unavailable: %v", err)
		}
		t.Skipf("Docker is unavailable: %v", err)
	}
}

// e2eSpec is a short run of the register workload on a 5-node kv cluster
// in containers, with partitions every few seconds.
func e2eSpec(t *testing.T, nemesis []string, bugs []string) Spec {
	limit := 20 * time.Second
	if testing.Short() {
		limit = 10 * time.Second
	}
	return Spec{
		System: "kv", Workload: "register", Nemesis: nemesis, Nodes: 5, Concurrency: 10,
		ConcurrencyText: "2n", TimeLimit: limit, Seed: 42, NemesisInterval: 3 * time.Second,
		Bugs: bugs, OpTimeout: 3 * time.Second, CheckTimeout: 30 * time.Second, Store: t.TempDir(),
	}
}

func runE2E(t *testing.T, spec Spec) Outcome {
	t.Helper()
	requireDocker(t)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	outcome, err := Run(context.Background(), spec, io.Discard, logger)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	// The run directory holds everything the issue lists.
	for _, f := range []string{results.SpecFile, results.HistoryFile, results.ResultsFile, results.ReportFile, "nodes/n1.log"} {
		if st, err := os.Stat(filepath.Join(outcome.Dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("run directory lacks %s (%v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(spec.Store, "latest")); err != nil {
		t.Errorf("store/latest: %v", err)
	}
	stored, err := results.LoadRun(outcome.Dir)
	if err != nil {
		t.Fatal(err)
	}
	faults := 0
	for _, op := range stored.History {
		if op.Process == history.Nemesis && op.F == "start-partition" && op.Type == history.Info && op.Error == "" {
			faults++
		}
	}
	if len(spec.Nemesis) > 0 && faults == 0 {
		t.Errorf("no partition was applied during the run")
	}
	return outcome
}

func TestEndToEndCorrectStoreIsValid(t *testing.T) {
	outcome := runE2E(t, e2eSpec(t, []string{"partition", "kill"}, nil))
	if outcome.Verdict != checker.Valid {
		t.Fatalf("verdict %s for the correct store, want valid; see %s", outcome.Verdict, outcome.Dir)
	}
}

func TestEndToEndStaleReadsBugIsInvalid(t *testing.T) {
	outcome := runE2E(t, e2eSpec(t, []string{"partition"}, []string{"stale-reads"}))
	if outcome.Verdict != checker.Invalid {
		t.Fatalf("verdict %s for the store with stale reads, want invalid; see %s", outcome.Verdict, outcome.Dir)
	}
}
