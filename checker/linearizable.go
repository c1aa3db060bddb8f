package checker

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/squall-chaos/squall/history"
)

// Model is what the linearizability checker knows of a datatype: its
// sequential specification, and how a history's operations map onto it.
type Model struct {
	// Name is the datatype's name in explanations ("register").
	Name string
	// Porcupine is the sequential specification. Its Partition splits
	// operations by key; the checker checks each key on its own.
	Porcupine porcupine.Model
	// Operations turns a history's client operations into porcupine's,
	// each with an OpMeta as its Metadata. It leaves out operations that
	// did not happen, and gives the ones that may have happened at any
	// later time (info) a Return after every other event.
	Operations func(history.History) ([]porcupine.Operation, error)
}

// OpMeta ties a porcupine operation back to the history.
type OpMeta struct {
	Key     string
	Process history.Process
	// Invoke and Completion are event indexes; Completion is -1 for an
	// operation that never completed.
	Invoke     int64
	Completion int64
	Node       string
}

func (m OpMeta) events() string {
	if m.Completion < 0 {
		return fmt.Sprintf("event %d, never completed", m.Invoke)
	}
	return fmt.Sprintf("events %d-%d", m.Invoke, m.Completion)
}

// modelOp is what a model makes of one operation: porcupine's input and
// output, and the key it is partitioned by.
type modelOp struct {
	in, out any
	key     string
}

// operations turns the operations of h into porcupine's through decode,
// which says, for each (and whether it ended info or never ended), what
// the model makes of it and whether it is kept. A kept operation of
// unknown outcome returns at infinity, after every other event.
func operations(h history.History, decode func(p history.Pair, unknown bool) (modelOp, bool, error)) ([]porcupine.Operation, error) {
	infinity := int64(0)
	for i := range h {
		infinity = max(infinity, h[i].Time+1)
	}
	pairs := h.Pairs()
	ops := make([]porcupine.Operation, 0, len(pairs))
	for _, p := range pairs {
		inv, done := p.Invoke, p.Completion
		unknown := done == nil || done.Type == history.Info
		m, keep, err := decode(p, unknown)
		if err != nil {
			return nil, err
		}
		if !keep {
			continue
		}
		meta := OpMeta{Key: m.key, Process: inv.Process, Invoke: inv.Index, Completion: -1, Node: inv.Node}
		ret := infinity
		if done != nil {
			meta.Completion = done.Index
			if done.Node != "" {
				meta.Node = done.Node
			}
			if !unknown {
				ret = done.Time
			}
		}
		ops = append(ops, porcupine.Operation{Input: m.in, Call: inv.Time, Output: m.out, Return: ret, Metadata: meta})
	}
	return ops, nil
}

