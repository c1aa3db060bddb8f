package checker

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker/checkertest"
	"github.com/squall-chaos/squall/history"
)

// events builds a history event by event; each event is 10ns after the
// one before, so index order is real-time order.
type events struct{ h history.History }

func (e *events) add(t history.Type, p history.Process, f string, v any) int64 {
	i := int64(len(e.h))
	e.h = append(e.h, history.Op{Index: i, Type: t, Process: p, F: f, Value: v, Time: 10 * (i + 1)})
	return i
}

func (e *events) invoke(p history.Process, f string, v any) int64 {
	return e.add(history.Invoke, p, f, v)
}
func (e *events) ok(p history.Process, f string, v any) int64 { return e.add(history.OK, p, f, v) }

// call records an operation that completes before any other begins.
func (e *events) call(p history.Process, t history.Type, f string, v, result any) (int64, int64) {
	return e.invoke(p, f, v), e.add(t, p, f, result)
}

func kv(key string, arg any) []any { return []any{key, arg} }

func checkLinearizable(t *testing.T, h history.History, cfg LinearizableConfig) Result {
	t.Helper()
	if err := h.Validate(); err != nil {
		t.Fatalf("test history is malformed: %v", err)
	}
	cfg.Model = RegisterModel
	done := make(chan Result, 1)
	go func() { done <- Linearizable(cfg).Check(context.Background(), h) }()
	select {
	case r := <-done:
		return r
	case <-time.After(2 * time.Minute): // a hang guard, not a speed test
		t.Fatal("linearizability check hung")
		return Result{}
	}
}

func TestLinearizableValid(t *testing.T) {
	var e events
	e.call(0, history.OK, "read", kv("r1", nil), kv("r1", nil))
	e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
	e.call(1, history.OK, "read", kv("r1", nil), kv("r1", 1))
	e.call(1, history.OK, "cas", kv("r1", []any{1, 2}), kv("r1", []any{1, 2}))
	e.call(0, history.Fail, "cas", kv("r1", []any{1, 3}), kv("r1", []any{1, 3}))
	e.call(2, history.OK, "write", kv("r2", 7), kv("r2", 7))
	e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 2))
	e.call(1, history.OK, "read", kv("r2", nil), kv("r2", 7))
	r := checkLinearizable(t, e.h, LinearizableConfig{})
	if r.Verdict != Valid {
		t.Fatalf("verdict %s (%s), want valid", r.Verdict, r.Summary)
	}
	if r.Details["keys"] != 2 {
		t.Errorf("keys = %v, want 2", r.Details["keys"])
	}
}

func TestLinearizableStaleRead(t *testing.T) {
	var e events
	e.add(history.Invoke, history.Nemesis, "start-partition", nil)
	e.add(history.Info, history.Nemesis, "start-partition", "n1 n2 | n3 n4 n5")
	e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
	w2inv, w2ok := e.call(0, history.OK, "write", kv("r1", 2), kv("r1", 2))
	e.call(2, history.OK, "write", kv("r2", 9), kv("r2", 9))
	rinv, rok := e.call(1, history.OK, "read", kv("r1", nil), kv("r1", 1))
	e.add(history.Invoke, history.Nemesis, "stop-partition", nil)
	e.add(history.Info, history.Nemesis, "stop-partition", nil)
	e.call(2, history.OK, "read", kv("r2", nil), kv("r2", 9))

	dir := t.TempDir()
	r := checkLinearizable(t, e.h, LinearizableConfig{VisualizeDir: dir})
	if r.Verdict != Invalid {
		t.Fatalf("verdict %s (%s), want invalid", r.Verdict, r.Summary)
	}
	if len(r.Anomalies) != 1 {
		t.Fatalf("anomalies %+v, want one", r.Anomalies)
	}
	a := r.Anomalies[0]
	if a.Kind != "nonlinearizable" || a.Key != "r1" {
		t.Errorf("anomaly kind %q key %q, want nonlinearizable on r1", a.Kind, a.Key)
	}
	if want := []int64{w2inv, w2ok, rinv, rok}; !slices.Equal(a.Ops, want) {
		t.Errorf("anomaly ops %v, want %v (the last write and the stale read)", a.Ops, want)
	}
	for _, s := range []string{"3 operations on key r1", "read -> 1", "write 2", "register at 2"} {
		if !strings.Contains(a.Explanation, s) {
			t.Errorf("explanation %q does not mention %q", a.Explanation, s)
		}
	}
	if !slices.Equal(r.Details["invalid_keys"].([]string), []string{"r1"}) {
		t.Errorf("invalid keys %v, want [r1]", r.Details["invalid_keys"])
	}

	path := r.Details["visualizations"].(map[string]string)["r1"]
	if filepath.Dir(path) != dir {
		t.Fatalf("visualization of r1 at %q, want it in %s", path, dir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"read -\\u003e 1", "nemesis: partition", "n1 n2 | n3 n4 n5"} {
		if !strings.Contains(string(b), s) {
			t.Errorf("visualization does not contain %q", s)
		}
	}
}

func TestLinearizableInfoWriteTakesEffectLater(t *testing.T) {
	var e events
	e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
	e.call(1, history.Info, "write", kv("r1", 2), kv("r1", 2)) // timed out
	e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 1))
	e.call(2, history.OK, "read", kv("r1", nil), kv("r1", 2))
	e.invoke(3, "write", kv("r1", 3)) // never completed, never seen
	e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 2))
	r := checkLinearizable(t, e.h, LinearizableConfig{})
	if r.Verdict != Valid {
		t.Fatalf("verdict %s (%s), want valid", r.Verdict, r.Summary)
	}
}

