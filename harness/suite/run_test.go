package suite

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/harness"
	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/harness/runtime/dockertest"
	"github.com/squall-chaos/squall/results"
)

// shortTests are a clean run and a run with a planted bug its faults
// reveal, 10 s each.
func shortTests(t *testing.T, store string) []Entry {
	b := base()
	b.TimeLimit, b.NemesisInterval, b.OpTimeout, b.CheckTimeout, b.Store = 10*time.Second, 3*time.Second, 3*time.Second, 30*time.Second, store
	m := Matrix{Name: "short", Base: b, Tests: []harness.Spec{
		{System: "kv", Workload: "register"},
		{System: "kv", Workload: "register", Nemesis: []string{"partition"}, Bugs: []string{"stale-reads"}},
	}}
	entries, err := m.Entries(42)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// TestSuiteRunsTestsInParallel: two tests at once, each on its own
// cluster; the planted bug makes the suite invalid, and the JUnit XML
// names that test in its failure.
func TestSuiteRunsTestsInParallel(t *testing.T) {
	dockertest.Require(t)
	store := t.TempDir()
	var out bytes.Buffer
	s, dir, err := Run(context.Background(), "short", shortTests(t, store), Options{Store: store, Parallel: 2, Out: &out})
	if err != nil {
		t.Fatalf("suite: %v\n%s", err, out.String())
	}
	if s.Verdict != checker.Invalid {
		t.Fatalf("suite verdict %s, want invalid\n%s", s.Verdict, out.String())
	}
	if v := s.Tests[0].Verdict; v != "valid" {
		t.Errorf("clean test: %s (%s)", v, s.Tests[0].Error)
	}
	bad := s.Tests[1]
	if bad.Verdict != "invalid" || bad.Anomalies["nonlinearizable"] == 0 || bad.FirstAnomaly <= 0 {
		t.Errorf("stale-reads test: %+v", bad)
	}
	for _, f := range []string{results.SuiteFile, results.JUnitFile, results.SuitePageFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("suite folder lacks %s: %v", f, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, results.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var junit struct {
		Suites []struct {
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &junit); err != nil {
		t.Fatal(err)
	}
	js := junit.Suites[0]
	if js.Failures != 1 || js.Cases[1].Failure == nil || !strings.Contains(js.Cases[1].Name, "bug-stale-reads") ||
		!strings.Contains(js.Cases[1].Failure.Message, "nonlinearizable") {
		t.Errorf("junit: %s", raw)
	}
	for _, want := range []string{"[1/2]", "[2/2]", "INVALID", "VALID"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSuiteInterrupted: cancelling a suite (Ctrl-C) stops the test
// running, which removes its cluster, and runs no more; the summary says
// so.
func TestSuiteInterrupted(t *testing.T) {
	dockertest.Require(t)
	store := t.TempDir()
	entries := shortTests(t, store)
	entries[0].Spec.TimeLimit = 5 * time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Interrupt once the first test is recording its history.
	go func() {
		for ctx.Err() == nil {
			if found, _ := filepath.Glob(filepath.Join(store, "*", "2*", results.HistoryFile)); len(found) > 0 {
				time.Sleep(2 * time.Second)
				cancel()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	s, _, err := Run(ctx, "short", entries, Options{Store: store, Parallel: 1})
	if !errors.Is(err, harness.ErrInterrupted) {
		t.Fatalf("interrupted suite: %v", err)
	}
	if !s.Interrupted || s.Tests[1].Verdict != "" {
		t.Errorf("summary %+v, want interrupted with the second test never run", s)
	}
	first := s.Tests[0]
	if first.Dir == "" {
		t.Fatalf("the first test has no run directory: %+v", first)
	}
	left, err := runtime.RunObjects(context.Background(), filepath.Base(first.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("the interrupted test left %v", left)
	}
}
