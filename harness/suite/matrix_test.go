package suite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/harness"
	"github.com/squall-chaos/squall/results"
	_ "github.com/squall-chaos/squall/sut/all"
)

func base() harness.Spec {
	return harness.Spec{Nodes: 5, Concurrency: 10, ConcurrencyText: "2n", TimeLimit: time.Minute,
		NemesisInterval: 10 * time.Second, OpTimeout: 5 * time.Second, CheckTimeout: time.Minute}
}

// TestMatrixEntries: every combination, each repeat with its own seed,
// then the explicit tests over the base settings.
func TestMatrixEntries(t *testing.T) {
	m := Matrix{Name: "m", Systems: []string{"kv", "percolator"}, Workloads: []string{"register", "bank"},
		Nemeses: []string{"partition,kill", "none"}, TimeLimits: []time.Duration{30 * time.Second}, Repeats: 2, Base: base(),
		Tests: []harness.Spec{{System: "kv", Workload: "register", Nemesis: []string{"pause:leader"}, Bugs: []string{"lease-reads"}, OpTimeout: 4 * time.Second}}}
	entries, err := m.Entries(100)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2*2*2*2+2 {
		t.Fatalf("%d entries, want 18", len(entries))
	}
	seeds := map[uint64]bool{}
	for _, e := range entries {
		if seeds[e.Spec.Seed] {
			t.Errorf("seed %d twice", e.Spec.Seed)
		}
		seeds[e.Spec.Seed] = true
		if e.Spec.Name == "" {
			t.Errorf("entry %+v has no name", e.Spec)
		}
	}
	first := entries[0].Spec
	if first.System != "kv" || first.Workload != "register" || strings.Join(first.Nemesis, ",") != "partition,kill" || first.TimeLimit != 30*time.Second {
		t.Errorf("first entry %+v", first)
	}
	if got := entries[2].Spec; len(got.Nemesis) != 0 {
		t.Errorf("nemesis none gave %v", got.Nemesis)
	}
	last := entries[len(entries)-1].Spec
	if last.OpTimeout != 4*time.Second || last.TimeLimit != time.Minute || last.NemesisInterval != 10*time.Second || last.Bugs[0] != "lease-reads" {
		t.Errorf("explicit test over the base: %+v", last)
	}

	m.Seeds = []uint64{7, 8}
	m.Repeats, m.Tests = 1, nil
	entries, err = m.Entries(100)
	if err != nil || len(entries) != 2*2*2*2 || entries[0].Spec.Seed != 7 || entries[1].Spec.Seed != 8 {
		t.Fatalf("listed seeds: %d entries, %v", len(entries), err)
	}
}

// TestMatrixRefusesBadTests: an entry that is not a valid test fails the
// whole suite before anything runs, naming the entry.
func TestMatrixRefusesBadTests(t *testing.T) {
	for _, tc := range []struct {
		m    Matrix
		want string
	}{
		{Matrix{Name: "m", Systems: []string{"kv"}, Workloads: []string{"register"}, Nemeses: []string{"frobnicate"}, Base: base()}, "test 1 (kv register frobnicate)"},
		{Matrix{Name: "m", Systems: []string{"etcd"}, Workloads: []string{"register"}, Nemeses: []string{"clock"}, Base: base()}, "admin API"},
		{Matrix{Name: "m", Systems: []string{"kv"}, Base: base()}, "needs systems, workloads and nemeses"},
		{Matrix{Name: "m", Base: base()}, "has no tests"},
		{Matrix{Name: "m", Base: base(), Tests: []harness.Spec{{System: "kv", Workload: "register", Bugs: []string{"nope"}}}}, `"nope" is not a planted bug of kv`},
	} {
		if _, err := tc.m.Entries(1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.m, err, tc.want)
		}
	}
}