func TestLinearizableInfoReadIsDropped(t *testing.T) {
	var e events
	e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
	e.call(1, history.Info, "read", kv("r1", nil), kv("r1", nil))
	r := checkLinearizable(t, e.h, LinearizableConfig{})
	if r.Verdict != Valid || r.Details["operations"] != 1 {
		t.Fatalf("verdict %s with %v operations (%s), want valid with 1", r.Verdict, r.Details["operations"], r.Summary)
	}
}

func TestLinearizableFailedWriteMustNotBeSeen(t *testing.T) {
	var e events
	e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
	e.call(1, history.Fail, "write", kv("r1", 2), kv("r1", 2))
	rinv, rok := e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 2))
	r := checkLinearizable(t, e.h, LinearizableConfig{})
	if r.Verdict != Invalid {
		t.Fatalf("verdict %s (%s), want invalid", r.Verdict, r.Summary)
	}
	if ops := r.Anomalies[0].Ops; !slices.Contains(ops, rinv) || !slices.Contains(ops, rok) {
		t.Errorf("anomaly ops %v, want the read's events %d and %d", ops, rinv, rok)
	}
}

func TestLinearizableConcurrent(t *testing.T) {
	tests := []struct {
		name string
		seen any
		want Verdict
	}{
		{"read sees the concurrent write", 1, Valid},
		{"read misses the concurrent write", nil, Valid},
		{"read sees a value never written", 5, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e events
			e.invoke(0, "write", kv("r1", 1))
			e.invoke(1, "read", kv("r1", nil))
			e.ok(1, "read", kv("r1", tt.seen))
			e.ok(0, "write", kv("r1", 1))
			if r := checkLinearizable(t, e.h, LinearizableConfig{}); r.Verdict != tt.want {
				t.Errorf("verdict %s (%s), want %s", r.Verdict, r.Summary, tt.want)
			}
		})
	}
}

func TestLinearizableReadAfterConcurrentWritesMustAgree(t *testing.T) {
	// Two writes overlap; two later reads must see the same winner.
	var e events
	e.invoke(0, "write", kv("r1", 1))
	e.invoke(1, "write", kv("r1", 2))
	e.ok(0, "write", kv("r1", 1))
	e.ok(1, "write", kv("r1", 2))
	e.call(2, history.OK, "read", kv("r1", nil), kv("r1", 1))
	e.call(3, history.OK, "read", kv("r1", nil), kv("r1", 2))
	if r := checkLinearizable(t, e.h, LinearizableConfig{}); r.Verdict != Invalid {
		t.Errorf("verdict %s (%s), want invalid", r.Verdict, r.Summary)
	}
}

