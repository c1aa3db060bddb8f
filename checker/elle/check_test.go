package elle

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// builder writes small histories by hand.
type builder struct{ h history.History }

func (b *builder) add(p int, typ history.Type, value any) int64 {
	i := int64(len(b.h))
	b.h = append(b.h, history.Op{Index: i, Type: typ, Process: history.Process(p), F: "txn", Value: value, Time: i * 10})
	return i
}

// invoke starts a txn of process p, with its reads' values null.
func (b *builder) invoke(p int, mops ...[]any) {
	value := make([]any, len(mops))
	for i, m := range mops {
		if m[0] == "r" {
			m = []any{"r", m[1], nil}
		}
		value[i] = m
	}
	b.add(p, history.Invoke, value)
}

// complete ends process p's txn; it returns the completion's index.
func (b *builder) complete(p int, typ history.Type, mops ...[]any) int64 {
	value := make([]any, len(mops))
	for i, m := range mops {
		value[i] = m
	}
	return b.add(p, typ, value)
}

// txn adds a whole txn that ran alone; it returns its completion's index.
func (b *builder) txn(p int, typ history.Type, mops ...[]any) int64 {
	b.invoke(p, mops...)
	return b.complete(p, typ, mops...)
}

func ok(b *builder, mops ...[]any) int64 { return b.txn(0, history.OK, mops...) }

func ap(k string, e int) []any { return []any{"append", k, e} }

func r(k string, elems ...int) []any {
	list := make([]any, len(elems))
	for i, e := range elems {
		list[i] = e
	}
	return []any{"r", k, list}
}

func check(t *testing.T, h history.History, model string) checker.Result {
	t.Helper()
	if err := h.Validate(); err != nil {
		t.Fatalf("test history: %v", err)
	}
	return Check(context.Background(), h, Options{Model: model})
}

// wantAnomaly asserts that res has an anomaly of kind over exactly the
// txns completed at ops (in any order), and returns it.
func wantAnomaly(t *testing.T, res checker.Result, kind string, ops ...int64) checker.Anomaly {
	t.Helper()
	slices.Sort(ops)
	all := append(slices.Clone(res.Anomalies), allowed(res)...)
	for _, a := range all {
		got := slices.Sorted(slices.Values(a.Ops))
		if a.Kind == kind && slices.Equal(got, ops) {
			return a
		}
	}
	t.Fatalf("no %s anomaly over ops %v in %s: %+v", kind, ops, res.Summary, all)
	return checker.Anomaly{}
}

func allowed(res checker.Result) []checker.Anomaly {
	a, _ := res.Details["allowed_anomalies"].([]checker.Anomaly)
	return a
}

func wantVerdict(t *testing.T, res checker.Result, v checker.Verdict) {
	t.Helper()
	if res.Verdict != v {
		t.Fatalf("verdict %s, want %s: %s; anomalies %+v", res.Verdict, v, res.Summary, res.Anomalies)
	}
}

func wantKinds(t *testing.T, res checker.Result, kinds ...string) {
	t.Helper()
	got, _ := res.Details["anomaly_types"].([]string)
	slices.Sort(kinds)
	if !slices.Equal(got, kinds) {
		t.Fatalf("anomaly types %v, want %v (%s)", got, kinds, res.Summary)
	}
}

func TestG0(t *testing.T) {
	var b builder
	t1 := ok(&b, ap("x", 1), ap("y", 2))
	t2 := ok(&b, ap("x", 2), ap("y", 1))
	ok(&b, r("x", 1, 2), r("y", 1, 2))
	res := check(t, b.h, "read-committed")
	wantVerdict(t, res, checker.Invalid)
	wantKinds(t, res, G0)
	a := wantAnomaly(t, res, G0, t1, t2)
	for _, s := range []string{"appended 2 to x right after", "appended 2 to y right after", "(ww)", "G0"} {
		if !strings.Contains(a.Explanation, s) {
			t.Errorf("explanation lacks %q: %s", s, a.Explanation)
		}
	}

	var good builder
	ok(&good, ap("x", 1), ap("y", 1))
	ok(&good, ap("x", 2), ap("y", 2))
	ok(&good, r("x", 1, 2), r("y", 1, 2))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

func TestG1c(t *testing.T) {
	var b builder
	t1 := ok(&b, ap("x", 1), r("y", 1))
	t2 := ok(&b, ap("y", 1), r("x", 1))
	res := check(t, b.h, "read-committed")
	wantVerdict(t, res, checker.Invalid)
	wantKinds(t, res, G1c)
	wantAnomaly(t, res, G1c, t1, t2)

	var good builder
	ok(&good, ap("x", 1), r("y", 1))
	ok(&good, ap("y", 1), r("x"))
	wantVerdict(t, check(t, good.h, "serializable"), checker.Valid)
}

func TestGSingle(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1), ap("y", 1))
	b.invoke(1, r("x"), r("y"))
	t2 := b.txn(2, history.OK, ap("x", 2), ap("y", 2))
	t1 := b.complete(1, history.OK, r("x", 1), r("y", 1, 2))
	ok(&b, r("x", 1, 2))
	res := check(t, b.h, "snapshot-isolation")
	wantVerdict(t, res, checker.Invalid)
	wantKinds(t, res, GSingle)
	a := wantAnomaly(t, res, GSingle, t1, t2)
	for _, s := range []string{
		"T1 read x = [1], and T2 appended 2 right after 1 (rw)",
		"T2 < T1 because T1 read y = [1 2], which ends with T2's append of 2 (wr)",
		"G-single",
	} {
		if !strings.Contains(a.Explanation, s) {
			t.Errorf("explanation lacks %q: %s", s, a.Explanation)
		}
	}
	if not := res.Details["not"]; !slices.Equal(not.([]string), []string{"repeatable-read", "snapshot-isolation"}) {
		t.Errorf("not = %v", not)
	}

	var good builder
	ok(&good, ap("x", 1), ap("y", 1))
	ok(&good, r("x", 1), r("y", 1))
	ok(&good, ap("x", 2), ap("y", 2))
	ok(&good, r("x", 1, 2), r("y", 1, 2))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

