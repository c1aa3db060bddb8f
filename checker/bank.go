package checker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
)

// Bank checks the bank workload's invariants: every committed read of all
// accounts sees each account exactly once, no negative balance, and the
// fixed total (transfers move money, they never make or lose it).
//
// When the history carries a transactional system's timestamps (a
// transfer's commit_ts, a read's start_ts), it also replays the committed
// transfers in commit order from the initial balances and checks that
// each read saw exactly the state at its start timestamp: a read sees the
// transfers with commit_ts <= its start_ts and no other.
//
// The accounts start with BankInitialBalances. Operations: f "transfer"
// with value {"from", "to", "amount"}; f "read" completing ok with
// {account: balance} for every account.
func Bank(accounts []string, total int64) Checker {
	return bank{accounts: slices.Clone(accounts), total: total}
}

// BankInitialBalances is how the bank starts: total split evenly over
// the accounts, the remainder on the first. The workload creates the
// accounts with it; the checker's replay starts from it.
func BankInitialBalances(accounts []string, total int64) map[string]int64 {
	balances := make(map[string]int64, len(accounts))
	n := int64(len(accounts))
	if n == 0 {
		return balances
	}
	for i, a := range accounts {
		balances[a] = total / n
		if i == 0 {
			balances[a] += total % n
		}
	}
	return balances
}

type bank struct {
	accounts []string
	total    int64
}

// maxBankAnomalies bounds the anomalies listed per kind; Details count
// them all. A broken system makes every read bad, and the first few say
// what the rest would.
const maxBankAnomalies = 20

// maxTotalsPoints bounds the "totals" series kept for the report's plot:
// beyond it, good reads are sampled evenly and bad ones kept.
const maxTotalsPoints = 5000

// BankRead is a read as the bank checker reports it.
type BankRead struct {
	Index int64 `json:"index"` // its completion event
	Time  int64 `json:"time"`
	Total int64 `json:"total"`
}

func (bank) Name() string { return "bank" }

func (b bank) Check(_ context.Context, h history.History) Result {
	res := Result{Checker: "bank", Verdict: Valid}
	anomalies := newAnomalyList(maxBankAnomalies)
	var reads, bad []BankRead
	badSet := make(map[int64]bool)
	pairs := h.Pairs()
	for _, p := range pairs {
		if p.Invoke.F != "read" || p.Completion == nil || p.Completion.Type != history.OK {
			continue
		}
		c := p.Completion
		r := BankRead{Index: c.Index, Time: c.Time}
		balances, err := ops.DecodeBalances(c.Value)
		if err != nil {
			anomalies.add(Anomaly{Kind: "malformed-read", Ops: []int64{p.Invoke.Index, c.Index}, Explanation: err.Error()})
			continue
		}
		for _, a := range b.readAnomalies(p, balances) {
			anomalies.add(a)
			badSet[c.Index] = true
		}
		for _, v := range balances {
			r.Total += v
		}
		reads = append(reads, r)
		if badSet[c.Index] {
			bad = append(bad, r)
		}
	}

	replay := b.replay(pairs)
	for _, a := range replay.anomalies {
		anomalies.add(a)
	}

	res.Anomalies = anomalies.list
	res.Details = map[string]any{
		"accounts":  len(b.accounts),
		"total":     b.total,
		"reads":     len(reads),
		"bad_reads": len(bad),
		"anomalies": anomalies.counts,
		"replay":    replay.summary,
		"totals":    totalsSeries(reads, badSet),
	}
	if len(bad) > 0 {
		worst := bad[0]
		for _, r := range bad {
			if abs(r.Total-b.total) > abs(worst.Total-b.total) {
				worst = r
			}
		}
		res.Details["first_bad"], res.Details["worst_bad"], res.Details["last_bad"] = bad[0], worst, bad[len(bad)-1]
	}

	switch {
	case len(anomalies.counts) > 0:
		res.Verdict = Invalid
		res.Summary = fmt.Sprintf("%d of %d reads bad (%s); replay: %s", len(bad), len(reads), anomalies.describe(), replay.summary)
	case len(reads) == 0:
		res.Verdict = Unknown
		res.Summary = "no read succeeded, so nothing was observed"
	default:
		res.Summary = fmt.Sprintf("all %d reads saw %d accounts totalling %d; replay: %s", len(reads), len(b.accounts), b.total, replay.summary)
	}
	return res
}