func TestLinearizableCAS(t *testing.T) {
	tests := []struct {
		name  string
		build func(e *events)
		want  Verdict
	}{
		{"ok cas after the value it expects", func(e *events) {
			e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
			e.call(0, history.OK, "cas", kv("r1", []any{1, 2}), kv("r1", []any{1, 2}))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 2))
		}, Valid},
		{"ok cas that cannot have found its value", func(e *events) {
			e.call(0, history.OK, "write", kv("r1", 3), kv("r1", 3))
			e.call(0, history.OK, "cas", kv("r1", []any{1, 2}), kv("r1", []any{1, 2}))
		}, Invalid},
		{"failed cas changes nothing", func(e *events) {
			e.call(0, history.OK, "write", kv("r1", 3), kv("r1", 3))
			e.call(0, history.Fail, "cas", kv("r1", []any{1, 2}), kv("r1", []any{1, 2}))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 3))
		}, Valid},
		{"info cas seen later", func(e *events) {
			e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
			e.call(1, history.Info, "cas", kv("r1", []any{1, 2}), kv("r1", []any{1, 2}))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 1))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 2))
		}, Valid},
		{"info cas whose value was never there", func(e *events) {
			e.call(0, history.OK, "write", kv("r1", 3), kv("r1", 3))
			e.call(1, history.Info, "cas", kv("r1", []any{1, 2}), kv("r1", []any{1, 2}))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 3))
		}, Valid},
		{"ok cas on an absent key", func(e *events) {
			e.call(0, history.OK, "cas", kv("r1", []any{0, 2}), kv("r1", []any{0, 2}))
		}, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e events
			tt.build(&e)
			if r := checkLinearizable(t, e.h, LinearizableConfig{}); r.Verdict != tt.want {
				t.Errorf("verdict %s (%s), want %s", r.Verdict, r.Summary, tt.want)
			}
		})
	}
}

// adversarial is a non-linearizable history whose refutation takes
// porcupine exponential time: n concurrent writes and n concurrent reads,
// each of one of the written values, and among them a read of a value
// nobody wrote that returns first. Every order of the others must be
// tried before the bad read is found impossible.
func adversarial(n int) history.History {
	var e events
	for i := range n {
		e.invoke(history.Process(i), "write", kv("hard", i+1))
		e.invoke(history.Process(n+i), "read", kv("hard", nil))
	}
	e.call(history.Process(2*n), history.OK, "read", kv("hard", nil), kv("hard", -1))
	for i := range n {
		e.ok(history.Process(i), "write", kv("hard", i+1))
		e.ok(history.Process(n+i), "read", kv("hard", i+1))
	}
	e.call(history.Process(2*n), history.OK, "write", kv("easy", 1), kv("easy", 1))
	return e.h
}

func TestLinearizableTimeBudget(t *testing.T) {
	r := checkLinearizable(t, adversarial(20), LinearizableConfig{Timeout: 200 * time.Millisecond})
	if r.Verdict != Unknown {
		t.Fatalf("verdict %s (%s), want unknown", r.Verdict, r.Summary)
	}
	if want := "time budget of 200ms ran out on 1 key hard"; r.Summary != want {
		t.Errorf("summary %q, want %q", r.Summary, want)
	}
	if !slices.Equal(r.Details["unknown_keys"].([]string), []string{"hard"}) {
		t.Errorf("unknown keys %v, want [hard]", r.Details["unknown_keys"])
	}
}

func TestLinearizableCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := LinearizableConfig{Model: RegisterModel, Timeout: time.Minute}
	r := Linearizable(cfg).Check(ctx, adversarial(3))
	if r.Verdict != Unknown || !strings.Contains(r.Summary, "context canceled") {
		t.Fatalf("verdict %s (%s), want unknown naming the cancellation", r.Verdict, r.Summary)
	}
}

func TestLinearizableBadValues(t *testing.T) {
	tests := []struct {
		name  string
		f     string
		value any
		want  string
	}{
		{"not a pair", "write", 5, "event 0: write value 5: want [key, argument]"},
		{"key not a string", "write", []any{3, 5}, "event 0: write value [3 5]"},
		{"write of a string", "write", kv("r1", "x"), "event 0: write of x: want an integer"},
		{"cas of one value", "cas", kv("r1", []any{1}), "event 0: cas argument [1]"},
		{"unknown f", "append", kv("r1", 1), `event 0: f "append" is not a register operation`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e events
			e.call(0, history.OK, tt.f, tt.value, tt.value)
			r := checkLinearizable(t, e.h, LinearizableConfig{})
			if r.Verdict != Unknown || !strings.Contains(r.Summary, tt.want) {
				t.Errorf("verdict %s (%s), want unknown mentioning %q", r.Verdict, r.Summary, tt.want)
			}
		})
	}
}