// writeSkew is two txns that each read both keys empty and append to a
// different one: G2-item, allowed by snapshot isolation.
func writeSkew() (h history.History, t1, t2 int64) {
	var b builder
	b.invoke(1, r("x"), r("y"), ap("x", 1))
	b.invoke(2, r("x"), r("y"), ap("y", 1))
	t1 = b.complete(1, history.OK, r("x"), r("y"), ap("x", 1))
	t2 = b.complete(2, history.OK, r("x"), r("y"), ap("y", 1))
	ok(&b, r("x", 1), r("y", 1))
	return b.h, t1, t2
}

func TestG2Item(t *testing.T) {
	h, t1, t2 := writeSkew()
	si := check(t, h, "snapshot-isolation")
	wantVerdict(t, si, checker.Valid)
	wantKinds(t, si, G2Item)
	wantAnomaly(t, si, G2Item, t1, t2)
	if len(si.Anomalies) != 0 {
		t.Errorf("snapshot isolation allows write skew, yet anomalies %+v", si.Anomalies)
	}
	// A valid run's summary says what the allowed anomaly is.
	if want := "allowed anomalies: G2-item (1: write skew, two transactions each overwriting what the other read, which snapshot-isolation allows)"; !strings.Contains(si.Summary, want) {
		t.Errorf("summary %q, want it to contain %q", si.Summary, want)
	}

	ser := check(t, h, "serializable")
	wantVerdict(t, ser, checker.Invalid)
	a := wantAnomaly(t, ser, G2Item, t1, t2)
	if strings.Count(a.Explanation, "(rw).") != 2 {
		t.Errorf("explanation should show two rw edges: %s", a.Explanation)
	}
	if not, also := ser.Details["not"].([]string), ser.Details["also_not"].([]string); !slices.Equal(not, []string{"repeatable-read"}) || !slices.Equal(also, []string{"serializable", "strict-serializable"}) {
		t.Errorf("not %v, also not %v", not, also)
	}

	var good builder
	ok(&good, r("x"), r("y"), ap("x", 1))
	ok(&good, r("x", 1), r("y"), ap("y", 1))
	wantVerdict(t, check(t, good.h, "serializable"), checker.Valid)
}

