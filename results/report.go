package results

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

//go:embed report.html.tmpl
var reportTemplateText string

var reportTemplate = template.Must(template.New("report").Parse(reportTemplateText))

// WriteReport renders report.html into the run's directory.
func (r *Run) WriteReport(spec any, h history.History, s Summary) error {
	var b bytes.Buffer
	if err := RenderReport(&b, r.Dir, spec, h, s); err != nil {
		return err
	}
	return writeFile(r.Path(ReportFile), b.Bytes())
}

// RenderReport writes the report of a run as one self-contained HTML
// page: the verdict, each checker's result and anomalies, operation
// counts, a latency plot with the fault windows shaded (and, for the bank
// checker, a plot of the totals its reads saw), and the spec.
// Links to files the checkers wrote (porcupine's visualizations) are made
// relative to dir, where the report is meant to be.
func RenderReport(w io.Writer, dir string, spec any, h history.History, s Summary) error {
	windows := checker.FaultWindows(h)
	colours := checker.FaultColours(windows)
	total, byF := checker.Tally(h)
	data := reportData{
		Summary: s,
		Why:     UnknownBecause(s.Results),
		Spec:    specText(spec),
		Total:   total,
		Plot:    newLatencyPlot(h, windows),
	}
	for _, f := range slices.Sorted(maps.Keys(byF)) {
		data.Stats = append(data.Stats, statRow{F: f, Counts: byF[f]})
	}
	for _, w := range windows {
		data.Windows = append(data.Windows, windowRow{
			Family: w.Family, Colour: colours[w.Family], Description: w.Description,
			Start: seconds(w.Start), End: seconds(w.End),
		})
		if !slices.ContainsFunc(data.Families, func(f windowRow) bool { return f.Family == w.Family }) {
			data.Families = append(data.Families, windowRow{Family: w.Family, Colour: colours[w.Family]})
		}
	}
	if t, ok := newTimeline(h, windows, s.Results); ok {
		data.Timeline = &t
	}
	for _, res := range s.Results {
		if p, ok := newTotalsPlot(res, h, windows); ok {
			data.Totals = append(data.Totals, p)
		}
		links := visualizationLinks(dir, res)
		for _, a := range res.Anomalies {
			data.Anomalies = append(data.Anomalies, anomalyRow{Checker: res.Checker, Anomaly: a, Events: eventList(a.Ops), Link: links[a.Key]})
		}
		for _, key := range slices.SortedFunc(maps.Keys(links), naturalCompare) {
			data.Links = append(data.Links, linkRow{Checker: res.Checker, Key: key, Href: links[key]})
		}
	}
	// A run with a hundred bad keys shows the first few, in natural order
	// (r2 before r10), and folds the rest.
	slices.SortStableFunc(data.Anomalies, func(a, b anomalyRow) int {
		return cmp.Or(strings.Compare(a.Checker, b.Checker), naturalCompare(a.Key, b.Key))
	})
	if len(data.Anomalies) > anomaliesShown {
		data.Anomalies, data.MoreAnomalies = data.Anomalies[:anomaliesShown], data.Anomalies[anomaliesShown:]
	}
	if len(data.Links) > anomaliesShown {
		data.Links, data.MoreLinks = data.Links[:anomaliesShown], data.Links[anomaliesShown:]
	}
	if err := reportTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

type reportData struct {
	Summary Summary
	// Why says why the verdict is unknown, if it is.
	Why       string
	Spec      string
	Total     checker.Counts
	Stats     []statRow
	Plot      latencyPlot
	Timeline  *timeline    // nil with no faults and no anomalies
	Totals    []totalsPlot // the bank checker's
	Windows   []windowRow
	Families  []windowRow
	Anomalies []anomalyRow
	Links     []linkRow
	// MoreAnomalies and MoreLinks are folded away.
	MoreAnomalies []anomalyRow
	MoreLinks     []linkRow
}

// anomaliesShown is how many anomalies (and visualizations) the report
// shows before folding the rest.
const anomaliesShown = 10

// naturalCompare orders strings with their digit runs as numbers: r2
// before r10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// UnknownBecause says why checkers were left undecided, in their own
// words: "stats: no write operation ever succeeded; elle: time budget of
// 1m0s ran out ...". It is "" if none was.
func UnknownBecause(results []checker.Result) string {
	var why []string
	for _, r := range results {
		if r.Verdict == checker.Unknown {
			why = append(why, r.Checker+": "+r.Summary)
		}
	}
	return strings.Join(why, "; ")
}

type statRow struct {
	F string
	checker.Counts
}

type windowRow struct {
	Family, Colour, Description string
	Start, End                  string
}

type anomalyRow struct {
	Checker string
	checker.Anomaly
	Events string
	Link   string
}

type linkRow struct{ Checker, Key, Href string }

// visualizationLinks reads a result's Details["visualizations"] (key ->
// file; a map[string]string as the checker made it, or map[string]any as
// read back from results.json) into links relative to dir.
func visualizationLinks(dir string, res checker.Result) map[string]string {
	links := make(map[string]string)
	add := func(key, path string) {
		if rel, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(rel, "..") {
			path = rel
		}
		links[key] = filepath.ToSlash(path)
	}
	switch v := res.Details["visualizations"].(type) {
	case map[string]string:
		for key, path := range v {
			add(key, path)
		}
	case map[string]any:
		for key, path := range v {
			if p, ok := path.(string); ok {
				add(key, p)
			}
		}
	}
	return links
}

// specText is the spec as indented JSON, its durations (nanoseconds in
// spec.json) written as durations: "time_limit": "1m0s".
func specText(spec any) string {
	if spec == nil {
		return ""
	}
	raw, ok := spec.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(spec); err != nil {
			return fmt.Sprintf("%+v", spec)
		}
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		var b bytes.Buffer
		if json.Indent(&b, raw, "", "  ") == nil {
			return b.String()
		}
		return string(raw)
	}
	for _, k := range specDurations {
		if n, ok := fields[k].(json.Number); ok {
			if ns, err := n.Int64(); err == nil {
				fields[k] = time.Duration(ns).String()
			}
		}
	}
	b, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// specDurations are the spec's fields that hold nanoseconds.
var specDurations = []string{"time_limit", "nemesis_interval", "op_timeout", "check_timeout"}

func eventList(ops []int64) string {
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = strconv.FormatInt(op, 10)
	}
	return strings.Join(s, ", ")
}

func seconds(ns int64) string { return strconv.FormatFloat(float64(ns)/1e9, 'f', 3, 64) + "s" }
