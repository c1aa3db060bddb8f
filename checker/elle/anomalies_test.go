package elle

import (
	"slices"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// These tests build each anomaly from its definition in the literature
// and check which models forbid it.

// wantExplained asserts that an explanation contains each of parts.
func wantExplained(t *testing.T, a checker.Anomaly, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(a.Explanation, s) {
			t.Errorf("%s explanation lacks %q: %s", a.Kind, s, a.Explanation)
		}
	}
}

// wantModels asserts the verdict of h under each model.
func wantModels(t *testing.T, h history.History, verdicts map[string]checker.Verdict) {
	t.Helper()
	for _, m := range models {
		want, ok := verdicts[m.String()]
		if !ok {
			continue
		}
		if res := check(t, h, m.String()); res.Verdict != want {
			t.Errorf("%s: verdict %s, want %s: %s", m, res.Verdict, want, res.Summary)
		}
	}
}

// longFork is Cerone and Gotsman's long fork: two writers of different
// keys, and two readers that see their appends in opposite orders. Its
// cycle W1 -wr-> R1 -rw-> W2 -wr-> R2 -rw-> W1 has two rw edges, never
// two in a row.
func longFork() (h history.History, w1, w2, r1, r2 int64) {
	var b builder
	b.invoke(1, ap("x", 1))
	b.invoke(2, ap("y", 1))
	b.invoke(3, r("x"), r("y"))
	b.invoke(4, r("x"), r("y"))
	w1 = b.complete(1, history.OK, ap("x", 1))
	w2 = b.complete(2, history.OK, ap("y", 1))
	r1 = b.complete(3, history.OK, r("x", 1), r("y"))
	r2 = b.complete(4, history.OK, r("x"), r("y", 1))
	return b.h, w1, w2, r1, r2
}

func TestGNonadjacentLongFork(t *testing.T) {
	h, w1, w2, r1, r2 := longFork()
	si := check(t, h, "snapshot-isolation")
	wantVerdict(t, si, checker.Invalid)
	wantKinds(t, si, GNonadjacent)
	a := wantAnomaly(t, si, GNonadjacent, w1, w2, r1, r2)
	wantExplained(t, a,
		"Let T1 = {events 0-4: append x 1}, T2 = {events 1-5: append y 1}, T3 = {events 2-6: r x [1], r y []} and T4 = {events 3-7: r x [], r y [1]}.",
		"T3 read y = [], and T2 appended 1 as its first element (rw)",
		"So T1 < T3 < T2 < T4 < T1",
		"2 read-write (rw) anti-dependencies, no two of them adjacent: G-nonadjacent (long fork)")
	if !slices.Equal(a.Ops, []int64{w1, w2, r1, r2}) {
		t.Errorf("ops %v, want T1..T4 = %v", a.Ops, []int64{w1, w2, r1, r2})
	}
	if not := si.Details["not"].([]string); !slices.Equal(not, []string{"repeatable-read", "snapshot-isolation"}) {
		t.Errorf("not = %v, want repeatable-read and snapshot-isolation", not)
	}
	wantModels(t, h, map[string]checker.Verdict{
		"read-committed":      checker.Valid,
		"repeatable-read":     checker.Invalid,
		"serializable":        checker.Invalid,
		"strict-serializable": checker.Invalid,
	})
}

// readOnlyAnomaly is Fekete, O'Neil and O'Neil's read-only anomaly under
// snapshot isolation: T1 (withdraw) reads x and y and appends to x; T2
// (deposit) reads y and appends to it, committing while T1 runs; T3, read
// only, then sees T2's deposit but not T1's withdrawal. The cycle T3 -rw->
// T1 -rw-> T2 -wr-> T3 has two adjacent rw edges, which snapshot
// isolation allows.
func readOnlyAnomaly() (h history.History, t1, t2, t3 int64) {
	var b builder
	b.invoke(1, r("x"), r("y"), ap("x", 1))
	t2 = b.txn(2, history.OK, r("y"), ap("y", 1))
	t3 = b.txn(3, history.OK, r("x"), r("y", 1))
	t1 = b.complete(1, history.OK, r("x"), r("y"), ap("x", 1))
	ok(&b, r("x", 1), r("y", 1))
	return b.h, t1, t2, t3
}