// readAnomalies checks one read against the invariants.
func (b bank) readAnomalies(p history.Pair, balances map[string]int64) []Anomaly {
	ops := []int64{p.Invoke.Index, p.Completion.Index}
	var found []Anomaly
	add := func(kind, format string, args ...any) {
		found = append(found, Anomaly{Kind: kind, Ops: ops, Explanation: fmt.Sprintf("read (event %d) ", p.Completion.Index) + fmt.Sprintf(format, args...)})
	}
	var sum int64
	for _, a := range slices.Sorted(maps.Keys(balances)) {
		v := balances[a]
		sum += v
		if !slices.Contains(b.accounts, a) {
			add("unexpected-account", "saw account %s = %d, which the bank does not have", history.AbbreviateString(a), v)
		}
		if v < 0 {
			add("negative-balance", "saw account %s = %d, below zero", history.AbbreviateString(a), v)
		}
	}
	var missing []string
	for _, a := range b.accounts {
		if _, ok := balances[a]; !ok {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		add("missing-account", "saw no balance for %s", listKeys(missing))
	}
	if sum != b.total {
		add("wrong-total", "saw a total of %d, want %d: %s", sum, b.total, describeBalances(balances))
	}
	return found
}

// shownBalances is the most balances a description lists.
const shownBalances = 12

func describeBalances(balances map[string]int64) string {
	parts := make([]string, 0, min(len(balances), shownBalances+1))
	for i, a := range slices.Sorted(maps.Keys(balances)) {
		if i == shownBalances {
			parts = append(parts, fmt.Sprintf("... %d more", len(balances)-shownBalances))
			break
		}
		parts = append(parts, fmt.Sprintf("%s=%d", history.AbbreviateString(a), balances[a]))
	}
	return strings.Join(parts, " ")
}

// totalsSeries is the [time, total] of each read, for the report's plot,
// sampled down to maxTotalsPoints with every bad read kept.
func totalsSeries(reads []BankRead, bad map[int64]bool) [][2]int64 {
	keepGood := len(reads)
	if len(reads) > maxTotalsPoints {
		keepGood = max(maxTotalsPoints-len(bad), 0)
	}
	good := len(reads) - len(bad)
	series := make([][2]int64, 0, min(len(reads), maxTotalsPoints+len(bad)))
	seen := 0
	for _, r := range reads {
		if !bad[r.Index] {
			// Keep good read number seen if it is the next of keepGood
			// evenly spaced picks out of good.
			keep := good <= keepGood || (seen*keepGood)/good != ((seen+1)*keepGood)/good
			seen++
			if !keep {
				continue
			}
		}
		series = append(series, [2]int64{r.Time, r.Total})
	}
	return series
}

// anomalyList collects anomalies, listing at most limit of each kind and
// counting them all.
type anomalyList struct {
	limit  int
	list   []Anomaly
	counts map[string]int
}

func newAnomalyList(limit int) *anomalyList {
	return &anomalyList{limit: limit, counts: make(map[string]int)}
}

func (l *anomalyList) add(a Anomaly) {
	l.counts[a.Kind]++
	if l.counts[a.Kind] <= l.limit {
		l.list = append(l.list, a)
	}
}

func (l *anomalyList) describe() string {
	parts := make([]string, 0, len(l.counts))
	for _, kind := range slices.Sorted(maps.Keys(l.counts)) {
		parts = append(parts, fmt.Sprintf("%d %s", l.counts[kind], kind))
	}
	return strings.Join(parts, ", ")
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// BankFits checks that every client operation of h is the bank
// workload's: a transfer of {"from", "to", "amount"}, or a read that, if
// it completed ok, saw {account: balance}. It names the first that is not
// (a *history.EventError).
func BankFits(h history.History) error {
	for i := range h {
		op := &h[i]
		if op.Process == history.Nemesis {
			continue
		}
		switch {
		case op.F == "transfer" && op.Type == history.Invoke:
			if _, err := ops.DecodeTransfer(op.Value); err != nil {
				return eventError(op, "%v", err)
			}
		case op.F == "transfer":
		case op.F == "read" && op.Type == history.OK:
			if _, err := ops.DecodeBalances(op.Value); err != nil {
				return eventError(op, "%v", err)
			}
		case op.F == "read":
		default:
			return eventError(op, "f %q is not a bank operation (transfer, read)", history.AbbreviateString(op.F))
		}
	}
	return nil
}

// BankObserved is what a bank history shows of its bank: the accounts its
// committed reads and its transfers name, sorted, and its first committed
// read (ok false if there is none).
func BankObserved(h history.History) (accounts []string, first BankRead, ok bool) {
	seen := make(map[string]bool)
	for _, p := range h.Pairs() {
		switch {
		case p.Invoke.F == "transfer":
			if t, err := ops.DecodeTransfer(p.Invoke.Value); err == nil {
				seen[t.From], seen[t.To] = true, true
			}
		case p.Invoke.F == "read" && p.Completion != nil && p.Completion.Type == history.OK:
			balances, err := ops.DecodeBalances(p.Completion.Value)
			if err != nil {
				continue
			}
			var total int64
			for a, v := range balances {
				seen[a] = true
				total += v
			}
			if !ok {
				first, ok = BankRead{Index: p.Completion.Index, Time: p.Completion.Time, Total: total}, true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), first, ok
}
