package checker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/squall-chaos/squall/history"
)

// Nemesis checks the faults themselves: a fault that failed to start, to
// heal, or to be re-applied after a restart means the run did not test
// what it was asked to (a partition that never went in tested nothing
// under partition), so the verdict can be no better than unknown. Starts
// a family skipped on purpose (a kill that would leave no majority) are
// no failure.
type Nemesis struct{}

func (Nemesis) Name() string { return "nemesis" }

// FaultFailure is a nemesis event that failed.
type FaultFailure struct {
	Index int64  `json:"index"`
	F     string `json:"f"`
	Time  int64  `json:"time"`
	Error string `json:"error"`
}

func (Nemesis) Check(_ context.Context, h history.History) Result {
	var applied, skipped int
	var failures []FaultFailure
	for _, op := range h {
		if op.Process != history.Nemesis || op.Type == history.Invoke {
			continue
		}
		switch {
		case op.Type == history.Fail && strings.HasPrefix(op.F, "start-"):
			skipped++
		case op.Error != "":
			failures = append(failures, FaultFailure{Index: op.Index, F: op.F, Time: op.Time, Error: op.Error})
		case strings.HasPrefix(op.F, "start-"):
			applied++
		}
	}
	r := Result{Checker: "nemesis", Verdict: Valid,
		Summary: fmt.Sprintf("%d faults applied, %d skipped, every one healed", applied, skipped)}
	if len(failures) == 0 {
		return r
	}
	first := failures[0]
	r.Verdict = Unknown
	r.Summary = fmt.Sprintf("unknown: %d fault event(s) failed, so the run did not test what it asked for; the first, %s at %.1fs: %s",
		len(failures), first.F, time.Duration(first.Time).Seconds(), first.Error)
	r.Details = map[string]any{"failures": failures}
	return r
}