func TestG2ItemReadOnlyAnomalyAllowedBySnapshotIsolation(t *testing.T) {
	h, t1, t2, t3 := readOnlyAnomaly()
	si := check(t, h, "snapshot-isolation")
	wantVerdict(t, si, checker.Valid)
	wantKinds(t, si, G2Item)
	a := wantAnomaly(t, si, G2Item, t1, t2, t3)
	wantExplained(t, a, "two of them adjacent: G2-item (Fekete et al.'s read-only anomaly)")
	if strings.Contains(a.Explanation, "write skew") {
		t.Errorf("the read-only anomaly is not write skew: %s", a.Explanation)
	}
	wantModels(t, h, map[string]checker.Verdict{
		"read-committed":  checker.Valid,
		"repeatable-read": checker.Invalid,
		"serializable":    checker.Invalid,
	})
}

// TestCycleNames checks that each cycle is called by its common name only
// where it has that shape.
func TestCycleNames(t *testing.T) {
	h, t1, t2 := writeSkew()
	a := wantAnomaly(t, check(t, h, "serializable"), G2Item, t1, t2)
	wantExplained(t, a, "So T1 < T2 < T1", "two of them adjacent: G2-item (write skew)")

	// Read skew: T1 saw x before T2's append and y after it.
	var b builder
	ok(&b, ap("x", 1), ap("y", 1))
	b.invoke(1, r("x"), r("y"))
	w := b.txn(2, history.OK, ap("x", 2), ap("y", 2))
	rd := b.complete(1, history.OK, r("x", 1), r("y", 1, 2))
	ok(&b, r("x", 1, 2))
	a = wantAnomaly(t, check(t, b.h, "snapshot-isolation"), GSingle, rd, w)
	wantExplained(t, a, "G-single (read skew)")

	// Lost update: both read x empty, then appended to it.
	var lu builder
	lu.invoke(1, r("x"), ap("x", 1))
	lu.invoke(2, r("x"), ap("x", 2))
	u1 := lu.complete(1, history.OK, r("x"), ap("x", 1))
	u2 := lu.complete(2, history.OK, r("x"), ap("x", 2))
	ok(&lu, r("x", 1, 2))
	a = wantAnomaly(t, check(t, lu.h, "snapshot-isolation"), GSingle, u1, u2)
	wantExplained(t, a, "G-single (lost update)", "T2 read x = [], and T1 appended 1 as its first element (rw)")

	// A G-single that is neither: T1's read of x misses T2's append,
	// and T1 appended to y after T2 did.
	var plain builder
	plain.invoke(1, r("x"), ap("y", 1))
	p2 := plain.txn(2, history.OK, ap("x", 1), ap("y", 2))
	p1 := plain.complete(1, history.OK, r("x"), ap("y", 1))
	ok(&plain, r("x", 1), r("y", 2, 1))
	a = wantAnomaly(t, check(t, plain.h, "snapshot-isolation"), GSingle, p1, p2)
	if strings.Contains(a.Explanation, "skew") || strings.Contains(a.Explanation, "lost update") {
		t.Errorf("a plain G-single got a common name: %s", a.Explanation)
	}
}