// partitionByKey splits operations by the key in their OpMeta.
func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	index := make(map[string]int)
	var parts [][]porcupine.Operation
	for _, op := range ops {
		key := op.Metadata.(OpMeta).Key
		i, ok := index[key]
		if !ok {
			i = len(parts)
			index[key] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

func describeOpMeta(meta any) string {
	m, ok := meta.(OpMeta)
	if !ok {
		return ""
	}
	s := fmt.Sprintf("process %v, %s", m.Process, m.events())
	if m.Node != "" {
		s += ", node " + m.Node
	}
	return s
}

// LinearizableConfig configures the linearizability checker.
type LinearizableConfig struct {
	Model Model
	// Timeout is the time budget for the whole check, shared by all keys;
	// keys left undecided when it runs out make the verdict unknown. Zero
	// means no budget.
	Timeout time.Duration
	// VisualizeDir is where porcupine's HTML visualization of each
	// non-linearizable key is written, with the fault windows as
	// annotations; "" writes none.
	VisualizeDir string
}

// Linearizable checks that the history's operations, key by key, can be
// ordered consistently with cfg.Model and with real time, using
// porcupine. Keys are checked in parallel.
func Linearizable(cfg LinearizableConfig) Checker { return &linearizable{cfg: cfg} }

type linearizable struct{ cfg LinearizableConfig }

func (c *linearizable) Name() string { return "linearizable" }

// keyCheck is one key's operations and what porcupine said of them.
type keyCheck struct {
	key    string
	ops    []porcupine.Operation
	result porcupine.CheckResult // "" if never started
	info   porcupine.LinearizationInfo
}

func (c *linearizable) Check(ctx context.Context, h history.History) Result {
	began := time.Now()
	res := Result{Checker: c.Name(), Details: map[string]any{}}
	ops, err := c.cfg.Model.Operations(h)
	if err != nil {
		res.Verdict = Unknown
		res.Summary = fmt.Sprintf("cannot read the history as %s operations: %v", c.cfg.Model.Name, err)
		return res
	}
	keys := c.partition(ops)
	c.checkKeys(ctx, keys, began)

	var invalid, undecided []string
	visualizations := make(map[string]string)
	var visualizeErrs []string
	windows := FaultWindows(h)
	usedNames := make(map[string]bool)
	for i := range keys {
		k := &keys[i]
		switch k.result {
		case porcupine.Ok:
			continue
		case porcupine.Illegal:
			invalid = append(invalid, k.key)
			res.Anomalies = append(res.Anomalies, c.explain(k))
			if c.cfg.VisualizeDir == "" {
				continue
			}
			path := filepath.Join(c.cfg.VisualizeDir, visualizationName(k.key, usedNames))
			if err := c.visualize(k, windows, path); err != nil {
				visualizeErrs = append(visualizeErrs, err.Error())
				continue
			}
			visualizations[history.AbbreviateString(k.key)] = path
		default:
			undecided = append(undecided, k.key)
		}
	}

	res.Details["keys"] = len(keys)
	res.Details["operations"] = len(ops)
	res.Details["seconds"] = time.Since(began).Seconds()
	if len(invalid) > 0 {
		res.Details["invalid_keys"] = invalid
	}
	if len(undecided) > 0 {
		res.Details["unknown_keys"] = undecided
	}
	if len(visualizations) > 0 {
		res.Details["visualizations"] = visualizations
	}
	if len(visualizeErrs) > 0 {
		res.Details["visualization_errors"] = visualizeErrs
	}

	switch {
	case len(invalid) > 0:
		res.Verdict = Invalid
		res.Summary = fmt.Sprintf("not linearizable: %s %s (of %d)", plural(len(invalid), "key"), listKeys(invalid), len(keys))
		if len(undecided) > 0 {
			res.Summary += "; undecided: " + listKeys(undecided)
		}
	case len(undecided) > 0:
		res.Verdict = Unknown
		res.Summary = c.undecidedReason(ctx, undecided)
	default:
		res.Verdict = Valid
		res.Summary = fmt.Sprintf("linearizable: %s, %s", plural(len(keys), "key"), plural(len(ops), "operation"))
	}
	return res
}

// partition splits ops by the model's Partition, into keys in key order,
// and numbers each key's processes from 0, as porcupine's visualization
// wants its clients.
func (c *linearizable) partition(ops []porcupine.Operation) []keyCheck {
	parts := [][]porcupine.Operation{ops}
	if c.cfg.Model.Porcupine.Partition != nil {
		parts = c.cfg.Model.Porcupine.Partition(ops)
	}
	keys := make([]keyCheck, 0, len(parts))
	for _, part := range parts {
		if len(part) == 0 {
			continue
		}
		clients := make(map[history.Process]int)
		for i := range part {
			p := part[i].Metadata.(OpMeta).Process
			if _, ok := clients[p]; !ok {
				clients[p] = len(clients)
			}
			part[i].ClientId = clients[p]
		}
		keys = append(keys, keyCheck{key: part[0].Metadata.(OpMeta).Key, ops: part})
	}
	slices.SortFunc(keys, func(a, b keyCheck) int { return strings.Compare(a.key, b.key) })
	return keys
}

// checkKeys runs porcupine on every key, as many at once as there are
// processors, until the time budget (or ctx) runs out; keys not decided by
// then stay undecided. With a budget, a first round gives each key a fair
// share of half of it, so that a few hard keys cannot starve the easy
// ones; the keys it leaves undecided then share what remains.
func (c *linearizable) checkKeys(ctx context.Context, keys []keyCheck, began time.Time) {
	model := c.cfg.Model.Porcupine
	model.Partition, model.PartitionEvent = nil, nil // each key is one partition
	deadline, hasDeadline := ctx.Deadline()
	if c.cfg.Timeout > 0 {
		budget := began.Add(c.cfg.Timeout)
		if !hasDeadline || budget.Before(deadline) {
			deadline, hasDeadline = budget, true
		}
	}
	workers := runtime.GOMAXPROCS(0)
	round := func(keys []*keyCheck, share time.Duration) {
		jobs := make(chan *keyCheck)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for k := range jobs {
					timeout := time.Duration(0) // porcupine: no limit
					if hasDeadline {
						if timeout = time.Until(deadline); timeout <= 0 {
							continue
						}
						if share > 0 {
							timeout = min(timeout, share)
						}
					}
					if ctx.Err() != nil {
						continue
					}
					k.result, k.info = porcupine.CheckOperationsVerbose(model, k.ops, timeout)
				}
			})
		}
		for _, k := range keys {
			jobs <- k
		}
		close(jobs)
		wg.Wait()
	}

	all := make([]*keyCheck, len(keys))
	for i := range keys {
		all[i] = &keys[i]
	}
	if !hasDeadline {
		round(all, 0)
		return
	}
	share := time.Until(deadline) / 2 * time.Duration(workers) / time.Duration(max(len(keys), 1))
	round(all, max(share, time.Millisecond))
	var undecided []*keyCheck
	for _, k := range all {
		if k.result != porcupine.Ok && k.result != porcupine.Illegal {
			undecided = append(undecided, k)
		}
	}
	round(undecided, 0)
}

func (c *linearizable) undecidedReason(ctx context.Context, keys []string) string {
	if err := ctx.Err(); err != nil {
		return fmt.Sprintf("checking stopped (%v) before %s %s could be decided", err, plural(len(keys), "key"), listKeys(keys))
	}
	return fmt.Sprintf("time budget of %v ran out on %s %s", c.cfg.Timeout, plural(len(keys), "key"), listKeys(keys))
}

