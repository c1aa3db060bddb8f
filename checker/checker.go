// Package checker decides whether a history is correct: linearizability
// (with porcupine), the bank invariants, Elle-style transactional cycles,
// and plain statistics. Every checker answers with a three-valued verdict
// and the evidence for it.
package checker

import (
	"context"

	"github.com/squall-chaos/squall/history"
)

// Verdict is a checker's answer.
type Verdict string

const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	// Unknown: the checker could not decide (its time budget ran out, or
	// the history cannot tell).
	Unknown Verdict = "unknown"
)

// Anomaly is one piece of evidence against a history.
type Anomaly struct {
	// Kind names the anomaly ("nonlinearizable", "lost-update", ...).
	Kind string `json:"kind"`
	// Ops are the indexes of the events involved.
	Ops []int64 `json:"ops"`
	// Key is the key the anomaly concerns, if one.
	Key string `json:"key,omitempty"`
	// Explanation says in plain words why this is wrong.
	Explanation string `json:"explanation"`
}

// Result is a checker's verdict and its evidence.
type Result struct {
	Checker   string    `json:"checker"`
	Verdict   Verdict   `json:"verdict"`
	Summary   string    `json:"summary"`
	Anomalies []Anomaly `json:"anomalies,omitempty"`
	// Details is checker-specific data for reports (counts, per-key
	// results, visualization files).
	Details map[string]any `json:"details,omitempty"`
}

// Checker checks a history.
type Checker interface {
	Name() string
	Check(ctx context.Context, h history.History) Result
}

// Compose is the verdict of several results: invalid if any is, else
// unknown if any is, else valid.
func Compose(results []Result) Verdict {
	v := Valid
	for _, r := range results {
		switch r.Verdict {
		case Invalid:
			return Invalid
		case Unknown:
			v = Unknown
		}
	}
	return v
}