// TestTxnsNamedInHistoryOrder: whichever txn a cycle search starts from,
// T1 is the txn invoked first, T2 the next, and the cycle is told from
// T1.
func TestTxnsNamedInHistoryOrder(t *testing.T) {
	var b builder
	// Invoked in the order A, B, C; the cycle is A -ww-> C -ww-> B -ww-> A.
	b.invoke(1, ap("x", 1), ap("z", 2))
	b.invoke(2, ap("y", 2), ap("z", 1))
	b.invoke(3, ap("x", 2), ap("y", 1))
	ta := b.complete(1, history.OK, ap("x", 1), ap("z", 2))
	tb := b.complete(2, history.OK, ap("y", 2), ap("z", 1))
	tc := b.complete(3, history.OK, ap("x", 2), ap("y", 1))
	ok(&b, r("x", 1, 2), r("y", 1, 2), r("z", 1, 2))
	res := check(t, b.h, "read-committed")
	a := wantAnomaly(t, res, G0, ta, tb, tc)
	wantExplained(t, a,
		"Let T1 = {events 0-3: append x 1, append z 2}, T2 = {events 1-4: append y 2, append z 1} and T3 = {events 2-5: append x 2, append y 1}.",
		"T1 < T3 because T3 appended 2 to x right after T1's 1 (ww)",
		"So T1 < T3 < T2 < T1")
	if !slices.Equal(a.Ops, []int64{ta, tb, tc}) {
		t.Errorf("ops %v, want T1, T2, T3 = %v", a.Ops, []int64{ta, tb, tc})
	}
}

func TestFutureRead(t *testing.T) {
	for name, mops := range map[string][][]any{
		"external read": {r("x", 1), ap("x", 1)},
		"after own":     {ap("x", 1), r("x", 1, 2), ap("x", 2)},
	} {
		t.Run(name, func(t *testing.T) {
			var b builder
			t1 := ok(&b, mops...)
			res := check(t, b.h, "read-committed")
			wantVerdict(t, res, checker.Invalid)
			wantKinds(t, res, FutureRead)
			a := wantAnomaly(t, res, FutureRead, t1)
			wantExplained(t, a, "but T1 appends", "only after that read", "(future read)")
		})
	}
}

// TestNonRepeatableRead: a re-read inside one txn that sees another txn's
// committed append is allowed by read committed (Adya's PL-2: only G0 and
// G1 are forbidden), not by repeatable read and above.
func TestNonRepeatableRead(t *testing.T) {
	for name, tc := range map[string]struct {
		first, second [][]any
	}{
		"plain re-read":         {[][]any{r("x"), r("x")}, [][]any{r("x", 1), r("x", 1, 2)}},
		"with its own appends":  {[][]any{r("x"), ap("x", 5), r("x")}, [][]any{r("x", 1), ap("x", 5), r("x", 1, 2, 5)}},
		"after its own appends": {[][]any{ap("x", 5), r("x"), r("x")}, [][]any{ap("x", 5), r("x", 1, 5), r("x", 1, 2, 5)}},
	} {
		t.Run(name, func(t *testing.T) {
			var b builder
			ok(&b, ap("x", 1))
			b.invoke(1, tc.first...)
			b.txn(2, history.OK, ap("x", 2))
			t1 := b.complete(1, history.OK, tc.second...)
			wantModels(t, b.h, map[string]checker.Verdict{
				"read-committed":     checker.Valid,
				"repeatable-read":    checker.Invalid,
				"snapshot-isolation": checker.Invalid,
				"serializable":       checker.Invalid,
			})
			res := check(t, b.h, "repeatable-read")
			a := wantAnomaly(t, res, NonRepeatableRead, t1)
			wantExplained(t, a, "the second read saw appends of other transactions that committed in between", "Read committed allows it")
			if slices.Contains(res.Details["anomaly_types"].([]string), Internal) {
				t.Errorf("a non-repeatable read is reported as internal: %s", res.Summary)
			}
		})
	}
}

