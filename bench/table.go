package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Median is each figure's median over the runs of system (each figure on
// its own: the median put rate and the median put p99.9 may come from
// different runs). Runs is how many there were.
func Median(all []Figures, system string) Figures {
	var runs []Figures
	for _, f := range all {
		if f.System == system {
			runs = append(runs, f)
		}
	}
	m := Figures{System: system, Run: len(runs)}
	if len(runs) == 0 {
		return m
	}
	m.PutRate = median(runs, func(f Figures) float64 { return f.PutRate })
	m.GetRate = median(runs, func(f Figures) float64 { return f.GetRate })
	m.MaxRSS = median(runs, func(f Figures) int64 { return f.MaxRSS })
	m.Elapsed = median(runs, func(f Figures) time.Duration { return f.Elapsed })
	m.Put = medianLatencies(runs, func(f Figures) Latencies { return f.Put })
	m.Get = medianLatencies(runs, func(f Figures) Latencies { return f.Get })
	return m
}

func medianLatencies(runs []Figures, of func(Figures) Latencies) Latencies {
	return Latencies{
		P50:  median(runs, func(f Figures) time.Duration { return of(f).P50 }),
		P99:  median(runs, func(f Figures) time.Duration { return of(f).P99 }),
		P999: median(runs, func(f Figures) time.Duration { return of(f).P999 }),
	}
}

// median is the middle value of field over runs; of an even count, the
// lower middle one, a value some run measured.
func median[T int64 | float64 | time.Duration](runs []Figures, field func(Figures) T) T {
	values := make([]T, len(runs))
	for i, f := range runs {
		values[i] = field(f)
	}
	slices.Sort(values)
	return values[(len(values)-1)/2]
}

// row is one line of the table: a figure's name and how to show it.
type row struct {
	name  string
	value func(Figures) float64
	show  func(float64) string
}

var rows = []row{
	{"put/s", func(f Figures) float64 { return f.PutRate }, rate},
	{"put p50", func(f Figures) float64 { return float64(f.Put.P50) }, millis},
	{"put p99", func(f Figures) float64 { return float64(f.Put.P99) }, millis},
	{"put p99.9", func(f Figures) float64 { return float64(f.Put.P999) }, millis},
	{"get/s", func(f Figures) float64 { return f.GetRate }, rate},
	{"get p50", func(f Figures) float64 { return float64(f.Get.P50) }, millis},
	{"get p99", func(f Figures) float64 { return float64(f.Get.P99) }, millis},
	{"get p99.9", func(f Figures) float64 { return float64(f.Get.P999) }, millis},
	{"max RSS", func(f Figures) float64 { return float64(f.MaxRSS) }, mebibytes},
}

func rate(v float64) string      { return fmt.Sprintf("%.0f", v) }
func millis(v float64) string    { return fmt.Sprintf("%.1f ms", v/float64(time.Millisecond)) }
func mebibytes(v float64) string { return fmt.Sprintf("%.0f MB", v/(1<<20)) }

// WriteTable prints the medians, one column per system, and with two
// systems a column of the first's figure over the second's.
func WriteTable(w io.Writer, medians []Figures) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	header := []string{"median of runs"}
	for _, m := range medians {
		header = append(header, fmt.Sprintf("%s (%d)", m.System, m.Run))
	}
	ratio := len(medians) == 2
	if ratio {
		header = append(header, medians[0].System+"/"+medians[1].System)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range rows {
		cells := []string{r.name}
		for _, m := range medians {
			cells = append(cells, r.show(r.value(m)))
		}
		if ratio {
			cells = append(cells, ratioOf(r.value(medians[0]), r.value(medians[1])))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}

func ratioOf(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// Line is one run's figures on one line, for progress.
func Line(f Figures) string {
	line := fmt.Sprintf("%s run %d: put %s/s (p50 %s, p99 %s, p99.9 %s)", f.System, f.Run,
		rate(f.PutRate), millis(float64(f.Put.P50)), millis(float64(f.Put.P99)), millis(float64(f.Put.P999)))
	if f.GetRate > 0 {
		line += fmt.Sprintf(", get %s/s (p50 %s, p99 %s, p99.9 %s)",
			rate(f.GetRate), millis(float64(f.Get.P50)), millis(float64(f.Get.P99)), millis(float64(f.Get.P999)))
	}
	return line + fmt.Sprintf(", max RSS %s, %v in all", mebibytes(float64(f.MaxRSS)), f.Elapsed.Round(time.Second))
}