// explain builds the anomaly for an illegal key from porcupine's longest
// partial linearization: the operation that could not be placed after it
// is the one whose return the search could not get past.
func (c *linearizable) explain(k *keyCheck) Anomaly {
	a := Anomaly{Kind: "nonlinearizable", Key: history.AbbreviateString(k.key)}
	intro := fmt.Sprintf("no order of the %s on key %s is consistent with a %s", plural(len(k.ops), "operation"), history.AbbreviateString(k.key), c.cfg.Model.Name)
	prefix := longestPartial(k.info)
	placed := make([]bool, len(k.ops))
	for _, id := range prefix {
		placed[id] = true
	}
	blocked := -1
	for id, op := range k.ops {
		if placed[id] {
			continue
		}
		if blocked < 0 || op.Return < k.ops[blocked].Return || (op.Return == k.ops[blocked].Return && op.Call < k.ops[blocked].Call) {
			blocked = id
		}
	}
	if blocked < 0 { // every operation was placed: there is none to point at
		for _, op := range k.ops {
			a.Ops = append(a.Ops, opEvents(op)...)
		}
		slices.Sort(a.Ops)
		a.Explanation = intro
		return a
	}

	model := c.cfg.Model.Porcupine
	state := model.Init()
	for _, id := range prefix {
		_, state = model.Step(state, k.ops[id].Input, k.ops[id].Output)
	}
	b := k.ops[blocked]
	a.Ops = opEvents(b)
	var after string
	if len(prefix) == 0 {
		after = fmt.Sprintf("starting from the initial %s (%s)", c.cfg.Model.Name, model.DescribeState(state))
	} else {
		last := k.ops[prefix[len(prefix)-1]]
		a.Ops = append(a.Ops, opEvents(last)...)
		after = fmt.Sprintf("the longest consistent order found places %d of them, ending with %s (%s) and leaving the %s at %s",
			len(prefix), model.DescribeOperation(last.Input, last.Output), describeOpMeta(last.Metadata), c.cfg.Model.Name, model.DescribeState(state))
	}
	slices.Sort(a.Ops)
	a.Explanation = fmt.Sprintf("%s: %s; from there, %s (%s) cannot take effect before it returned, whatever the order of the operations concurrent with it",
		intro, after, model.DescribeOperation(b.Input, b.Output), describeOpMeta(b.Metadata))
	return a
}

// longestPartial picks the longest of porcupine's partial linearizations
// of a one-partition check; ties go to the smallest, so the explanation
// is the same every time.
func longestPartial(info porcupine.LinearizationInfo) []int {
	partials := info.PartialLinearizations()
	if len(partials) == 0 {
		return nil
	}
	var best []int
	for _, p := range partials[0] {
		if len(p) > len(best) || (len(p) == len(best) && slices.Compare(p, best) < 0) {
			best = p
		}
	}
	return best
}

func opEvents(op porcupine.Operation) []int64 {
	m := op.Metadata.(OpMeta)
	if m.Completion < 0 {
		return []int64{m.Invoke}
	}
	return []int64{m.Invoke, m.Completion}
}

// visualize writes porcupine's visualization of k, annotated with the
// fault windows that overlap its operations.
func (c *linearizable) visualize(k *keyCheck, windows []FaultWindow, path string) error {
	first, last := k.ops[0].Call, k.ops[0].Return
	for _, op := range k.ops {
		first, last = min(first, op.Call), max(last, op.Return)
	}
	colours := FaultColours(windows)
	var notes []porcupine.Annotation
	for _, w := range windows {
		if w.End < first || w.Start > last {
			continue
		}
		notes = append(notes, porcupine.Annotation{
			Tag:             "nemesis: " + w.Family,
			Start:           w.Start,
			End:             w.End,
			Description:     w.Family,
			Details:         w.Description,
			BackgroundColor: colours[w.Family],
		})
	}
	k.info.AddAnnotations(notes)
	if err := porcupine.VisualizePath(c.cfg.Model.Porcupine, k.info, path); err != nil {
		return fmt.Errorf("visualize key %s: write %s: %w", k.key, path, err)
	}
	return nil
}

// visualizationName is a file name for key's visualization, unique among
// those in used.
func visualizationName(key string, used map[string]bool) string {
	safe := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, key)
	if len(safe) > 100 {
		safe = safe[:100]
	}
	name := "linearizable-" + safe + ".html"
	for n := 2; used[name]; n++ {
		name = fmt.Sprintf("linearizable-%s-%d.html", safe, n)
	}
	used[name] = true
	return name
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// listKeys names keys, eliding a long list and long keys.
func listKeys(keys []string) string {
	const shown = 10
	short := make([]string, 0, min(len(keys), shown))
	for _, k := range keys[:min(len(keys), shown)] {
		short = append(short, history.AbbreviateString(k))
	}
	if len(keys) <= shown {
		return strings.Join(short, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(short, ", "), len(keys)-shown)
}