// TestOwnAppendsOnAnOlderState: a txn that reads its own append on top
// of a state another txn then extends before it commits did what read
// committed allows (its read is no incompatible order), and what
// snapshot isolation forbids (the other txn wrote x while it ran).
func TestOwnAppendsOnAnOlderState(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1))
	b.invoke(1, ap("x", 5), r("x"))
	t2 := b.txn(2, history.OK, ap("x", 2))
	t1 := b.complete(1, history.OK, ap("x", 5), r("x", 1, 5))
	ok(&b, r("x", 1, 2, 5))
	wantModels(t, b.h, map[string]checker.Verdict{
		"read-committed":     checker.Valid,
		"snapshot-isolation": checker.Invalid,
	})
	a := wantAnomaly(t, check(t, b.h, "snapshot-isolation"), GSingle, t1, t2)
	wantExplained(t, a, "T1 read x = [1 5] (apart from its own appends), and T2 appended 2 right after 1 (rw)")
}

// TestInternalStaysForbidden: not seeing one's own appends, or losing
// what one read, is no isolation level's behaviour.
func TestInternalStaysForbidden(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1))
	t1 := ok(&b, ap("x", 2), r("x", 1))
	res := check(t, b.h, "read-committed")
	wantVerdict(t, res, checker.Invalid)
	wantKinds(t, res, Internal)
	a := wantAnomaly(t, res, Internal, t1)
	wantExplained(t, a, "after appending [2] to x, it read x = [1], which does not end with them")
}

func TestEmptyListsShownAsBrackets(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1))
	t2 := ok(&b, r("x"), ap("y", 1), r("y"))
	a := wantAnomaly(t, check(t, b.h, "read-committed"), Internal, t2)
	wantExplained(t, a, "r x [], append y 1, r y []", "it read y = []")
}

func TestSearchStatesFit(t *testing.T) {
	for _, s := range append(slices.Clone(dependencySearches), realtimeSearches...) {
		if s.bits() > stateBits {
			t.Errorf("search %+v needs %d state bits, more than %d", s, s.bits(), stateBits)
		}
	}
}

// TestGNonadjacentRealtime: a long fork closed by the real-time order:
// R2 began after W2 completed, yet neither reader saw both appends.
func TestGNonadjacentRealtime(t *testing.T) {
	var b builder
	b.invoke(1, ap("x", 1))
	b.invoke(2, ap("y", 1))
	b.invoke(3, r("x"), r("y"))
	w2 := b.complete(2, history.OK, ap("y", 1))
	b.invoke(4, r("x"))
	r2 := b.complete(4, history.OK, r("x"))
	r1 := b.complete(3, history.OK, r("x", 1), r("y"))
	w1 := b.complete(1, history.OK, ap("x", 1))
	ok(&b, r("x", 1), r("y", 1))
	wantVerdict(t, check(t, b.h, "serializable"), checker.Valid)
	strict := check(t, b.h, "strict-serializable")
	wantVerdict(t, strict, checker.Invalid)
	wantKinds(t, strict, GNonadjacentRealtime)
	a := wantAnomaly(t, strict, GNonadjacentRealtime, w1, w2, r1, r2)
	wantExplained(t, a, "(realtime)", "no two of them adjacent that needs the real-time order: G-nonadjacent-realtime")
}

// TestWriteSkewOfThree: two rw edges in a row on different keys are
// write skew, however many txns the cycle has.
func TestWriteSkewOfThree(t *testing.T) {
	var b builder
	// T1 reads x empty, T2 appends x then (reading y empty) T3 appends
	// y, and T3 appended z before T1 did.
	b.invoke(1, r("x"), ap("z", 2))
	b.invoke(2, ap("x", 1), r("y"))
	b.invoke(3, ap("y", 1), ap("z", 1))
	t2 := b.complete(2, history.OK, ap("x", 1), r("y"))
	t3 := b.complete(3, history.OK, ap("y", 1), ap("z", 1))
	t1 := b.complete(1, history.OK, r("x"), ap("z", 2))
	ok(&b, r("x", 1), r("y", 1), r("z", 1, 2))
	a := wantAnomaly(t, check(t, b.h, "serializable"), G2Item, t1, t2, t3)
	wantExplained(t, a, "two of them adjacent: G2-item (write skew)")
}
