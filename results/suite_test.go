package results

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
)

// TestWriteSuite: suite.json reads back, the JUnit XML has a case per
// test (a failure naming the anomalies and linking the report for an
// invalid run, an error for a harness failure, skipped for a test never
// run), and the page escapes what it shows.
func TestWriteSuite(t *testing.T) {
	store := t.TempDir()
	dir, err := NewSuiteDir(store, "nightly", time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(store, SuitesDir, "nightly", "20261207T010000.000Z"); dir != want {
		t.Errorf("suite dir %s, want %s", dir, want)
	}
	runDir := filepath.Join(store, "kv-register", "20261207T010001.000Z")
	tests := []SuiteTest{
		{Name: "kv-register", Verdict: "valid", Dir: runDir, Duration: time.Minute},
		{Name: "kv-register-bug-<b>stale</b>", Verdict: "invalid", Dir: runDir, Anomalies: map[string]int{"nonlinearizable": 3}, Summary: "linearizable: not linearizable: 3 keys"},
		ErroredTest("percolator-bank", nil, "", time.Second, errors.New("cluster never served")),
		{Name: "etcd-append"},
	}
	s := Suite{Name: "nightly", Started: time.Now(), Tests: tests, Verdict: SuiteVerdict(tests), Interrupted: true}
	if s.Verdict != checker.Invalid {
		t.Errorf("suite verdict %s, want invalid", s.Verdict)
	}
	if err := WriteSuite(dir, s); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSuite(filepath.Join(dir, SuiteFile))
	if err != nil || len(back.Tests) != 4 || back.Tests[1].Anomalies["nonlinearizable"] != 3 || !back.Interrupted {
		t.Fatalf("suite.json read back: %+v, %v", back, err)
	}

	raw, err := os.ReadFile(filepath.Join(dir, JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var junit junitSuites
	if err := xml.Unmarshal(raw, &junit); err != nil {
		t.Fatalf("junit.xml: %v\n%s", err, raw)
	}
	js := junit.Suites[0]
	if js.Tests != 4 || js.Failures != 1 || js.Errors != 1 || js.Skipped != 1 {
		t.Errorf("junit counts %+v", js)
	}
	if c := js.Cases[1]; c.Failure == nil || !strings.Contains(c.Failure.Message, "3 nonlinearizable") ||
		!strings.Contains(c.Failure.Text, filepath.Join(runDir, ReportFile)) || !strings.Contains(c.Name, "kv-register-bug-<b>stale</b>") {
		t.Errorf("invalid case %+v", c)
	}
	if c := js.Cases[2]; c.Error == nil || !strings.Contains(c.Error.Message, "cluster never served") {
		t.Errorf("errored case %+v", c)
	}
	if c := js.Cases[0]; c.Failure != nil || c.Error != nil || c.Skipped != nil {
		t.Errorf("valid case %+v", c)
	}

	page, err := os.ReadFile(filepath.Join(dir, SuitePageFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(page), "<b>stale</b>") || !strings.Contains(string(page), "&lt;b&gt;stale&lt;/b&gt;") {
		t.Error("the suite page does not escape a test's name")
	}
	if !strings.Contains(string(page), `href="../../../kv-register/20261207T010001.000Z/report.html"`) {
		t.Errorf("the suite page does not link the run's report:\n%s", page)
	}
}

// TestSuiteVerdict: invalid over unknown (and harness errors) over valid.
func TestSuiteVerdict(t *testing.T) {
	for _, tc := range []struct {
		verdicts []string
		want     checker.Verdict
	}{
		{[]string{"valid", "valid"}, checker.Valid},
		{[]string{"valid", "unknown"}, checker.Unknown},
		{[]string{"error", "valid"}, checker.Unknown},
		{[]string{"unknown", "invalid", "error"}, checker.Invalid},
	} {
		var tests []SuiteTest
		for _, v := range tc.verdicts {
			tests = append(tests, SuiteTest{Verdict: v})
		}
		if got := SuiteVerdict(tests); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.verdicts, got, tc.want)
		}
	}
}

// TestSuitesIsNotATestName: a test named "suites" would land in the
// suites' folder.
func TestSuitesIsNotATestName(t *testing.T) {
	if _, err := NewRun(t.TempDir(), SuitesDir, time.Now()); err == nil {
		t.Error("a test named suites was accepted")
	}
}
