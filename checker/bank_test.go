package checker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/history"
)

var bankAccounts = []string{"a0", "a1", "a2"}

// bankHistory builds bank histories one operation at a time, each
// completing before the next is invoked.
type bankHistory struct{ h history.History }

func (b *bankHistory) add(p history.Process, f string, value any, t history.Type, result any, startTS, commitTS uint64) {
	n := int64(len(b.h))
	b.h = append(b.h,
		history.Op{Index: n, Type: history.Invoke, Process: p, F: f, Value: value, Time: (n + 1) * 1000},
		history.Op{Index: n + 1, Type: t, Process: p, F: f, Value: result, Time: (n + 2) * 1000, StartTS: startTS, CommitTS: commitTS})
}

func (b *bankHistory) transfer(from, to string, amount int64, t history.Type, commitTS uint64) {
	v := map[string]any{"from": from, "to": to, "amount": amount}
	b.add(0, "transfer", v, t, v, commitTS-1, commitTS)
}

func (b *bankHistory) read(balances map[string]any, startTS uint64) {
	b.add(1, "read", nil, history.OK, balances, startTS, 0)
}

func checkBank(t *testing.T, h history.History) Result {
	t.Helper()
	// Check what a run would write and read back: JSON numbers.
	var buf strings.Builder
	if err := history.Write(&buf, h); err != nil {
		t.Fatal(err)
	}
	decoded, err := history.Read(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	// Initial balances: a0=4, a1=3, a2=3.
	return Bank(bankAccounts, 10).Check(context.Background(), decoded)
}

func kinds(res Result) []string {
	var k []string
	for _, a := range res.Anomalies {
		k = append(k, a.Kind)
	}
	return k
}

func TestBankInitialBalances(t *testing.T) {
	got := BankInitialBalances([]string{"a0", "a1", "a2"}, 10)
	if got["a0"] != 4 || got["a1"] != 3 || got["a2"] != 3 || len(got) != 3 {
		t.Fatalf("initial balances %v, want a0=4 a1=3 a2=3", got)
	}
	if got := BankInitialBalances(nil, 10); len(got) != 0 {
		t.Fatalf("no accounts: %v", got)
	}
}

func TestBankValid(t *testing.T) {
	var b bankHistory
	b.read(map[string]any{"a0": 4, "a1": 3, "a2": 3}, 1)
	b.transfer("a0", "a1", 2, history.OK, 5)
	b.transfer("a2", "a1", 9, history.Fail, 7) // insufficient funds
	b.read(map[string]any{"a0": 2, "a1": 5, "a2": 3}, 8)
	res := checkBank(t, b.h)
	if res.Verdict != Valid || len(res.Anomalies) != 0 {
		t.Fatalf("verdict %s, anomalies %v: %s", res.Verdict, res.Anomalies, res.Summary)
	}
	if !strings.Contains(res.Summary, "2 reads against 1 committed transfers in commit order: 0 differ") {
		t.Errorf("summary %q does not report the replay", res.Summary)
	}
	totals := res.Details["totals"].([][2]int64)
	if len(totals) != 2 || totals[0][1] != 10 || totals[1][1] != 10 || totals[0][0] >= totals[1][0] {
		t.Errorf("totals %v, want two reads of 10 in time order", totals)
	}
	if _, ok := res.Details["first_bad"]; ok {
		t.Error("a valid history reports a bad read")
	}
}

func TestBankInvariants(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balances map[string]any
		kinds    []string
		explains string
	}{
		{"wrong total", map[string]any{"a0": 4, "a1": 3, "a2": 4}, []string{"wrong-total"}, "total of 11, want 10"},
		{"negative balance", map[string]any{"a0": 8, "a1": 3, "a2": -1}, []string{"negative-balance"}, "a2 = -1, below zero"},
		{"missing account", map[string]any{"a0": 7, "a1": 3}, []string{"missing-account"}, "no balance for a2"},
		{"unexpected account", map[string]any{"a0": 4, "a1": 3, "a2": 3, "a9": 0}, []string{"unexpected-account"}, "a9 = 0"},
		{"missing and short", map[string]any{"a0": 4, "a1": 3}, []string{"missing-account", "wrong-total"}, "total of 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bankHistory
			b.read(map[string]any{"a0": 4, "a1": 3, "a2": 3}, 0)
			b.read(tc.balances, 0)
			res := checkBank(t, b.h)
			if res.Verdict != Invalid {
				t.Fatalf("verdict %s, want invalid: %s", res.Verdict, res.Summary)
			}
			if got := strings.Join(kinds(res), ","); got != strings.Join(tc.kinds, ",") {
				t.Fatalf("anomalies %s, want %s", got, strings.Join(tc.kinds, ","))
			}
			a := res.Anomalies[len(res.Anomalies)-1]
			if !strings.Contains(a.Explanation, tc.explains) || a.Ops[0] != 2 || a.Ops[1] != 3 {
				t.Errorf("anomaly %+v: want events 2, 3 and an explanation with %q", a, tc.explains)
			}
			if res.Details["bad_reads"] != 1 || res.Details["first_bad"].(BankRead).Index != 3 {
				t.Errorf("details %v: want one bad read, event 3", res.Details)
			}
			if !strings.Contains(res.Details["replay"].(string), "no timestamps") {
				t.Errorf("replay %q: want it skipped for want of timestamps", res.Details["replay"])
			}
		})
	}
}

