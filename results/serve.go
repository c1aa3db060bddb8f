package results

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/squall-chaos/squall/checker"
)

// Server serves a store to a browser, read-only: the runs (filtered and
// sorted), the suites, one test's verdicts night by night, and every
// file of a run or suite, its report first. Everything it sends is in
// the binary or the store; nothing comes from elsewhere.
type Server struct {
	store string
	root  *os.Root
	mux   *http.ServeMux

	// finished holds the runs read with their results, by path: a
	// nightly store of thousands of runs is parsed once, not per page.
	// An entry is used only while its results file is unchanged.
	mu       sync.Mutex
	finished map[string]finishedRun
}

type finishedRun struct {
	results fs.FileInfo
	run     StoredRun
}

// NewServer serves store. Files are read through an os.Root: no path or
// symlink leads outside the store.
func NewServer(store string) (*Server, error) {
	root, err := os.OpenRoot(store)
	if err != nil {
		return nil, fmt.Errorf("serve store: %w", err)
	}
	s := &Server{store: store, root: root, mux: http.NewServeMux(), finished: map[string]finishedRun{}}
	s.mux.HandleFunc("GET /{$}", s.runsPage)
	s.mux.HandleFunc("GET /suites", s.suitesPage)
	s.mux.HandleFunc("GET /test/{name}", s.testPage)
	s.mux.Handle("GET /files/", http.StripPrefix("/files/", http.FileServerFS(root.FS())))
	return s, nil
}

