package elle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// Options configures the checker.
type Options struct {
	// Model is the consistency model the history must keep: one of
	// read-committed, repeatable-read, snapshot-isolation, serializable
	// or strict-serializable. "" means strict-serializable.
	Model string
	// Timeout bounds the cycle search in each strongly connected
	// component of the dependency graph; zero means no bound. A
	// component left unsearched makes the verdict unknown, unless what
	// was found already makes it invalid.
	Timeout time.Duration
	// RealTime adds the real-time order and looks for the cycles that
	// need it even when Model allows them, to tell whether the history
	// is also strictly serializable. strict-serializable implies it.
	RealTime bool
}

// NewChecker returns the checker for squall's runs.
func NewChecker(opts Options) checker.Checker { return elleChecker{opts} }

type elleChecker struct{ opts Options }

func (elleChecker) Name() string { return "elle" }

func (e elleChecker) Check(ctx context.Context, h history.History) checker.Result {
	return Check(ctx, h, e.opts)
}

// checkState is one check of one history.
type checkState struct {
	h        history.History
	realtime bool

	txns      []txn
	mops      []mop
	keyIDs    map[string]int32
	keys      []keyState
	appends   []appendInfo
	appendIDs map[keyElem]int32

	lostUpdates []lostUpdateCandidate
	edges       []edge
	barriers    int32 // real-time barrier nodes, numbered after the txns

	// found keeps the first anomalies of each kind; counts counts them
	// all.
	found  map[string][]checker.Anomaly
	counts map[string]int
}

// keyState is what the check knows of one key.
type keyState struct {
	name string
	// longest is the micro-op (of txn longestTxn) of the key's longest
	// committed read; -1 if none read it.
	longest, longestTxn int32
	// version is the key's version order, taken from that read: an
	// index into appends for each element.
	version []int32
	// firstAborted is the position in version of the first failed
	// txn's append, or -1.
	firstAborted int32
}

// Check checks a list-append history against opts.Model.
func Check(ctx context.Context, h history.History, opts Options) checker.Result {
	began := time.Now()
	res := checker.Result{Checker: "elle", Details: map[string]any{}}
	name := opts.Model
	if name == "" {
		name = StrictSerializable.String()
	}
	model, err := ParseModel(name)
	if err != nil {
		res.Verdict, res.Summary = checker.Unknown, err.Error()
		return res
	}
	c := &checkState{
		h:        h,
		realtime: opts.RealTime || model.needsRealtime(),
		// Every txn is two events: room for them, and for the micro-ops
		// and edges they have in squall's histories (about 2.5 and 6
		// per txn, real-time edges included), saves regrowing.
		txns:      make([]txn, 0, len(h)/2),
		mops:      make([]mop, 0, len(h)*5/4),
		edges:     make([]edge, 0, len(h)*13/4),
		keyIDs:    make(map[string]int32),
		appendIDs: make(map[keyElem]int32),
		found:     make(map[string][]checker.Anomaly),
		counts:    make(map[string]int),
	}
	if err := c.load(); err != nil {
		res.Verdict = checker.Unknown
		res.Summary = fmt.Sprintf("cannot read the history as list-append transactions: %v", err)
		return res
	}
	c.inferVersions()
	c.checkReads()
	c.checkLostUpdates()
	c.addDependencyEdges()
	g := buildGraph(len(c.txns)+int(c.barriers), c.edges)
	c.edges = nil
	comps := components(g)
	undecided := c.searchCycles(ctx, g, comps, opts.Timeout)

	res.Details["model"] = model.String()
	res.Details["transactions"] = len(c.txns)
	res.Details["keys"] = len(c.keys)
	res.Details["cyclic_components"] = len(comps)
	res.Details["seconds"] = time.Since(began).Seconds()
	c.verdict(&res, model, undecided)
	return res
}

// searchCycles searches every component for cycles and reports them; it
// returns why components were left unsearched, if any were.
func (c *checkState) searchCycles(ctx context.Context, g *graph, comps [][]int32, budget time.Duration) []string {
	searches := dependencySearches
	if c.realtime {
		searches = append(slices.Clip(searches), realtimeSearches...)
	}
	f := newCycleFinder(ctx, g, int32(len(c.txns)))
	var undecided []string
	for _, members := range comps {
		seen := make(map[string]bool)
		err := f.component(members, searches, budget, func(walk cycle) {
			for _, cy := range simpleCycles(walk) {
				if kind := g.classify(&cy); !seen[kind] {
					seen[kind] = true
					c.reportCycle(kind, &cy)
				}
			}
		})
		if err != nil {
			undecided = append(undecided, budgetReason(err, budget, len(members)))
		}
	}
	return undecided
}

// verdict fills in res from the anomalies found: invalid if the model
// forbids any, else unknown if some components went unsearched, else
// valid.
func (c *checkState) verdict(res *checker.Result, model Model, undecided []string) {
	kinds := make([]string, 0, len(c.counts))
	for k := range c.counts {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	not, alsoNot := violated(kinds)
	var bad, allowed []string
	var allowedAnomalies []checker.Anomaly
	for _, k := range kinds {
		desc := fmt.Sprintf("%s (%d)", k, c.counts[k])
		if model.Forbids(k) {
			bad = append(bad, desc)
			res.Anomalies = append(res.Anomalies, c.found[k]...)
		} else {
			if meaning, ok := anomalyMeanings[k]; ok {
				desc = fmt.Sprintf("%s (%d: %s, which %s allows)", k, c.counts[k], meaning, model)
			}
			allowed = append(allowed, desc)
			allowedAnomalies = append(allowedAnomalies, c.found[k]...)
		}
	}
	res.Details["anomaly_types"] = kinds
	res.Details["anomaly_counts"] = c.counts
	res.Details["not"] = not
	res.Details["also_not"] = alsoNot
	if len(allowedAnomalies) > 0 {
		res.Details["allowed_anomalies"] = allowedAnomalies
	}
	if len(undecided) > 0 {
		res.Details["undecided"] = undecided
	}

	switch {
	case len(bad) > 0:
		res.Verdict = checker.Invalid
		res.Summary = fmt.Sprintf("not %s: %s", model, strings.Join(bad, ", "))
		if len(allowed) > 0 {
			res.Summary += "; allowed: " + strings.Join(allowed, ", ")
		}
		if len(undecided) > 0 {
			res.Summary += fmt.Sprintf("; %d components not fully searched", len(undecided))
		}
	case len(undecided) > 0:
		res.Verdict = checker.Unknown
		res.Summary = undecided[0]
		if len(undecided) > 1 {
			res.Summary += fmt.Sprintf(" (and %d more components)", len(undecided)-1)
		}
	default:
		res.Verdict = checker.Valid
		res.Summary = fmt.Sprintf("%s: %d transactions on %d keys", model, len(c.txns), len(c.keys))
		if len(allowed) > 0 {
			res.Summary += "; allowed anomalies: " + strings.Join(allowed, ", ")
		}
	}
}
