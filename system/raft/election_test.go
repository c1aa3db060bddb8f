package raft

import "testing"

func TestInitialElection(t *testing.T) {
	nw := newNetwork(t, 1, 3, nil)
	l := nw.settle()
	term := nw.node(l).Status().Term
	for _, id := range nw.ids {
		if st := nw.node(id).Status(); st.Lead != l || st.Term != term {
			t.Fatalf("node %d: lead %d term %d, want lead %d term %d\n%v", id, st.Lead, st.Term, l, term, nw)
		}
	}
	// Quiet network: the leader stays.
	for range 100 {
		nw.tickAll()
	}
	if got := nw.leader(); got != l || nw.node(l).Status().Term != term {
		t.Fatalf("leader changed on a quiet network: %d -> %d\n%v", l, got, nw)
	}
}

func TestBasicAgreement(t *testing.T) {
	nw := newNetwork(t, 2, 5, nil)
	l := nw.settle()
	for i := range 10 {
		data := string(rune('a' + i))
		if err := nw.propose(l, data); err != nil {
			t.Fatal(err)
		}
		if got := nw.committedOn(data); got != 5 {
			t.Fatalf("%q applied on %d nodes, want 5\n%v", data, got, nw)
		}
	}
	nw.checkInvariants()
}