func TestLostUpdate(t *testing.T) {
	var b builder
	b.invoke(1, r("x"), ap("x", 1))
	b.invoke(2, r("x"), ap("x", 2))
	t1 := b.complete(1, history.OK, r("x"), ap("x", 1))
	t2 := b.complete(2, history.OK, r("x"), ap("x", 2))
	ok(&b, r("x", 1, 2))
	res := check(t, b.h, "snapshot-isolation")
	wantVerdict(t, res, checker.Invalid)
	a := wantAnomaly(t, res, LostUpdate, t1, t2)
	if a.Key != "x" {
		t.Errorf("key %q, want x", a.Key)
	}
	// It is also a cycle: T2 read [] before T1's 1 (rw), T1's 1 came before T2's 2 (ww).
	wantAnomaly(t, res, GSingle, t1, t2)
	if rc := check(t, b.h, "read-committed"); rc.Verdict != checker.Valid {
		t.Errorf("read committed allows lost updates: %s", rc.Summary)
	}

	var good builder
	ok(&good, r("x"), ap("x", 1))
	ok(&good, r("x", 1), ap("x", 2))
	ok(&good, r("x", 1, 2))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

func TestG1a(t *testing.T) {
	var b builder
	t1 := b.txn(1, history.Fail, ap("x", 1))
	t2 := ok(&b, r("x", 1))
	res := check(t, b.h, "read-committed")
	wantVerdict(t, res, checker.Invalid)
	wantKinds(t, res, G1a)
	wantAnomaly(t, res, G1a, t1, t2)

	var good builder
	good.txn(1, history.Fail, ap("x", 1))
	good.txn(2, history.Info, ap("x", 2)) // info: may have committed
	ok(&good, r("x", 2))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

func TestG1b(t *testing.T) {
	var b builder
	t1 := ok(&b, ap("x", 1), ap("x", 2))
	t2 := ok(&b, r("x", 1))
	ok(&b, r("x", 1, 2))
	res := check(t, b.h, "read-committed")
	wantVerdict(t, res, checker.Invalid)
	wantAnomaly(t, res, G1b, t1, t2)

	var good builder
	ok(&good, ap("x", 1), ap("x", 2))
	ok(&good, r("x", 1, 2))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

func TestInternal(t *testing.T) {
	for name, mops := range map[string][][]any{
		"read misses own append":  {ap("x", 2), r("x")},
		"read changed in between": {r("x", 1), ap("x", 2), r("x", 1, 3)},
		"read lost earlier state": {r("x", 1), r("x")},
	} {
		t.Run(name, func(t *testing.T) {
			var b builder
			ok(&b, ap("x", 1))
			t1 := ok(&b, mops...)
			res := check(t, b.h, "read-committed")
			wantVerdict(t, res, checker.Invalid)
			wantAnomaly(t, res, Internal, t1)
		})
	}
	var good builder
	ok(&good, ap("x", 1))
	ok(&good, r("x", 1), ap("x", 2), r("x", 1, 2), ap("x", 3), ap("y", 1), r("x", 1, 2, 3), r("y", 1))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

func TestDuplicateElements(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1))
	t2 := ok(&b, r("x", 1, 1))
	res := check(t, b.h, "read-committed")
	wantVerdict(t, res, checker.Invalid)
	wantAnomaly(t, res, DuplicateElements, t2)

	var good builder
	ok(&good, ap("x", 1))
	ok(&good, r("x", 1))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

func TestIncompatibleOrder(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1))
	ok(&b, ap("x", 2))
	t3 := ok(&b, r("x", 1, 2))
	t4 := ok(&b, r("x", 2))
	res := check(t, b.h, "read-committed")
	wantVerdict(t, res, checker.Invalid)
	a := wantAnomaly(t, res, IncompatibleOrder, t3, t4)
	if !strings.Contains(a.Explanation, "neither is a prefix of the other") {
		t.Errorf("explanation: %s", a.Explanation)
	}

	var good builder
	ok(&good, ap("x", 1))
	ok(&good, r("x", 1))
	ok(&good, ap("x", 2))
	ok(&good, r("x", 1, 2))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

func TestGarbageRead(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1))
	t2 := ok(&b, r("x", 1, 9))
	res := check(t, b.h, "read-committed")
	wantVerdict(t, res, checker.Invalid)
	wantAnomaly(t, res, GarbageRead, t2)
}

func TestRealtime(t *testing.T) {
	cases := []struct {
		kind  string
		build func(b *builder) (t1, t2 int64)
	}{
		// T2 begins after T1 completed, yet its read misses T1's append.
		{GSingleRealtime, func(b *builder) (int64, int64) {
			t1 := b.txn(1, history.OK, ap("x", 1))
			t2 := b.txn(2, history.OK, r("x"))
			ok(b, r("x", 1))
			return t1, t2
		}},
		// T2 begins after T1 completed, yet its append comes first.
		{G0Realtime, func(b *builder) (int64, int64) {
			t1 := b.txn(1, history.OK, ap("x", 1))
			t2 := b.txn(2, history.OK, ap("x", 2))
			ok(b, r("x", 2, 1))
			return t1, t2
		}},
		// T1 read what T2, begun after T1 completed, appended.
		{G1cRealtime, func(b *builder) (int64, int64) {
			t1 := b.txn(1, history.OK, r("x", 1))
			t2 := b.txn(2, history.OK, ap("x", 1))
			return t1, t2
		}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			var b builder
			t1, t2 := tc.build(&b)
			ser := check(t, b.h, "serializable")
			wantVerdict(t, ser, checker.Valid)
			strict := check(t, b.h, "strict-serializable")
			wantVerdict(t, strict, checker.Invalid)
			wantKinds(t, strict, tc.kind)
			a := wantAnomaly(t, strict, tc.kind, t1, t2)
			if !strings.Contains(a.Explanation, "(realtime)") {
				t.Errorf("explanation lacks the real-time edge: %s", a.Explanation)
			}
			if not := strict.Details["not"].([]string); !slices.Equal(not, []string{"strict-serializable"}) {
				t.Errorf("not = %v", not)
			}
		})
	}

	// The same stale read, but concurrent with the append: fine.
	var good builder
	good.invoke(2, r("x"))
	good.txn(1, history.OK, ap("x", 1))
	good.complete(2, history.OK, r("x"))
	ok(&good, r("x", 1))
	wantVerdict(t, check(t, good.h, "strict-serializable"), checker.Valid)
}

