package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/squall-chaos/squall/history"
)

// Counts is how a set of operations completed. An operation that never
// completed counts as info: it may have taken effect.
type Counts struct {
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"`
}

// Total is the number of operations counted.
func (c Counts) Total() int { return c.OK + c.Fail + c.Info }

func (c *Counts) add(t history.Type) {
	switch t {
	case history.OK:
		c.OK++
	case history.Fail:
		c.Fail++
	default:
		c.Info++
	}
}

// Tally counts the client operations of h by how they completed, overall
// and per f. Nemesis events are not counted.
func Tally(h history.History) (total Counts, byF map[string]Counts) {
	byF = make(map[string]Counts)
	for _, p := range h.Pairs() {
		t := history.Info
		if p.Completion != nil {
			t = p.Completion.Type
		}
		total.add(t)
		c := byF[p.Invoke.F]
		c.add(t)
		byF[p.Invoke.F] = c
	}
	return total, byF
}

// Stats counts operations by f and outcome. Like Jepsen's stats checker
// it objects to a kind of operation that never succeeded, but its
// verdict then is unknown rather than invalid: a run in which nothing of
// a kind worked proved nothing about it.
func Stats() Checker { return stats{} }

type stats struct{}

func (stats) Name() string { return "stats" }

func (stats) Check(_ context.Context, h history.History) Result {
	total, byF := Tally(h)
	res := Result{
		Checker: "stats",
		Verdict: Valid,
		Details: map[string]any{"total": total, "by_f": byF},
	}
	var never []string
	for f, c := range byF {
		if c.OK == 0 {
			never = append(never, f)
		}
	}
	slices.Sort(never)
	switch {
	case total.Total() == 0:
		res.Verdict = Unknown
		res.Summary = "no client operations in the history"
	case len(never) > 0:
		res.Verdict = Unknown
		res.Summary = fmt.Sprintf("no %s operation ever succeeded; %s", strings.Join(never, ", no "), describeCounts(total))
	default:
		res.Summary = describeCounts(total)
	}
	if l, ok := okLatencies(h); ok {
		res.Details["latency_ms"] = map[string]float64{"p50": ms(l.p50), "p99": ms(l.p99), "max": ms(l.max)}
		res.Details["ok_per_second"] = l.perSecond
		res.Summary += fmt.Sprintf("; ok latency p50 %s, p99 %s; %.0f ok/s", l.p50.Round(10*time.Microsecond), l.p99.Round(10*time.Microsecond), l.perSecond)
	}
	return res
}

// latencies are the figures of a history's ok client operations: their
// latency's median and 99th percentile, and how many completed per second
// from the first invoke to the last ok completion.
type latencies struct {
	p50, p99, max time.Duration
	perSecond     float64
}

// okLatencies measures h's ok operations; false if there are none or the
// history has no times.
func okLatencies(h history.History) (latencies, bool) {
	var ls []time.Duration
	var first, last int64 = -1, 0
	for _, p := range h.Pairs() {
		if first < 0 || p.Invoke.Time < first {
			first = p.Invoke.Time
		}
		if c := p.Completion; c != nil && c.Type == history.OK {
			ls = append(ls, time.Duration(c.Time-p.Invoke.Time))
			last = max(last, c.Time)
		}
	}
	if len(ls) == 0 || last <= first {
		return latencies{}, false
	}
	slices.Sort(ls)
	at := func(q float64) time.Duration { return ls[min(len(ls)-1, int(q*float64(len(ls))))] }
	return latencies{p50: at(0.50), p99: at(0.99), max: ls[len(ls)-1],
		perSecond: float64(len(ls)) / time.Duration(last-first).Seconds()}, true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func describeCounts(c Counts) string {
	return fmt.Sprintf("%d operations: %d ok, %d fail, %d info", c.Total(), c.OK, c.Fail, c.Info)
}