func TestBankFirstWorstLast(t *testing.T) {
	var b bankHistory
	b.read(map[string]any{"a0": 4, "a1": 3, "a2": 2}, 0) // 9: events 0-1
	b.read(map[string]any{"a0": 4, "a1": 3, "a2": 3}, 0)
	b.read(map[string]any{"a0": 9, "a1": 3, "a2": 3}, 0) // 15: events 4-5
	b.read(map[string]any{"a0": 4, "a1": 4, "a2": 3}, 0) // 11: events 6-7
	res := checkBank(t, b.h)
	first, worst, last := res.Details["first_bad"].(BankRead), res.Details["worst_bad"].(BankRead), res.Details["last_bad"].(BankRead)
	if first.Index != 1 || first.Total != 9 || worst.Index != 5 || worst.Total != 15 || last.Index != 7 || last.Total != 11 {
		t.Fatalf("first %+v, worst %+v, last %+v", first, worst, last)
	}
	if res.Details["bad_reads"] != 3 || res.Details["reads"] != 4 {
		t.Errorf("details %v: want 3 bad of 4 reads", res.Details)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("result does not encode: %v", err)
	}
}

func TestBankNoReads(t *testing.T) {
	var b bankHistory
	b.transfer("a0", "a1", 1, history.OK, 2)
	if res := checkBank(t, b.h); res.Verdict != Unknown {
		t.Fatalf("verdict %s with no reads, want unknown", res.Verdict)
	}
}

func TestBankReplay(t *testing.T) {
	t.Run("stale read", func(t *testing.T) {
		// The read's total is right, but it misses a transfer committed
		// before its start: it read an old snapshot.
		var b bankHistory
		b.transfer("a0", "a1", 2, history.OK, 5)
		b.read(map[string]any{"a0": 4, "a1": 3, "a2": 3}, 8)
		res := checkBank(t, b.h)
		if res.Verdict != Invalid || strings.Join(kinds(res), ",") != "replay-mismatch" {
			t.Fatalf("verdict %s, anomalies %v, want one replay-mismatch", res.Verdict, res.Anomalies)
		}
		a := res.Anomalies[0]
		for _, want := range []string{"start_ts 8 saw a0=4 a1=3", "gives a0=2 a1=5", "transfer event 1 (commit_ts 5)"} {
			if !strings.Contains(a.Explanation, want) {
				t.Errorf("explanation %q lacks %q", a.Explanation, want)
			}
		}
		if len(a.Ops) != 3 || a.Ops[0] != 2 || a.Ops[1] != 3 || a.Ops[2] != 1 {
			t.Errorf("ops %v, want the read (2, 3) and the transfer (1)", a.Ops)
		}
		if res.Details["bad_reads"] != 0 {
			t.Errorf("the invariants hold, yet %v bad reads", res.Details["bad_reads"])
		}
	})
	t.Run("commit order, not history order", func(t *testing.T) {
		var b bankHistory
		b.transfer("a1", "a2", 3, history.OK, 20) // committed after the read started
		b.transfer("a0", "a1", 2, history.OK, 10)
		b.read(map[string]any{"a0": 2, "a1": 5, "a2": 3}, 15)
		b.read(map[string]any{"a0": 2, "a1": 2, "a2": 6}, 25)
		if res := checkBank(t, b.h); res.Verdict != Valid {
			t.Fatalf("verdict %s: %v", res.Verdict, res.Anomalies)
		}
	})
	t.Run("unknown transfer may explain", func(t *testing.T) {
		var b bankHistory
		b.transfer("a0", "a1", 2, history.Info, 0)
		b.read(map[string]any{"a0": 2, "a1": 5, "a2": 3}, 8)
		res := checkBank(t, b.h)
		if res.Verdict != Valid {
			t.Fatalf("verdict %s: %v", res.Verdict, res.Anomalies)
		}
		if !strings.Contains(res.Summary, "1 more differ only where an unknown-outcome transfer may explain it") {
			t.Errorf("summary %q does not mention the excused read", res.Summary)
		}
	})
	t.Run("unknown transfer on other accounts does not explain", func(t *testing.T) {
		var b bankHistory
		b.transfer("a0", "a2", 2, history.Info, 0)
		b.read(map[string]any{"a0": 4, "a1": 3, "a2": 3}, 2)
		b.read(map[string]any{"a0": 4, "a1": 2, "a2": 4}, 8) // a1 -> a2 never happened
		res := checkBank(t, b.h)
		if res.Verdict != Invalid || strings.Join(kinds(res), ",") != "replay-mismatch" {
			t.Fatalf("verdict %s, anomalies %v, want one replay-mismatch", res.Verdict, res.Anomalies)
		}
	})
	t.Run("partly stamped", func(t *testing.T) {
		var b bankHistory
		b.transfer("a0", "a1", 2, history.OK, 5)
		b.read(map[string]any{"a0": 4, "a1": 3, "a2": 3}, 0)
		res := checkBank(t, b.h)
		if res.Verdict != Valid || !strings.Contains(res.Details["replay"].(string), "event 3 has no timestamp") {
			t.Fatalf("verdict %s, replay %q", res.Verdict, res.Details["replay"])
		}
	})
}

func TestBankTotalsSampled(t *testing.T) {
	var b bankHistory
	for i := range 2 * maxTotalsPoints {
		total := any(3)
		if i == 7 {
			total = 4 // one bad read, which the series must keep
		}
		b.read(map[string]any{"a0": 4, "a1": 3, "a2": total}, 0)
	}
	res := checkBank(t, b.h)
	totals := res.Details["totals"].([][2]int64)
	if len(totals) != maxTotalsPoints {
		t.Fatalf("%d points, want %d", len(totals), maxTotalsPoints)
	}
	bad := 0
	for i, p := range totals {
		if p[1] == 11 {
			bad++
		}
		if i > 0 && p[0] <= totals[i-1][0] {
			t.Fatalf("points out of time order at %d", i)
		}
	}
	if bad != 1 {
		t.Errorf("%d bad points kept, want 1", bad)
	}
}
