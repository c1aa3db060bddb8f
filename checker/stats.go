package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"

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
	return res
}

func describeCounts(c Counts) string {
	return fmt.Sprintf("%d operations: %d ok, %d fail, %d info", c.Total(), c.OK, c.Fail, c.Info)
}
