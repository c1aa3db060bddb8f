package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/squall-chaos/squall/history"
)

func TestRegisterGeneratorUniqueValuesAndRetiredKeys(t *testing.T) {
	w := &Register{OpsPerKey: 10, ActiveKeys: 3}
	g := w.NewGenerator(4)
	rng := rand.New(rand.NewPCG(1, 2))
	written := map[string]map[int64]bool{}
	opsPerKey := map[string]int{}
	for range 1000 {
		op, ok := g.Next(rng)
		if !ok {
			t.Fatal("generator ended")
		}
		v := op.Value.([]any)
		key := v[0].(string)
		opsPerKey[key]++
		var value int64
		switch op.F {
		case "read":
			continue
		case "write":
			value = v[1].(int64)
		case "cas":
			value = v[1].([]any)[1].(int64)
		default:
			t.Fatalf("unexpected f %q", op.F)
		}
		if written[key] == nil {
			written[key] = map[int64]bool{}
		}
		if written[key][value] {
			t.Fatalf("value %d written twice to %s", value, key)
		}
		written[key][value] = true
	}
	for key, n := range opsPerKey {
		if n > 10 {
			t.Errorf("key %s got %d ops, more than OpsPerKey 10", key, n)
		}
	}
	if len(opsPerKey) < 1000/10 {
		t.Errorf("only %d keys used over 1000 ops with 10 ops per key", len(opsPerKey))
	}
	final := w.FinalGenerator()
	reads := map[string]bool{}
	for {
		op, ok := final.Next(rng)
		if !ok {
			break
		}
		if op.F != "read" {
			t.Fatalf("final op %s, want read", op.F)
		}
		reads[op.Value.([]any)[0].(string)] = true
	}
	for key := range opsPerKey {
		if !reads[key] {
			t.Errorf("final reads miss key %s", key)
		}
	}
}

// TestRegisterClientOnKV runs the adapter against a real 3-node KV cluster
// in this process.
func TestRegisterClientOnKV(t *testing.T) {
	nodes := startKV(t)
	c, err := NewRegister().NewClient(Target{System: "kv", Nodes: nodes, Home: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	invoke := func(f string, value any) history.Op {
		return c.Invoke(ctx, history.Op{Type: history.Invoke, Process: 1, F: f, Value: value})
	}
	for _, step := range []struct {
		f     string
		value any
		want  history.Type
		got   any
	}{
		{"read", []any{"r1", nil}, history.OK, []any{"r1", nil}},
		{"write", []any{"r1", int64(1)}, history.OK, []any{"r1", int64(1)}},
		{"read", []any{"r1", nil}, history.OK, []any{"r1", int64(1)}},
		{"cas", []any{"r1", []any{int64(1), int64(2)}}, history.OK, nil},
		{"cas", []any{"r1", []any{int64(1), int64(3)}}, history.Fail, nil},
		{"read", []any{"r1", nil}, history.OK, []any{"r1", int64(2)}},
		{"write", []any{"r1", "x"}, history.Fail, nil},
	} {
		done := invoke(step.f, step.value)
		if done.Type != step.want || done.Process != 1 || done.F != step.f {
			t.Fatalf("%s %v: completion %+v, want type %s", step.f, step.value, done, step.want)
		}
		if step.got != nil && fmt.Sprint(done.Value) != fmt.Sprint(step.got) {
			t.Fatalf("%s %v: value %v, want %v", step.f, step.value, done.Value, step.got)
		}
	}
	if _, err := NewRegister().NewClient(Target{System: "mongo"}); err == nil {
		t.Fatal("a client for an unknown system was made")
	}
}
