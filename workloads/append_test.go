package workloads

import (
	"math/rand/v2"
	"testing"

	"github.com/squall-chaos/squall/workloads/ops"
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
		mops, err := ops.DecodeTxn(op.Value, false)
		if err != nil {
			t.Fatal(err)
		}
		lengths[len(mops)]++
		for _, m := range mops {
			touched[m.Key] = true
			if m.F == "append" {
				appended[m.Key] = append(appended[m.Key], m.Elem)
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
		mops, err := ops.DecodeTxn(op.Value, false)
		if err != nil || len(mops) != 1 || mops[0].F != "r" {
			t.Fatalf("final op %v (%v), want one read", op.Value, err)
		}
		read[mops[0].Key] = true
	}
	for key := range touched {
		if !read[key] {
			t.Errorf("final reads miss key %s", key)
		}
	}
}
