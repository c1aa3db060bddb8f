package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
)

// bankReplay is the outcome of replaying committed transfers against the
// reads.
type bankReplay struct {
	summary   string
	anomalies []Anomaly
}

type replayTransfer struct {
	invoke, completion int64 // event indexes; completion -1 if none
	invokeTime         int64
	commitTS           uint64
	from, to           string
	amount             int64
}

type replayRead struct {
	invoke, completion int64
	time               int64 // completion time
	startTS            uint64
	balances           map[string]int64
}

// replay replays the ok transfers in commit_ts order from the initial
// balances and compares each ok read with the state at its start_ts. It
// applies only when every ok transfer has a commit_ts and every ok read a
// start_ts.
//
// A transfer that ended info may have committed, with a timestamp nobody
// learned. A difference on an account that such a transfer touched, and
// that was invoked before the read completed (so it could have committed
// before the read started), is therefore not evidence; any other
// difference is.
func (b bank) replay(pairs []history.Pair) bankReplay {
	var transfers, uncertain []replayTransfer
	var reads []replayRead
	stamped, unstamped := 0, int64(-1)
	for _, p := range pairs {
		c := p.Completion
		switch p.Invoke.F {
		case "transfer":
			if c != nil && c.Type == history.Fail {
				continue
			}
			tr, err := ops.DecodeTransfer(p.Invoke.Value)
			if err != nil {
				return bankReplay{summary: fmt.Sprintf("not done: event %d: %v", p.Invoke.Index, err)}
			}
			t := replayTransfer{invoke: p.Invoke.Index, completion: -1, invokeTime: p.Invoke.Time, from: tr.From, to: tr.To, amount: tr.Amount}
			if c == nil || c.Type != history.OK {
				uncertain = append(uncertain, t)
				continue
			}
			t.completion, t.commitTS = c.Index, c.CommitTS
			if c.CommitTS == 0 {
				unstamped = c.Index
				continue
			}
			stamped++
			transfers = append(transfers, t)
		case "read":
			if c == nil || c.Type != history.OK {
				continue
			}
			balances, err := ops.DecodeBalances(c.Value)
			if err != nil {
				continue // reported by the invariant check
			}
			if c.StartTS == 0 {
				unstamped = c.Index
				continue
			}
			stamped++
			reads = append(reads, replayRead{invoke: p.Invoke.Index, completion: c.Index, time: c.Time, startTS: c.StartTS, balances: balances})
		}
	}
	switch {
	case stamped == 0:
		return bankReplay{summary: "not done: the history has no timestamps"}
	case unstamped >= 0:
		return bankReplay{summary: fmt.Sprintf("not done: event %d has no timestamp, though others do", unstamped)}
	}

	slices.SortStableFunc(transfers, func(a, b replayTransfer) int { return cmp.Compare(a.commitTS, b.commitTS) })
	slices.SortStableFunc(reads, func(a, b replayRead) int { return cmp.Compare(a.startTS, b.startTS) })
	state := BankInitialBalances(b.accounts, b.total)
	lastWrite := make(map[string]replayTransfer) // account -> last transfer applied that touched it
	var out bankReplay
	next, unexplained, excused := 0, 0, 0
	for _, r := range reads {
		for ; next < len(transfers) && transfers[next].commitTS <= r.startTS; next++ {
			t := transfers[next]
			state[t.from] -= t.amount
			state[t.to] += t.amount
			lastWrite[t.from], lastWrite[t.to] = t, t
		}
		var differ []string
		for _, a := range b.accounts {
			if v, ok := r.balances[a]; ok && v != state[a] {
				differ = append(differ, a)
			}
		}
		if len(differ) == 0 {
			continue
		}
		if slices.ContainsFunc(differ, func(a string) bool { return !mayExplain(uncertain, a, r.time) }) {
			unexplained++
			out.anomalies = append(out.anomalies, replayAnomaly(r, differ, state, lastWrite, next))
		} else {
			excused++
		}
	}
	out.summary = fmt.Sprintf("%d reads against %d committed transfers in commit order: %d differ", len(reads), len(transfers), unexplained)
	if excused > 0 {
		out.summary += fmt.Sprintf(", %d more differ only where an unknown-outcome transfer may explain it", excused)
	}
	return out
}

// mayExplain reports whether a transfer of unknown outcome touching
// account was invoked before time (and so may have committed before a read
// that completed then).
func mayExplain(uncertain []replayTransfer, account string, time int64) bool {
	return slices.ContainsFunc(uncertain, func(t replayTransfer) bool {
		return t.invokeTime < time && (t.from == account || t.to == account)
	})
}

func replayAnomaly(r replayRead, differ []string, state map[string]int64, lastWrite map[string]replayTransfer, applied int) Anomaly {
	ops := []int64{r.invoke, r.completion}
	saw := make([]string, len(differ))
	want := make([]string, len(differ))
	var last []string
	for i, a := range differ {
		saw[i] = fmt.Sprintf("%s=%d", a, r.balances[a])
		want[i] = fmt.Sprintf("%s=%d", a, state[a])
		if t, ok := lastWrite[a]; ok && !slices.Contains(ops, t.completion) {
			ops = append(ops, t.completion)
			last = append(last, fmt.Sprintf("transfer event %d (commit_ts %d)", t.completion, t.commitTS))
		}
	}
	e := fmt.Sprintf("read (event %d) at start_ts %d saw %s, but replaying the %d transfers committed by then gives %s",
		r.completion, r.startTS, strings.Join(saw, " "), applied, strings.Join(want, " "))
	if len(last) > 0 {
		e += "; the last of them to touch these accounts: " + strings.Join(last, ", ")
	}
	return Anomaly{Kind: "replay-mismatch", Ops: ops, Explanation: e}
}