func TestLinearizableAcceptsGoValues(t *testing.T) {
	// A history recorded in memory holds the workload's own Go types.
	type pair [2]int64
	var e events
	e.call(0, history.OK, "write", []any{"r1", int64(4)}, []any{"r1", int64(4)})
	e.call(0, history.OK, "cas", []any{"r1", pair{4, 5}}, []any{"r1", pair{4, 5}})
	e.call(0, history.OK, "read", []any{"r1", nil}, []any{"r1", 5})
	if r := checkLinearizable(t, e.h, LinearizableConfig{}); r.Verdict != Valid {
		t.Fatalf("verdict %s (%s), want valid", r.Verdict, r.Summary)
	}
}

func TestLinearizableGeneratedHistories(t *testing.T) {
	for seed := range uint64(5) {
		h := checkertest.LinearizableRegister(checkertest.RegisterConfig{
			Ops: 2000, Keys: 5, Processes: 6, InfoRate: 0.03, Faults: 2, Seed: seed,
		})
		if r := checkLinearizable(t, h, LinearizableConfig{}); r.Verdict != Valid {
			t.Errorf("seed %d: verdict %s (%s), want valid", seed, r.Verdict, r.Summary)
		}
	}
}

func TestFaultWindows(t *testing.T) {
	var e events
	e.add(history.Invoke, history.Nemesis, "start-partition", nil)
	e.add(history.Info, history.Nemesis, "start-partition", []any{"n1", "n2"})
	e.add(history.Invoke, history.Nemesis, "start-kill", nil)
	e.add(history.Fail, history.Nemesis, "start-kill", nil) // never applied
	e.add(history.Invoke, history.Nemesis, "stop-partition", nil)
	e.add(history.Info, history.Nemesis, "stop-partition", nil)
	e.add(history.Invoke, history.Nemesis, "start-kill", nil)
	e.add(history.Info, history.Nemesis, "start-kill", "n3")
	e.call(0, history.OK, "read", kv("r1", nil), kv("r1", nil))
	got := FaultWindows(e.h)
	want := []FaultWindow{
		{Family: "partition", Start: 20, End: 60, Description: `["n1","n2"]`},
		{Family: "kill", Start: 80, End: 100, Description: "n3"}, // open until the end
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("windows\n%+v, want\n%+v", got, want)
	}
	colours := FaultColours(got)
	if colours["partition"] == "" || colours["partition"] == colours["kill"] {
		t.Errorf("colours %v, want one each, distinct", colours)
	}
}

func TestLinearizableUnknownWrites(t *testing.T) {
	tests := []struct {
		name  string
		build func(e *events)
		want  Verdict
		ops   int // operations handed to porcupine
	}{
		{"unobserved info write is left out", func(e *events) {
			e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
			e.call(1, history.Info, "write", kv("r1", 2), kv("r1", 2))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 1))
		}, Valid, 2},
		{"info write seen only through an info cas", func(e *events) {
			e.call(1, history.Info, "write", kv("r1", 5), kv("r1", 5))
			e.call(2, history.Info, "cas", kv("r1", []any{5, 6}), kv("r1", []any{5, 6}))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 6))
		}, Valid, 3},
		{"observed info write, then a stale read", func(e *events) {
			e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
			e.call(1, history.Info, "write", kv("r1", 2), kv("r1", 2))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 2))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 1))
		}, Invalid, 4},
		{"a value written twice is not bounded by its first reader", func(e *events) {
			e.call(1, history.Info, "write", kv("r1", 2), kv("r1", 2))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 2))
			e.call(2, history.OK, "write", kv("r1", 3), kv("r1", 3))
			e.call(3, history.Info, "write", kv("r1", 2), kv("r1", 2))
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 2))
		}, Valid, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e events
			tt.build(&e)
			r := checkLinearizable(t, e.h, LinearizableConfig{})
			if r.Verdict != tt.want || r.Details["operations"] != tt.ops {
				t.Errorf("verdict %s with %v operations (%s), want %s with %d", r.Verdict, r.Details["operations"], r.Summary, tt.want, tt.ops)
			}
		})
	}
}