// Close releases the store.
func (s *Server) Close() error { return s.root.Close() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// StoredRun is one run as the server lists it.
type StoredRun struct {
	Test, Stamp string
	Started     time.Time
	System      string
	Workload    string
	Nemesis     string
	Bugs        string
	Seed        uint64
	Duration    time.Duration
	Ops         int
	// Verdict is the run's, or "unfinished" for a run without results.
	Verdict   string
	Anomalies string
	// Why is the summary of each checker that did not find it valid.
	Why string
}

// Path is the run's directory relative to the store.
func (r StoredRun) Path() string { return r.Test + "/" + r.Stamp }

const unfinished = "unfinished"

// Runs lists every run of the store, newest first. A run whose files do
// not read is listed as unfinished, not dropped.
func (s *Server) Runs() ([]StoredRun, error) {
	tests, err := fs.ReadDir(s.root.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("read store %s: %w", s.store, err)
	}
	var runs []StoredRun
	for _, t := range tests {
		if !t.IsDir() || t.Name() == SuitesDir || strings.HasPrefix(t.Name(), ".") {
			continue
		}
		runs = append(runs, s.runsOf(t.Name())...)
	}
	s.forgetAllBut(runs)
	newestFirst(runs)
	return runs, nil
}

func newestFirst(runs []StoredRun) {
	slices.SortFunc(runs, func(a, b StoredRun) int { return b.Started.Compare(a.Started) })
}

// forgetAllBut drops from the cache every run not in runs: a run deleted
// from the store (squall clean, or by hand) is not kept for the server's
// lifetime.
func (s *Server) forgetAllBut(runs []StoredRun) {
	listed := make(map[string]bool, len(runs))
	for _, r := range runs {
		listed[r.Path()] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.finished {
		if !listed[key] {
			delete(s.finished, key)
		}
	}
}

// runsOf lists the runs of one test, in the store's order.
func (s *Server) runsOf(test string) []StoredRun {
	stamps, err := fs.ReadDir(s.root.FS(), test)
	if err != nil {
		return nil
	}
	var runs []StoredRun
	for _, st := range stamps {
		started, err := time.Parse(timestampLayout, st.Name())
		if !st.IsDir() || err != nil {
			continue
		}
		runs = append(runs, s.cachedRun(test, st.Name(), started))
	}
	return runs
}

// cachedRun is readRun's answer, from the cache while the run's results
// file is the one read.
func (s *Server) cachedRun(test, stamp string, started time.Time) StoredRun {
	key := path.Join(test, stamp)
	results, err := s.root.Stat(path.Join(key, ResultsFile))
	if err != nil {
		return s.readRun(test, stamp, started) // unfinished: nothing to keep
	}
	s.mu.Lock()
	f, ok := s.finished[key]
	s.mu.Unlock()
	if ok && f.results.ModTime().Equal(results.ModTime()) && f.results.Size() == results.Size() {
		return f.run
	}
	run := s.readRun(test, stamp, started)
	s.mu.Lock()
	s.finished[key] = finishedRun{results: results, run: run}
	s.mu.Unlock()
	return run
}

func (s *Server) readRun(test, stamp string, started time.Time) StoredRun {
	run := StoredRun{Test: test, Stamp: stamp, Started: started, Verdict: unfinished}
	var spec struct {
		System, Workload string
		Nemesis          []string
		Bugs             []string
		Seed             uint64
	}
	if b, err := s.root.ReadFile(path.Join(test, stamp, SpecFile)); err == nil && json.Unmarshal(b, &spec) == nil {
		run.System, run.Workload, run.Seed = spec.System, spec.Workload, spec.Seed
		run.Nemesis, run.Bugs = strings.Join(spec.Nemesis, ","), strings.Join(spec.Bugs, ",")
		if run.Nemesis == "" {
			run.Nemesis = "none"
		}
	}
	b, err := s.root.ReadFile(path.Join(test, stamp, ResultsFile))
	if err != nil {
		return run
	}
	var sum Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		return run
	}
	run.Verdict, run.Duration = string(sum.Verdict), sum.RunDuration
	counts := map[string]int{}
	var why []string
	for _, r := range sum.Results {
		if total, ok := r.Details["total"].(float64); ok && r.Checker == "stats" {
			run.Ops = int(total)
		}
		if r.Verdict != checker.Valid {
			why = append(why, r.Checker+": "+r.Summary)
		}
		for _, a := range r.Anomalies {
			counts[a.Kind]++
		}
	}
	run.Anomalies, run.Why = anomalyCounts(counts), strings.Join(why, "; ")
	return run
}

// runsQuery is the runs page's filter and order.
type runsQuery struct {
	Q, Verdict, System, Sort string
	Asc                      bool
}

func (q runsQuery) keep(r StoredRun) bool {
	if q.Verdict != "" && r.Verdict != q.Verdict {
		return false
	}
	if q.System != "" && r.System != q.System {
		return false
	}
	if q.Q != "" {
		text := strings.ToLower(strings.Join([]string{r.Test, r.System, r.Workload, r.Nemesis, r.Bugs, r.Anomalies}, " "))
		return strings.Contains(text, strings.ToLower(q.Q))
	}
	return true
}

// sortKeys are the columns the runs page sorts by.
var sortKeys = map[string]func(a, b StoredRun) int{
	"date":     func(a, b StoredRun) int { return a.Started.Compare(b.Started) },
	"test":     func(a, b StoredRun) int { return strings.Compare(a.Test, b.Test) },
	"verdict":  func(a, b StoredRun) int { return strings.Compare(a.Verdict, b.Verdict) },
	"ops":      func(a, b StoredRun) int { return cmp.Compare(a.Ops, b.Ops) },
	"duration": func(a, b StoredRun) int { return cmp.Compare(a.Duration, b.Duration) },
	"seed":     func(a, b StoredRun) int { return cmp.Compare(a.Seed, b.Seed) },
}

// Link is the runs page's address with one setting changed.
func (q runsQuery) Link(key, value string) string {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Q, "verdict": q.Verdict, "system": q.System, "sort": q.Sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Asc {
		v.Set("asc", "1")
	}
	if key == "sort" {
		// The same column again flips the order.
		v.Del("asc")
		if value == q.Sort && !q.Asc {
			v.Set("asc", "1")
		}
	}
	v.Set(key, value)
	return "/?" + v.Encode()
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	q := runsQuery{Q: r.FormValue("q"), Verdict: r.FormValue("verdict"), System: r.FormValue("system"),
		Sort: r.FormValue("sort"), Asc: r.FormValue("asc") == "1"}
	less, ok := sortKeys[q.Sort]
	if !ok {
		q.Sort, less = "date", sortKeys["date"]
	}
	all, err := s.Runs()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	systems := map[string]bool{}
	var runs []StoredRun
	for _, run := range all {
		if run.System != "" {
			systems[run.System] = true
		}
		if q.keep(run) {
			runs = append(runs, run)
		}
	}
	slices.SortStableFunc(runs, func(a, b StoredRun) int {
		if q.Asc {
			return less(a, b)
		}
		return less(b, a)
	})
	s.render(w, "runs", map[string]any{"Query": q, "Runs": runs, "Total": len(all), "Systems": slices.Sorted(maps.Keys(systems)),
		"Verdicts": []string{"valid", "invalid", "unknown", unfinished}})
}

// storedSuite is one suite as the suites page lists it.
type storedSuite struct {
	Suite
	Path string
}

func (s *Server) suitesPage(w http.ResponseWriter, r *http.Request) {
	names, _ := fs.ReadDir(s.root.FS(), SuitesDir)
	var suites []storedSuite
	for _, n := range names {
		stamps, _ := fs.ReadDir(s.root.FS(), path.Join(SuitesDir, n.Name()))
		for _, st := range stamps {
			dir := path.Join(SuitesDir, n.Name(), st.Name())
			b, err := s.root.ReadFile(path.Join(dir, SuiteFile))
			if err != nil {
				continue
			}
			var suite Suite
			if json.Unmarshal(b, &suite) != nil {
				continue
			}
			suites = append(suites, storedSuite{Suite: suite, Path: dir})
		}
	}
	slices.SortFunc(suites, func(a, b storedSuite) int { return b.Started.Compare(a.Started) })
	s.render(w, "suites", map[string]any{"Suites": suites})
}

// Night is one day's runs of a test, and their worst verdict.
type Night struct {
	Date    string
	Verdict string
	Runs    []StoredRun
}

// Nights groups a test's runs by UTC day, oldest first; a night's verdict
// is its worst run's: invalid over unknown over unfinished over valid.
func Nights(runs []StoredRun) []Night {
	rank := map[string]int{"valid": 0, unfinished: 1, "unknown": 2, "invalid": 3}
	var nights []Night
	for _, r := range slices.SortedFunc(slices.Values(runs), func(a, b StoredRun) int { return a.Started.Compare(b.Started) }) {
		date := r.Started.UTC().Format("2006-01-02")
		if len(nights) == 0 || nights[len(nights)-1].Date != date {
			nights = append(nights, Night{Date: date, Verdict: r.Verdict})
		}
		n := &nights[len(nights)-1]
		n.Runs = append(n.Runs, r)
		if rank[r.Verdict] > rank[n.Verdict] {
			n.Verdict = r.Verdict
		}
	}
	return nights
}

// WentRed is the first night of the red streak the newest night is in:
// "" if the newest night is not invalid.
func WentRed(nights []Night) string {
	first := ""
	for i := len(nights) - 1; i >= 0 && nights[i].Verdict == "invalid"; i-- {
		first = nights[i].Date
	}
	return first
}

func (s *Server) testPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var runs []StoredRun
	if checkTestName(name) == nil {
		runs = s.runsOf(name)
	}
	newestFirst(runs)
	if len(runs) == 0 {
		http.Error(w, fmt.Sprintf("no runs of test %q in the store", name), http.StatusNotFound)
		return
	}
	nights := Nights(runs)
	s.render(w, "test", map[string]any{"Name": name, "Nights": nights, "WentRed": WentRed(nights), "Runs": runs})
}

//go:embed serve.html.tmpl
var serveTemplateText string

var serveTemplates = template.Must(template.New("serve").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"dur": func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.Round(time.Second).String()
	},
}).Parse(serveTemplateText))

func (s *Server) render(w http.ResponseWriter, page string, data any) {
	var b bytes.Buffer
	if err := serveTemplates.ExecuteTemplate(&b, page, data); err != nil {
		http.Error(w, "render "+page+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The server's own pages run no script at all. (A run's files are
	// served as they are: porcupine's pages are scripts.)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.Write(b.Bytes())
}
