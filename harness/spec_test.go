package harness

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/checker/checkertest"
	"github.com/squall-chaos/squall/history"
)

func TestParseConcurrency(t *testing.T) {
	for _, tc := range []struct {
		in    string
		nodes int
		want  int
		err   string
	}{
		{"10", 5, 10, ""},
		{"3n", 5, 15, ""},
		{" 2n ", 3, 6, ""},
		{"0", 5, 0, "not a positive number"},
		{"n", 5, 0, "not a positive number"},
		{"-1", 5, 0, "not a positive number"},
		{"3x", 5, 0, "not a positive number"},
	} {
		got, err := ParseConcurrency(tc.in, tc.nodes)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseConcurrency(%q) = %d, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseConcurrency(%q, %d) = %d, %v; want %d", tc.in, tc.nodes, got, err, tc.want)
		}
	}
}

func validSpec() Spec {
	return Spec{System: "kv", Workload: "register", Nemesis: []string{"partition", "kill"}, Nodes: 5,
		Concurrency: 10, TimeLimit: time.Minute, NemesisInterval: 10 * time.Second, OpTimeout: 5 * time.Second}
}

func TestSpecValidate(t *testing.T) {
	s := validSpec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Name != "kv-register-partition+kill" {
		t.Errorf("name %q", s.Name)
	}
	for _, tc := range []struct {
		change func(*Spec)
		want   string
	}{
		{func(s *Spec) { s.System = "mongo" }, `--system: "mongo" is not a known system (want etcd, kv, percolator)`},
		{func(s *Spec) { s.Workload = "queue" }, `--workload: "queue" is not a known workload`},
		{func(s *Spec) { s.Nemesis = []string{"meteor"} }, `--nemesis: "meteor" is not a fault family (want partition, kill, pause, clock, loss, failpoint, power, all or none`},
		{func(s *Spec) { s.Nemesis = []string{"clock:warp"} }, `--nemesis: clock mode "warp": want one of bump, strobe, skew`},
		{func(s *Spec) { s.Nodes = 0 }, "--nodes: 0 must be between 1 and 9"},
		{func(s *Spec) { s.TimeLimit = 0 }, "--time-limit"},
		{func(s *Spec) { s.Rate = -1 }, "--rate"},
		{func(s *Spec) { s.Rate = math.NaN() }, "--rate: NaN is not a number of operations per second"},
		{func(s *Spec) { s.Rate = math.Inf(1) }, "--rate: +Inf is not"},
		{func(s *Spec) { s.ReadMode = "dirty" }, `--read-mode: "dirty" is not a read mode of kv (want readindex, log, lease)`},
		{func(s *Spec) { s.System, s.ReadMode = "percolator", "lease" }, `--read-mode: percolator has no read modes`},
		{func(s *Spec) { s.Bugs = []string{"nope"} }, `--bug: "nope" is not a planted bug of kv (want duplicate-retries, lease-reads, skip-fsync, stale-reads, timeout-is-failure)`},
	} {
		s := validSpec()
		tc.change(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

// TestAnalyzeBareHistory re-checks a history file from elsewhere: a valid
// one, and one with a stale read.
func TestAnalyzeBareHistory(t *testing.T) {
	dir := t.TempDir()
	h := checkertest.LinearizableRegister(checkertest.RegisterConfig{Ops: 2000, Keys: 5, Processes: 4, Seed: 7})
	path := filepath.Join(dir, "h.jsonl")
	writeHistory(t, path, h)
	var out bytes.Buffer
	outcome, err := Analyze(context.Background(), path, AnalyzeOptions{Workload: "register", Store: filepath.Join(dir, "store")}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if outcome.Verdict != checker.Valid {
		t.Fatalf("verdict %s, want valid:\n%s", outcome.Verdict, out.String())
	}

	// A read of a value never written to its key is not linearizable.
	bad := append(history.History(nil), h...)
	bad = append(bad,
		history.Op{Index: int64(len(bad)), Type: history.Invoke, Process: 99, F: "read", Value: []any{"k0", nil}, Time: bad[len(bad)-1].Time + 1},
		history.Op{Index: int64(len(bad) + 1), Type: history.OK, Process: 99, F: "read", Value: []any{"k0", 123456789}, Time: bad[len(bad)-1].Time + 2})
	badPath := filepath.Join(dir, "bad.jsonl")
	writeHistory(t, badPath, bad)
	outcome, err = Analyze(context.Background(), badPath, AnalyzeOptions{Workload: "register", Store: filepath.Join(dir, "store")}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if outcome.Verdict != checker.Invalid {
		t.Fatalf("verdict %s for a history with an impossible read, want invalid", outcome.Verdict)
	}

	// Re-analyzing the run directory rewrites its results in place.
	again, err := Analyze(context.Background(), outcome.Dir, AnalyzeOptions{}, &out)
	if err != nil || again.Verdict != checker.Invalid || again.Dir != outcome.Dir {
		t.Fatalf("re-analyze run dir: %+v, %v", again, err)
	}

	if _, err := Analyze(context.Background(), filepath.Join(dir, "missing.jsonl"), AnalyzeOptions{Workload: "register"}, &out); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Fatalf("missing file: got %v, want an error naming it", err)
	}
}

func writeHistory(t *testing.T, path string, h history.History) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := history.Write(f, h); err != nil {
		t.Fatal(err)
	}
}
