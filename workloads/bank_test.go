package workloads

import (
	"math/rand/v2"
	"testing"

	"github.com/squall-chaos/squall/workloads/ops"
)

func TestBankGenerator(t *testing.T) {
	w := &Bank{Accounts: 4, MaxTransfer: 3}
	g := w.NewGenerator(2)
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	for range 1000 {
		op, ok := g.Next(rng)
		if !ok {
			t.Fatal("generator ended")
		}
		counts[op.F]++
		if op.F == "read" {
			continue
		}
		tr, err := ops.DecodeTransfer(op.Value)
		if err == nil {
			err = tr.Valid()
		}
		if err != nil {
			t.Fatal(err)
		}
		if tr.Amount < 1 || tr.Amount > 3 {
			t.Fatalf("amount %d outside 1..3", tr.Amount)
		}
		for _, a := range []string{tr.From, tr.To} {
			if a != "a0" && a != "a1" && a != "a2" && a != "a3" {
				t.Fatalf("transfer names account %s", a)
			}
		}
	}
	if counts["read"] < 300 || counts["transfer"] < 300 {
		t.Errorf("ops %v: want reads and transfers about half each", counts)
	}
	final := w.FinalGenerator()
	if op, ok := final.Next(rng); !ok || op.F != "read" {
		t.Fatalf("final op %+v, want a read", op)
	}
	if _, ok := final.Next(rng); ok {
		t.Fatal("more than one final read")
	}
}