func TestBudget(t *testing.T) {
	h, _, _ := writeSkew()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Check(ctx, h, Options{Model: "serializable"})
	wantVerdict(t, res, checker.Unknown)
	if !strings.Contains(res.Summary, "checking stopped") {
		t.Errorf("summary %q should say the check was stopped", res.Summary)
	}

	res = Check(context.Background(), h, Options{Model: "serializable", Timeout: 1})
	wantVerdict(t, res, checker.Unknown)
	if !strings.Contains(res.Summary, "time budget of 1ns ran out") {
		t.Errorf("summary %q should say the budget ran out", res.Summary)
	}

	// Evidence found outside the cycle search still counts.
	var b builder
	b.h = append(b.h, h...)
	b.txn(5, history.Fail, ap("z", 1))
	ok(&b, r("z", 1))
	wantVerdict(t, Check(context.Background(), b.h, Options{Model: "serializable", Timeout: 1}), checker.Invalid)
}

func TestMalformed(t *testing.T) {
	cases := map[string]struct {
		value any
		want  string
	}{
		"not a list":        {"x", "event 1: txn value x"},
		"short micro-op":    {[]any{[]any{"append", "x"}}, "event 1: micro-op 0"},
		"unknown function":  {[]any{[]any{"w", "x", 1}}, `function w, want "append" or "r"`},
		"key not a string":  {[]any{[]any{"append", 3, 1}}, "key 3 is not a string"},
		"element not int":   {[]any{[]any{"append", "x", "one"}}, "element one is not an integer"},
		"read not a list":   {[]any{[]any{"r", "x", 5}}, "read 5: want a list of integers or null"},
		"read element":      {[]any{[]any{"r", "x", []any{1, "b"}}}, "read element b is not an integer"},
		"micro-op not list": {[]any{7}, "event 1: micro-op 0: 7"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := history.History{
				{Index: 0, Type: history.Invoke, Process: 0, F: "txn", Value: tc.value},
				{Index: 1, Type: history.OK, Process: 0, F: "txn", Value: tc.value},
			}
			res := Check(context.Background(), h, Options{Model: "serializable"})
			wantVerdict(t, res, checker.Unknown)
			if !strings.Contains(res.Summary, tc.want) {
				t.Errorf("summary %q, want it to contain %q", res.Summary, tc.want)
			}
		})
	}

	var b builder
	ok(&b, ap("x", 1))
	ok(&b, ap("x", 1))
	res := Check(context.Background(), b.h, Options{})
	wantVerdict(t, res, checker.Unknown)
	if want := "event 3: micro-op 0: element 1 was already appended to x by event 1"; !strings.Contains(res.Summary, want) {
		t.Errorf("summary %q, want it to contain %q", res.Summary, want)
	}
}

func TestModels(t *testing.T) {
	for _, m := range models {
		got, err := ParseModel(m.String())
		if err != nil || got != m {
			t.Errorf("ParseModel(%q) = %v, %v", m, got, err)
		}
	}
	_, err := ParseModel("x")
	if err == nil || !strings.Contains(err.Error(), `consistency model "x": want`) {
		t.Errorf("ParseModel(x): %v", err)
	}
	res := Check(context.Background(), nil, Options{Model: "linearizable"})
	wantVerdict(t, res, checker.Unknown)
	if c := NewChecker(Options{}); c.Name() != "elle" {
		t.Errorf("name %q", c.Name())
	}
	// A stronger model forbids all that a weaker one does.
	for m, below := range weaker {
		for _, w := range below {
			for k := range forbidden[w] {
				if !m.Forbids(k) {
					t.Errorf("%s allows %s, which %s forbids", m, k, w)
				}
			}
		}
	}
}

func TestIgnoresOtherOps(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1))
	b.h = append(b.h,
		history.Op{Index: 2, Type: history.Invoke, Process: history.Nemesis, F: "start-partition"},
		history.Op{Index: 3, Type: history.Info, Process: history.Nemesis, F: "start-partition", Value: "halves"})
	ok(&b, r("x", 1))
	for i := range b.h {
		b.h[i].Index = int64(i)
	}
	wantVerdict(t, check(t, b.h, "strict-serializable"), checker.Valid)
}
