package workloads

import (
	"math/rand/v2"
	"testing"
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
