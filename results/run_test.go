package results

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
)

var start = time.Date(2026, 11, 27, 2, 50, 0, 0, time.UTC)

func TestNewRunLayout(t *testing.T) {
	store := t.TempDir()
	run, err := NewRun(store, "register-kv", start)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(store, "register-kv", "20261127T025000.000Z")
	if run.Dir != want {
		t.Errorf("run dir %s, want %s", run.Dir, want)
	}
	if fi, err := os.Stat(filepath.Join(run.Dir, NodesDir)); err != nil || !fi.IsDir() {
		t.Errorf("no nodes directory: %v", err)
	}
	assertLink(t, filepath.Join(store, "latest"), "register-kv/20261127T025000.000Z", run.Dir)
	assertLink(t, filepath.Join(store, "register-kv", "latest"), "20261127T025000.000Z", run.Dir)
}

func TestNewRunUniqueAndLatest(t *testing.T) {
	store := t.TempDir()
	first, err := NewRun(store, "register-kv", start)
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewRun(store, "register-kv", start) // the same millisecond
	if err != nil {
		t.Fatal(err)
	}
	if second.Dir == first.Dir || second.Timestamp != "20261127T025000.001Z" {
		t.Errorf("second run at %s, want the next millisecond after %s", second.Dir, first.Dir)
	}
	other, err := NewRun(store, "bank-kv", start.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	assertLink(t, filepath.Join(store, "latest"), "bank-kv/20261127T035000.000Z", other.Dir)
	assertLink(t, filepath.Join(store, "register-kv", "latest"), "20261127T025000.001Z", second.Dir)
	entries, err := os.ReadDir(filepath.Join(store, "register-kv"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"20261127T025000.000Z", "20261127T025000.001Z", "latest"}; !reflect.DeepEqual(names, want) {
		t.Errorf("test directory holds %v, want %v (no leftover temporary links)", names, want)
	}
}

func TestNewRunRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "latest", "..", "a/b", `a\b`, ".hidden"} {
		if _, err := NewRun(t.TempDir(), name, start); err == nil {
			t.Errorf("NewRun accepted test name %q", name)
		}
	}
}

func assertLink(t *testing.T, link, wantTarget, wantDir string) {
	t.Helper()
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatal(err)
	}
	if target != wantTarget {
		t.Errorf("%s -> %s, want %s", link, target, wantTarget)
	}
	got, err := filepath.EvalSymlinks(link)
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(wantDir)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s resolves to %s, want %s", link, got, want)
	}
}

func TestResultsRoundTrip(t *testing.T) {
	run, err := NewRun(t.TempDir(), "register-kv", start)
	if err != nil {
		t.Fatal(err)
	}
	s := Summary{
		Test:    "register-kv",
		Verdict: checker.Invalid,
		Results: []checker.Result{
			{Checker: "stats", Verdict: checker.Valid, Summary: "4 operations"},
			{Checker: "linearizable", Verdict: checker.Invalid, Summary: "not linearizable: 1 key r1 (of 1)",
				Anomalies: []checker.Anomaly{{Kind: "nonlinearizable", Ops: []int64{2, 3, 6, 7}, Key: "r1", Explanation: "stale read"}}},
		},
		Seed:          42,
		Started:       start,
		RunDuration:   time.Minute,
		CheckDuration: 1500 * time.Millisecond,
	}
	if err := run.WriteResults(s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResults(run.Path(ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("read back\n%+v, want\n%+v", got, s)
	}
	b, err := os.ReadFile(run.Path(ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"verdict": "invalid"`, `"kind": "nonlinearizable"`, `"seed": 42`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("results.json does not contain %s:\n%s", s, b)
		}
	}
}

func TestReadResultsNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ResultsFile)
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResults(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want one naming %s", err, path)
	}
}