// TestLoadExample: the example suite file loads into valid tests.
func TestLoadExample(t *testing.T) {
	m, err := Load(filepath.Join("..", "..", "examples", "suite.yaml"), base())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := m.Entries(1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "example" || len(entries) != 2*2*3+1 {
		t.Fatalf("suite %s of %d tests, want example of 13", m.Name, len(entries))
	}
	last := entries[len(entries)-1].Spec
	if last.Name != "kv-lease-reads-under-pauses" || last.Concurrency != 25 || last.NemesisInterval != 6*time.Second || last.TimeLimit != 50*time.Second {
		t.Errorf("explicit test %+v", last)
	}
	if first := entries[0].Spec; first.NemesisInterval != 5*time.Second || first.TimeLimit != 30*time.Second {
		t.Errorf("matrix test %+v, want the file's interval and time limit", first)
	}
}

// TestLoadRefusesBadFiles: each mistake in a suite file names the file
// and the field.
func TestLoadRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"name: x\nsystem: [kv]\n", "field system not found"},
		{"name: x\ntime_limits: [60]\n", `time_limits: "60" is not a positive duration with a unit`},
		{"systems: [kv]\n", "name: a suite needs a name"},
		{"name: x\ntests:\n  - system: kv\n", "tests[0]: a test needs a system and a workload"},
		{"name: x\ntests:\n  - system: kv\n    workload: register\n    op_timeout: soon\n", "tests[0].op_timeout"},
		{"name: x\nconcurrency: lots\n", "concurrency"},
		{"name: [x\n", "suite file"},
	} {
		path := filepath.Join(t.TempDir(), "suite.yaml")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, base())
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v, want an error naming %s and containing %q", tc.body, err, path, tc.want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), base()); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestBuiltinSuitesAreValid: the nightly suite covers every system and
// workload with every family; the selfcheck runs each planted bug and
// each clean configuration the asked number of times.
func TestBuiltinSuitesAreValid(t *testing.T) {
	entries, err := Nightly(base()).Entries(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3*3 {
		t.Errorf("nightly has %d tests, want 9", len(entries))
	}
	check, err := Selfcheck(base(), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	bugs, clean := 0, 0
	for _, e := range check {
		if e.Bug != "" {
			bugs++
			if len(e.Spec.Bugs) != 1 || e.Spec.Bugs[0] != e.Bug {
				t.Errorf("selfcheck entry for %s plants %v", e.Bug, e.Spec.Bugs)
			}
		} else {
			clean++
		}
	}
	if bugs != 2*10 || clean != 2*9 {
		t.Errorf("selfcheck: %d bug runs and %d clean runs, want 20 and 18", bugs, clean)
	}
}

// TestDetection: a row per bug or clean configuration, catches and false
// alarms counted, the median time to the first anomaly over catches.
func TestDetection(t *testing.T) {
	spec := base()
	spec.System, spec.Workload, spec.Nemesis = "kv", "register", []string{"partition"}
	entries := []Entry{{Spec: spec, Bug: "stale-reads", Row: "a"}, {Spec: spec, Bug: "stale-reads", Row: "a"}, {Spec: spec, Bug: "stale-reads", Row: "a"},
		{Spec: spec, Row: "b"}, {Spec: spec, Row: "b"}}
	tests := []results.SuiteTest{
		{Verdict: "invalid", FirstAnomaly: 3 * time.Second}, {Verdict: "invalid", FirstAnomaly: 9 * time.Second}, {Verdict: "valid"},
		{Verdict: "valid"}, {Verdict: "error", Error: "boom"},
	}
	rows := detection(entries, tests)
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	if r := rows[0]; r.Bug != "stale-reads" || r.Runs != 3 || r.Invalid != 2 || r.MedianFirstAnomaly != 9*time.Second {
		t.Errorf("bug row %+v", r)
	}
	if r := rows[1]; r.Bug != "" || r.Runs != 2 || r.Invalid != 0 || r.Errors != 1 {
		t.Errorf("clean row %+v", r)
	}
	rows[0].Config = "register, failpoint:kv/after-commit,failpoint:error, every 4s"
	table := DetectionTable(rows)
	if !strings.Contains(table, "2/3") || !strings.Contains(table, "0/2 wolf") {
		t.Errorf("table:\n%s", table)
	}
	// A long run value widens its column instead of pushing its row's
	// later cells out of line.
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	caught := strings.Index(lines[0], "caught")
	for _, l := range lines[1:] {
		if got := strings.Index(l, strings.Fields(l[caught:])[0]); got != caught {
			t.Errorf("caught column of %q at %d, header's at %d:\n%s", l, got, caught, table)
		}
	}
}
