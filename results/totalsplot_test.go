package results

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// bankHistory is a bank run whose reads see the wrong total during a
// partition.
func bankHistory() history.History {
	var h history.History
	add := func(t history.Type, p history.Process, f string, v any) {
		h = append(h, history.Op{Index: int64(len(h)), Type: t, Process: p, F: f, Value: v, Time: int64(len(h)+1) * int64(time.Millisecond)})
	}
	read := func(a0, a1 int64) {
		add(history.Invoke, 0, "read", nil)
		add(history.OK, 0, "read", map[string]any{"a0": a0, "a1": a1})
	}
	read(10, 10)
	add(history.Invoke, history.Nemesis, "start-partition", nil)
	add(history.Info, history.Nemesis, "start-partition", "n1 | n2 n3")
	read(10, 13)
	read(10, 13)
	add(history.Invoke, history.Nemesis, "stop-partition", nil)
	add(history.Info, history.Nemesis, "stop-partition", nil)
	read(5, 15)
	return h
}

func TestReportTotalsPlot(t *testing.T) {
	h := bankHistory()
	res := checker.Bank([]string{"a0", "a1"}, 20).Check(context.Background(), h)
	if res.Verdict != checker.Invalid {
		t.Fatalf("verdict %s, want invalid", res.Verdict)
	}
	s := Summary{Test: "bank-kv", Verdict: res.Verdict, Results: []checker.Result{res}, Started: start}

	// As rendered at the end of a run, and by squall analyze from
	// results.json read back.
	run, err := NewRun(t.TempDir(), "bank-kv", start)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.WriteResults(s); err != nil {
		t.Fatal(err)
	}
	readBack, err := ReadResults(run.Path(ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Summary{"checked": s, "read back": readBack} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			if err := RenderReport(&b, run.Dir, nil, h, s); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			svg := regexp.MustCompile(`(?s)<h2>Totals seen by reads \(bank\)</h2>\s*<svg .*?</svg>`).FindString(page)
			if svg == "" {
				t.Fatal("report has no totals plot")
			}
			for _, want := range []string{
				`<line class="expected"`, "expected total 20",
				`<rect class="fault"`, "partition: n1 | n2 n3",
			} {
				if !strings.Contains(svg, want) {
					t.Errorf("totals plot lacks %s", want)
				}
			}
			good := regexp.MustCompile(`class="total-good"[^>]* d="([^"]*)"`).FindStringSubmatch(svg)
			bad := regexp.MustCompile(`class="total-bad"[^>]* d="([^"]*)"`).FindStringSubmatch(svg)
			if good == nil || bad == nil || strings.Count(good[1], "M") != 2 || strings.Count(bad[1], "M") != 2 {
				t.Errorf("want 2 good and 2 bad points; good %v, bad %v", good, bad)
			}
		})
	}
}

func TestReportWithoutTotals(t *testing.T) {
	var b strings.Builder
	s := Summary{Test: "register-kv", Verdict: checker.Valid, Results: []checker.Result{{Checker: "stats", Verdict: checker.Valid}}}
	if err := RenderReport(&b, t.TempDir(), nil, staleRead(), s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Totals seen by reads") {
		t.Error("a report without a bank checker has a totals plot")
	}
}
