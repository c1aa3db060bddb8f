package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

func TestAppendGeneratorUniqueElementsAndRotation(t *testing.T) {
	w := &Append{ActiveKeys: 3, AppendsPerKey: 5, MaxTxnLen: 4}
	g := w.NewGenerator(4)
	rng := rand.New(rand.NewPCG(1, 2))
	appended := map[string][]int64{}
	touched := map[string]bool{}
	lengths := map[int]int{}
	for range 1000 {
		op, ok := g.Next(rng)
		if !ok {
			t.Fatal("generator ended")
		}
		if op.F != "txn" {
			t.Fatalf("f %q, want txn", op.F)
		}
		mops, err := microOps(op.Value)
		if err != nil {
			t.Fatal(err)
		}
		lengths[len(mops)]++
		for _, m := range mops {
			touched[m.key] = true
			if m.f == "append" {
				appended[m.key] = append(appended[m.key], m.element)
			}
		}
	}
	for key, elems := range appended {
		if len(elems) > 5 {
			t.Errorf("key %s got %d appends, more than AppendsPerKey 5", key, len(elems))
		}
		for i, e := range elems {
			if e != int64(i+1) {
				t.Fatalf("key %s: elements %v, want 1, 2, 3, ...", key, elems)
			}
		}
	}
	if len(appended) < 100 {
		t.Errorf("only %d keys appended to; keys should rotate every 5 appends", len(appended))
	}
	for n := 1; n <= 4; n++ {
		if lengths[n] == 0 {
			t.Errorf("no transaction of %d micro-ops (lengths %v)", n, lengths)
		}
	}
	if len(lengths) != 4 {
		t.Errorf("transaction lengths %v, want 1 to 4", lengths)
	}
	final := w.FinalGenerator()
	read := map[string]bool{}
	for {
		op, ok := final.Next(rng)
		if !ok {
			break
		}
		mops, err := microOps(op.Value)
		if err != nil || len(mops) != 1 || mops[0].f != "r" {
			t.Fatalf("final op %v (%v), want one read", op.Value, err)
		}
		read[mops[0].key] = true
	}
	for key := range touched {
		if !read[key] {
			t.Errorf("final reads miss key %s", key)
		}
	}
}

func TestParseList(t *testing.T) {
	for _, tc := range []struct {
		stored string
		want   string
		err    bool
	}{
		{"", "[]", false},
		{"1,", "[1]", false},
		{"1,2,7,", "[1 2 7]", false},
		{"1,2", "", true},
		{"1,x,", "", true},
	} {
		got, err := parseList([]byte(tc.stored))
		if (err != nil) != tc.err || (err == nil && fmt.Sprint(got) != tc.want) {
			t.Errorf("parseList(%q) = %v, %v; want %s (error: %v)", tc.stored, got, err, tc.want, tc.err)
		}
	}
}

func TestAppendClientOnKV(t *testing.T) {
	nodes := startKV(t)
	c, err := NewAppend().NewClient(Target{System: "kv", Nodes: nodes, Home: "n3"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, step := range []struct {
		txn  []any
		want history.Type
		got  string
	}{
		{[]any{[]any{"r", "k1", nil}}, history.OK, "[[r k1 []]]"},
		{[]any{[]any{"append", "k1", int64(1)}, []any{"r", "k1", nil}}, history.OK, "[[append k1 1] [r k1 [1]]]"},
		{[]any{[]any{"r", "k2", nil}, []any{"append", "k1", int64(2)}, []any{"append", "k2", int64(1)}, []any{"r", "k1", nil}},
			history.OK, "[[r k2 []] [append k1 2] [append k2 1] [r k1 [1 2]]]"},
		{[]any{[]any{"r", "k1", nil}, []any{"r", "k2", nil}}, history.OK, "[[r k1 [1 2]] [r k2 [1]]]"},
		{[]any{[]any{"put", "k1", int64(3)}}, history.Fail, ""},
		{[]any{}, history.Fail, ""},
	} {
		done := c.Invoke(ctx, history.Op{Type: history.Invoke, Process: 1, F: "txn", Value: step.txn})
		if done.Type != step.want || done.Process != 1 || done.F != "txn" {
			t.Fatalf("txn %v: completion %+v, want type %s", step.txn, done, step.want)
		}
		if step.got != "" && fmt.Sprint(done.Value) != step.got {
			t.Fatalf("txn %v: value %v, want %s", step.txn, done.Value, step.got)
		}
	}
	if _, err := NewAppend().NewClient(Target{System: "mongo"}); err == nil {
		t.Fatal("a client for an unknown system was made")
	}
}

// TestAppendConcurrentOnKV runs concurrent transactions on the KV store
// and checks them with Elle: its Txn is strictly serializable.
func TestAppendConcurrentOnKV(t *testing.T) {
	w := &Append{ActiveKeys: 4, AppendsPerKey: 20}
	h := run(t, w, "kv", startKV(t), 4, 50)
	for _, c := range w.Checkers(CheckOptions{Consistency: "strict-serializable", Timeout: 30 * time.Second}) {
		res := c.Check(context.Background(), h)
		t.Logf("%s: %s", c.Name(), res.Summary)
		if res.Verdict != checker.Valid {
			t.Errorf("%s: %s: %s %v", c.Name(), res.Verdict, res.Summary, res.Anomalies)
		}
	}
}
