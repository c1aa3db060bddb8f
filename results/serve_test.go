package results

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
)

// markup is a value from a history that holds HTML: every page must show
// it as text.
const markup = `<b id="injected">bold</b>`

// storeWithRuns writes three runs of two tests over three nights, the
// invalid one's summary holding markup.
func storeWithRuns(t testing.TB) string {
	t.Helper()
	store := t.TempDir()
	night := time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		test, system string
		verdict      checker.Verdict
		ops          int
	}{
		{"kv-register", "kv", checker.Valid, 500},
		{"kv-register", "kv", checker.Invalid, 300},
		{"percolator-bank", "percolator", checker.Unknown, 100},
	} {
		run, err := NewRun(store, r.test, night.Add(time.Duration(i)*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		spec := map[string]any{"system": r.system, "workload": "register", "nemesis": []string{"partition"}, "seed": 10 + i}
		if err := run.WriteSpec(spec); err != nil {
			t.Fatal(err)
		}
		results := []checker.Result{{Checker: "stats", Verdict: checker.Valid, Details: map[string]any{"total": r.ops}}}
		if r.verdict != checker.Valid {
			results = append(results, checker.Result{Checker: "linearizable", Verdict: r.verdict, Summary: "read " + markup,
				Anomalies: []checker.Anomaly{{Kind: "nonlinearizable", Key: markup}}})
		}
		if err := run.WriteResults(Summary{Test: r.test, Verdict: r.verdict, Results: results, RunDuration: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(run.Path(ReportFile), []byte("<title>squall report</title>"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func get(t *testing.T, srv http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func newTestServer(t *testing.T, store string) *Server {
	t.Helper()
	srv, err := NewServer(store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestServerRunsPage: every run, filtered and sorted as asked, with
// history values shown as text.
func TestServerRunsPage(t *testing.T) {
	srv := newTestServer(t, storeWithRuns(t))
	for _, tc := range []struct {
		query string
		tests []string // the rows' tests, in order
	}{
		{"/", []string{"percolator-bank", "kv-register", "kv-register"}},
		{"/?verdict=invalid", []string{"kv-register"}},
		{"/?system=percolator", []string{"percolator-bank"}},
		{"/?q=PERCOLATOR", []string{"percolator-bank"}},
		{"/?sort=ops&asc=1", []string{"percolator-bank", "kv-register", "kv-register"}},
		{"/?sort=ops", []string{"kv-register", "kv-register", "percolator-bank"}},
		{"/?sort=nonsense", []string{"percolator-bank", "kv-register", "kv-register"}},
	} {
		code, body := get(t, srv, tc.query)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.query, code, body)
		}
		var got []string
		for _, row := range strings.Split(body, `<tr class="run">`)[1:] {
			_, rest, _ := strings.Cut(row, `<a href="/test/`)
			name, _, _ := strings.Cut(rest, `"`)
			got = append(got, name)
		}
		if strings.Join(got, " ") != strings.Join(tc.tests, " ") {
			t.Errorf("%s: rows %v, want %v", tc.query, got, tc.tests)
		}
	}
	_, body := get(t, srv, "/")
	if strings.Contains(body, markup) || !strings.Contains(body, "&lt;b id=&#34;injected&#34;&gt;") {
		t.Error("the runs page does not escape a history value")
	}
	if !strings.Contains(body, `href="/files/kv-register/20261206T020000.000Z/report.html"`) {
		t.Errorf("no link to a run's report:\n%s", body)
	}
}

// TestServerTestPage: a test's nights, and the night it went red.
func TestServerTestPage(t *testing.T) {
	srv := newTestServer(t, storeWithRuns(t))
	code, body := get(t, srv, "/test/kv-register")
	if code != http.StatusOK || strings.Count(body, `class="night `) != 2 || !strings.Contains(body, "red since 2026-12-06") {
		t.Errorf("test page: %d\n%s", code, body)
	}
	if code, _ := get(t, srv, "/test/nosuch"); code != http.StatusNotFound {
		t.Errorf("a test with no runs: %d, want 404", code)
	}
}

// TestServerSeesResultsRewritten: a run's results read once are read
// again when its results file changes (a re-check of the run), and a run
// that gains results stops being unfinished.
func TestServerSeesResultsRewritten(t *testing.T) {
	store := storeWithRuns(t)
	srv := newTestServer(t, store)
	if _, body := get(t, srv, "/?verdict=invalid"); strings.Count(body, `<tr class="run">`) != 1 {
		t.Fatalf("before: want one invalid run:\n%s", body)
	}
	runs, err := srv.Runs()
	if err != nil {
		t.Fatal(err)
	}
	valid := runs[len(runs)-1] // the first night's, valid
	sum := Summary{Test: valid.Test, Verdict: checker.Invalid, RunDuration: time.Minute,
		Results: []checker.Result{{Checker: "linearizable", Verdict: checker.Invalid, Summary: "now invalid, and longer than before"}}}
	run := &Run{Dir: filepath.Join(store, valid.Test, valid.Stamp), TestName: valid.Test, Timestamp: valid.Stamp}
	if err := run.WriteResults(sum); err != nil {
		t.Fatal(err)
	}
	fresh, err := NewRun(store, "kv-register", time.Date(2026, 12, 9, 2, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, srv, "/?verdict=unfinished"); strings.Count(body, `<tr class="run">`) != 1 {
		t.Fatalf("a run without results: want it listed unfinished:\n%s", body)
	}
	if err := fresh.WriteResults(sum); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, srv, "/?verdict=invalid"); strings.Count(body, `<tr class="run">`) != 3 {
		t.Errorf("after: want the rewritten and the new run invalid too:\n%s", body)
	}
}

// TestServerForgetsDeletedRuns: a run removed from the store leaves the
// pages and the server's cache.
func TestServerForgetsDeletedRuns(t *testing.T) {
	store := storeWithRuns(t)
	srv := newTestServer(t, store)
	runs, err := srv.Runs()
	if err != nil {
		t.Fatal(err)
	}
	gone := runs[0]
	if gone.Verdict == unfinished {
		t.Fatalf("%s: want a finished run, one the server caches", gone.Path())
	}
	if err := os.RemoveAll(filepath.Join(store, gone.Test, gone.Stamp)); err != nil {
		t.Fatal(err)
	}
	after, err := srv.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(runs)-1 {
		t.Fatalf("after removing %s: %d runs listed, want %d", gone.Path(), len(after), len(runs)-1)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if _, kept := srv.finished[gone.Path()]; kept {
		t.Errorf("the removed run %s is still cached", gone.Path())
	}
	for key := range srv.finished {
		if !slices.ContainsFunc(after, func(r StoredRun) bool { return r.Path() == key }) {
			t.Errorf("cached run %s is not in the store", key)
		}
	}
}

// TestServerIsReadOnlyAndStaysInTheStore: no method but GET, no file
// outside the store, by path or by symlink.
func TestServerIsReadOnlyAndStaysInTheStore(t *testing.T) {
	store := storeWithRuns(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("TOP-SECRET-CONTENT"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(store, "evil")); err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, store)
	for _, target := range []string{"/files/evil", "/files/../secret", "/files/%2e%2e/secret"} {
		if code, body := get(t, srv, target); code == http.StatusOK || strings.Contains(body, "TOP-SECRET-CONTENT") {
			t.Errorf("%s: %d %q", target, code, body)
		}
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
	if code, body := get(t, srv, "/files/kv-register/20261206T020000.000Z/report.html"); code != http.StatusOK || !strings.Contains(body, "squall report") {
		t.Errorf("a run's report: %d %q", code, body)
	}
}

// TestNights: a night's verdict is its worst run's; the red streak is
// counted back from the newest night.
func TestNights(t *testing.T) {
	day := func(d int, v string) StoredRun {
		return StoredRun{Started: time.Date(2026, 12, d, 3, 0, 0, 0, time.UTC), Verdict: v}
	}
	nights := Nights([]StoredRun{day(3, "invalid"), day(1, "valid"), day(2, "invalid"), day(2, "valid"), day(4, "invalid")})
	var verdicts []string
	for _, n := range nights {
		verdicts = append(verdicts, n.Date+" "+n.Verdict)
	}
	if want := "2026-12-01 valid,2026-12-02 invalid,2026-12-03 invalid,2026-12-04 invalid"; strings.Join(verdicts, ",") != want {
		t.Errorf("nights %v, want %s", verdicts, want)
	}
	if got := WentRed(nights); got != "2026-12-02" {
		t.Errorf("went red %q, want 2026-12-02", got)
	}
	if got := WentRed(nights[:1]); got != "" {
		t.Errorf("green: went red %q", got)
	}
}
