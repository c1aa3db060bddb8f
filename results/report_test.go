package results

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/checker/checkertest"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/nemesis"
)

// staleRead is a history in which r1 is read stale during a partition,
// followed by a kill.
func staleRead() history.History {
	var h history.History
	add := func(t history.Type, p history.Process, f string, v any) {
		h = append(h, history.Op{Index: int64(len(h)), Type: t, Process: p, F: f, Value: v, Time: int64(len(h)+1) * int64(time.Millisecond)})
	}
	add(history.Invoke, 0, "write", []any{"r1", 1})
	add(history.OK, 0, "write", []any{"r1", 1})
	add(history.Invoke, history.Nemesis, "start-partition", nil)
	add(history.Info, history.Nemesis, "start-partition", "n1 n2 | n3 n4 n5")
	add(history.Invoke, 0, "write", []any{"r1", 2})
	add(history.OK, 0, "write", []any{"r1", 2})
	add(history.Invoke, 1, "read", []any{"r1", nil})
	add(history.OK, 1, "read", []any{"r1", 1})
	h[len(h)-1].Node = "n2" // the stale read's server
	add(history.Invoke, history.Nemesis, "stop-partition", nil)
	add(history.Info, history.Nemesis, "stop-partition", nil)
	add(history.Invoke, history.Nemesis, "start-kill", nil)
	add(history.Info, history.Nemesis, "start-kill", nemesis.KillEvent{Mode: "one", Killed: []string{"n3"}})
	add(history.Invoke, 2, "cas", []any{"r2", []any{1, 2}})
	add(history.Fail, 2, "cas", []any{"r2", []any{1, 2}})
	add(history.Invoke, history.Nemesis, "stop-kill", nil)
	add(history.Info, history.Nemesis, "stop-kill", nil)
	return h
}

func checkAll(ctx context.Context, dir string, h history.History) Summary {
	checkers := []checker.Checker{
		checker.Stats(),
		checker.Linearizable(checker.LinearizableConfig{Model: checker.RegisterModel, Timeout: time.Minute, VisualizeDir: dir}),
	}
	began := time.Now()
	var rs []checker.Result
	for _, c := range checkers {
		rs = append(rs, c.Check(ctx, h))
	}
	return Summary{Test: "register-kv", Verdict: checker.Compose(rs), Results: rs, Seed: 7, Started: start, CheckDuration: time.Since(began)}
}

func TestReport(t *testing.T) {
	run, err := NewRun(t.TempDir(), "register-kv", start)
	if err != nil {
		t.Fatal(err)
	}
	h := staleRead()
	s := checkAll(context.Background(), run.Dir, h)
	if s.Verdict != checker.Invalid {
		t.Fatalf("verdict %s, want invalid: %+v", s.Verdict, s.Results)
	}
	spec := map[string]any{"workload": "register", "nemesis": []string{"partition", "kill"}, "time_limit": int64(90 * time.Second)}
	if err := run.WriteReport(spec, h, s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(run.Path(ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)

	for _, want := range []string{
		`<span class="verdict invalid">invalid</span>`,
		`<svg xmlns="http://www.w3.org/2000/svg"`,
		`href="linearizable-r1.html"`,
		"nonlinearizable",
		"read -&gt; 1",                                         // the explanation
		"&#34;workload&#34;: &#34;register",                    // the spec
		"&#34;time_limit&#34;: &#34;1m30s&#34;",                // its durations as durations
		`<td>cas</td><td class="n">0</td><td class="n">1</td>`, // stats: cas 0 ok, 1 fail
		"n1 n2 | n3 n4 n5",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report does not contain %s", want)
		}
	}
	faults := regexp.MustCompile(`<rect class="fault" [^>]*fill="(#[0-9a-f]+)"`).FindAllStringSubmatch(page, -1)
	if len(faults) != 2 {
		t.Fatalf("report shades %d fault windows, want 2", len(faults))
	}
	if faults[0][1] == faults[1][1] {
		t.Errorf("partition and kill are both shaded %s, want a colour per family", faults[0][1])
	}
	// The timeline: a lane per family, in the families' fixed colours,
	// the stale read's events marked in a lane of anomalies, then a lane
	// per node: n2 served the stale read, n3 was killed.
	var lanes []string
	for _, m := range regexp.MustCompile(`<g class="lane"><text [^>]*>([a-z0-9]+)</text>`).FindAllStringSubmatch(page, -1) {
		lanes = append(lanes, m[1])
	}
	if want := []string{"partition", "kill", "anomalies", "n2", "n3"}; !slices.Equal(lanes, want) {
		t.Errorf("timeline lanes %v, want %v", lanes, want)
	}
	n3 := page[strings.Index(page, ">n3</text>"):]
	n3 = n3[:strings.Index(n3, "</g>")]
	if !strings.Contains(n3, `class="lane-fault"`) || !strings.Contains(n3, `fill="`+checker.FamilyColour("kill")+`"`) {
		t.Errorf("n3's lane has no bar in the kill's colour: %s", n3)
	}
	if !strings.Contains(page, `class="lane-fault" x=`) || !strings.Contains(page, `fill="`+checker.FamilyColour("partition")+`"`) {
		t.Error("timeline has no bar in the partition's colour")
	}
	if !strings.Contains(page, "nonlinearizable: event") {
		t.Error("timeline does not mark the anomaly's events")
	}
	if ok, fail := strings.Count(page, `<path fill="#3a86ff"`), strings.Count(page, `<path fill="#e63946"`); ok != 2 || fail != 1 {
		t.Errorf("%d ok and %d fail series, want 2 (read, write) and 1 (cas)", ok, fail)
	}
	if regexp.MustCompile(`<(script|link|img)[^>]+(src|href)=`).MatchString(page) {
		t.Error("report loads external assets; it must be self-contained")
	}
	if _, err := os.Stat(run.Path("linearizable-r1.html")); err != nil {
		t.Errorf("linked visualization missing: %v", err)
	}
}

// TestReportShowsFailedFaults: a fault that failed to start is marked in
// its family's lane, with its error, and the nemesis checker's verdict.
func TestReportShowsFailedFaults(t *testing.T) {
	h := staleRead()
	h = append(h,
		history.Op{Index: int64(len(h)), Type: history.Invoke, Process: history.Nemesis, F: "start-clock", Time: 30e6},
		history.Op{Index: int64(len(h)) + 1, Type: history.Info, Process: history.Nemesis, F: "start-clock", Time: 31e6, Error: "node n2's admin service: unavailable"})
	r := (checker.Nemesis{}).Check(context.Background(), h)
	var b strings.Builder
	if err := RenderReport(&b, t.TempDir(), nil, h, Summary{Verdict: r.Verdict, Results: []checker.Result{r}}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`>clock</text>`, "start-clock failed: node n2&#39;s admin service: unavailable", `<span class="verdict unknown">`, "did not test what it asked for"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestReportFromResultsJSON(t *testing.T) {
	// squall analyze renders from results read back, where Details hold
	// JSON's map[string]any.
	run, err := NewRun(t.TempDir(), "register-kv", start)
	if err != nil {
		t.Fatal(err)
	}
	h := staleRead()
	if err := run.WriteResults(checkAll(context.Background(), run.Dir, h)); err != nil {
		t.Fatal(err)
	}
	s, err := ReadResults(run.Path(ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := RenderReport(&b, run.Dir, nil, h, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `href="linearizable-r1.html"`) {
		t.Error("report lost the visualization link")
	}
}

func TestLatencyPlotSamples(t *testing.T) {
	h := checkertest.LinearizableRegister(checkertest.RegisterConfig{Ops: 30000, Keys: 10, Processes: 5, InfoRate: 0.01, Seed: 1})
	p := newLatencyPlot(h, nil)
	if p.Total != 30000 || p.Shown != maxPlotPoints {
		t.Errorf("plot shows %d of %d points, want %d of 30000", p.Shown, p.Total, maxPlotPoints)
	}
	shown := 0
	for _, s := range p.Series {
		shown += s.Count
		if s.Type != history.OK && s.Count == 0 {
			t.Errorf("empty %s series", s.Type)
		}
	}
	if shown != p.Shown {
		t.Errorf("series hold %d points, want %d", shown, p.Shown)
	}
}

// BenchmarkCheckAndReport100k checks a valid 100,000-operation register
// history and renders its report, as `squall test` does at the end of a
// run. It reports the seconds per check and report.
func BenchmarkCheckAndReport100k(b *testing.B) {
	h := checkertest.LinearizableRegister(checkertest.RegisterConfig{
		Ops: 100000, Keys: 100, Processes: 10, InfoRate: 0.005, Faults: 6, Seed: 1,
	})
	b.ResetTimer()
	var check, report time.Duration
	for range b.N {
		run, err := NewRun(b.TempDir(), "register-kv", start)
		if err != nil {
			b.Fatal(err)
		}
		began := time.Now()
		s := checkAll(context.Background(), run.Dir, h)
		if s.Verdict != checker.Valid {
			b.Fatalf("verdict %s, want valid: %+v", s.Verdict, s.Results)
		}
		checked := time.Now()
		if err := run.WriteReport(nil, h, s); err != nil {
			b.Fatal(err)
		}
		check += checked.Sub(began)
		report += time.Since(checked)
	}
	b.ReportMetric(check.Seconds()/float64(b.N), "check-s/op")
	b.ReportMetric(report.Seconds()/float64(b.N), "report-s/op")
	b.ReportMetric((check+report).Seconds()/float64(b.N), "total-s/op")
}

func TestReportSaysWhyUnknown(t *testing.T) {
	rs := []checker.Result{
		{Checker: "stats", Verdict: checker.Unknown, Summary: "no write operation ever succeeded; 2 operations: 1 ok, 1 fail, 0 info"},
		{Checker: "linearizable", Verdict: checker.Valid, Summary: "linearizable: 1 key"},
	}
	if got, want := UnknownBecause(rs), "stats: no write operation ever succeeded; 2 operations: 1 ok, 1 fail, 0 info"; got != want {
		t.Errorf("UnknownBecause = %q, want %q", got, want)
	}
	var b strings.Builder
	if err := RenderReport(&b, t.TempDir(), nil, staleRead(), Summary{Verdict: checker.Unknown, Results: rs}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "because stats: no write operation ever succeeded") {
		t.Errorf("the report does not say why it is unknown")
	}
	if UnknownBecause(rs[1:]) != "" {
		t.Errorf("a valid result gives a reason to be unknown")
	}
}

// TestReportFoldsManyAnomalies: a run with many bad keys shows the first
// few in natural order (r2 before r10) and folds the rest.
func TestReportFoldsManyAnomalies(t *testing.T) {
	var anomalies []checker.Anomaly
	for i := 30; i >= 1; i-- {
		anomalies = append(anomalies, checker.Anomaly{Kind: "nonlinearizable", Key: fmt.Sprintf("r%d", i), Explanation: "stale"})
	}
	res := checker.Result{Checker: "linearizable", Verdict: checker.Invalid, Anomalies: anomalies}
	var b strings.Builder
	if err := RenderReport(&b, t.TempDir(), nil, staleRead(), Summary{Verdict: checker.Invalid, Results: []checker.Result{res}}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	shown, folded, ok := strings.Cut(page, `<details id="more-anomalies"><summary>20 more anomalies</summary>`)
	if !ok {
		t.Fatal("the report does not fold the anomalies past the first 10")
	}
	for i := 1; i <= 30; i++ {
		cell := fmt.Sprintf("<td>r%d</td>", i)
		if in := strings.Contains(shown, cell); in != (i <= 10) {
			t.Errorf("key r%d shown before the fold: %v", i, in)
		}
		if i > 10 && !strings.Contains(folded, cell) {
			t.Errorf("key r%d missing from the folded anomalies", i)
		}
	}
	if strings.Index(shown, "<td>r2</td>") > strings.Index(shown, "<td>r10</td>") {
		t.Error("r10 comes before r2")
	}
}

func TestNaturalCompare(t *testing.T) {
	keys := []string{"r10", "r2", "r1", "x", "r007", "r100", "a10b2", "a10b10", ""}
	slices.SortFunc(keys, naturalCompare)
	if want := []string{"", "a10b2", "a10b10", "r1", "r2", "r007", "r10", "r100", "x"}; !slices.Equal(keys, want) {
		t.Errorf("sorted %v, want %v", keys, want)
	}
}
