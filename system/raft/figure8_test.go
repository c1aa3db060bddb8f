package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The Raft paper's Figure 8 (section 5.4.2) shows why a leader must not
// commit an entry of an earlier term by counting its replicas: such an
// entry can sit on a majority and still be overwritten by a later leader.
// TestFigure8 builds the figure step by step; the randomized tests after
// it, in the spirit of MIT 6.824's TestFigure8 and TestUnreliableChurn,
// crash, cut off and restart nodes while proposals flow, and check that the
// cluster still agrees on one history.

// figure8Prefix builds steps (a) to (c) of Figure 8 on five nodes, S1..S5.
// Our terms are one lower than the figure's (it starts S1's reign in term
// 2), and every new leader first appends an empty entry of its term, so
// the figure's "term 4 entry" is S1's empty entry at index 3.
//
// It returns the network with S1 leading term 3, S5 down, S4 cut off, and
// x (term 1, index 2) on S1, S2 and S3 — a majority — but uncommitted.
func figure8Prefix(t *testing.T) *network {
	// CheckQuorum off: followers then grant votes right after hearing a
	// leader, so elections can be held at exactly the moments the figure
	// needs by stepping MsgHup, without waiting out leases.
	nw := newNetwork(t, 13, 5, func(c *Config) { c.DisableCheckQuorum = true })
	nw.elect(1)
	if nw.leader() != 1 || nw.node(1).Status().Term != 1 {
		t.Fatalf("S1 did not win term 1\n%v", nw)
	}

	// (a) S1 leads term 1 and replicates x, at index 2, to S2 only.
	nw.partition([]uint64{1, 2}, []uint64{3, 4, 5})
	if err := nw.propose(1, "x"); err != nil {
		t.Fatalf("propose x at S1: %v", err)
	}
	if !nw.logHas(2, 2, 1, "x") || nw.logHas(3, 2, 1, "x") {
		t.Fatalf("(a): want x at index 2 on S1 and S2 only\n%v", nw)
	}

	// (b) S1 crashes; S5 wins term 2 with the votes of S3 and S4 and
	// appends its empty entry (index 2) and y (index 3), which reach
	// nobody before S5 crashes too.
	nw.crash(1)
	nw.heal()
	nw.partition([]uint64{2}, []uint64{3, 4, 5})
	nw.ignore[MsgApp] = true
	nw.elect(5)
	if st := nw.node(5).Status(); st.Role != Leader || st.Term != 2 {
		t.Fatalf("(b): S5 is %v in term %d, want leader of term 2\n%v", st.Role, st.Term, nw)
	}
	if err := nw.propose(5, "y"); err != nil {
		t.Fatalf("propose y at S5: %v", err)
	}
	nw.crash(5)
	delete(nw.ignore, MsgApp)

	// (c) S1 restarts and wins term 3 with S2 and S3 (its first pre-vote
	// only teaches it term 2). It replicates x to S3, but its own empty
	// entry at index 3 is held back: x is on a majority, S1's term-3
	// entry on S1 alone.
	nw.restart(1)
	nw.heal()
	nw.partition([]uint64{1, 2, 3}, []uint64{4})
	holdBackTerm3 := func(m *Message) {
		if m.Type == MsgApp && m.From == 1 {
			m.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e Entry) bool { return e.Index > 2 })
		}
	}
	for range 2 {
		nw.queue = append(nw.queue, Message{Type: MsgHup, From: 1, To: 1})
		nw.deliverEach(holdBackTerm3)
	}
	if st := nw.node(1).Status(); st.Role != Leader || st.Term != 3 {
		t.Fatalf("(c): S1 is %v in term %d, want leader of term 3\n%v", st.Role, st.Term, nw)
	}
	for _, id := range []uint64{2, 3} {
		if !nw.logHas(id, 2, 1, "x") || nw.node(1).prs[id].match != 2 {
			t.Fatalf("(c): S%d holds x = %v, S1 knows it matches up to %d; want x held and acknowledged",
				id, nw.logHas(id, 2, 1, "x"), nw.node(1).prs[id].match)
		}
	}
	// The point of the figure: x is on a majority, yet S1 must not
	// count it committed, since it is not of S1's term.
	if c := nw.node(1).Status().Commit; c != 1 || nw.committedOn("x") != 0 {
		t.Fatalf("(c): S1 committed up to %d and x is applied on %d nodes; want commit 1 and x nowhere",
			c, nw.committedOn("x"))
	}
	return nw
}

// TestFigure8 runs the two endings of Figure 8 from step (c).
func TestFigure8(t *testing.T) {
	// (d) S1 crashes before its term-3 entry is on a majority. S5 comes
	// back and wins term 4 with S2, S3 and S4 (its log ends in term 2,
	// theirs in term 1), and overwrites x, on a majority though it was,
	// with its own entries. Had S1 counted x committed at (c), the
	// network's state machine safety check would fail here.
	t.Run("d", func(t *testing.T) {
		nw := figure8Prefix(t)
		nw.crash(1)
		nw.restart(5)
		nw.heal()
		for range 2 { // the first pre-vote only teaches S5 term 3
			nw.elect(5)
		}
		if l := nw.leader(); l != 5 || nw.node(5).Status().Term != 4 {
			t.Fatalf("(d): leader %d, want S5 leading term 4\n%v", l, nw)
		}
		if n := nw.committedOn("y"); n != 4 {
			t.Fatalf("(d): y applied on %d nodes, want 4", n)
		}
		for _, id := range []uint64{2, 3} {
			if !nw.logHas(id, 2, 2, "") {
				t.Fatalf("(d): S%d's log is %v, want S5's empty entry of term 2 at index 2", id, nw.logOf(id))
			}
		}
		nw.restart(1)
		nw.tickN(3)
		if nw.committedOn("x") != 0 || nw.committedOn("y") != 5 || !nw.logsEqual(nw.ids...) {
			t.Fatalf("(d) healed: x on %d nodes (want 0), y on %d (want 5), logs equal %v\n%v",
				nw.committedOn("x"), nw.committedOn("y"), nw.logsEqual(nw.ids...), nw)
		}
	})

	// (e) S1 gets its term-3 entry onto a majority before it crashes:
	// that entry, and x before it, are committed, and S5 can no longer
	// win an election (S2 and S3 have a later last term than it).
	t.Run("e", func(t *testing.T) {
		nw := figure8Prefix(t)
		nw.tickAll()
		if c := nw.node(1).Status().Commit; c != 3 || nw.committedOn("x") != 3 {
			t.Fatalf("(e): S1 committed up to %d and x is applied on %d nodes, want 3 and 3 (S1, S2, S3)\n%v",
				c, nw.committedOn("x"), nw)
		}
		nw.crash(1)
		nw.restart(5)
		nw.heal()
		for range 3 {
			nw.elect(5)
			if st := nw.node(5).Status(); st.Role == Leader {
				t.Fatalf("(e): S5 won term %d without x\n%v", st.Term, nw)
			}
		}
		nw.tickUntil(100, "a leader", func() bool { return nw.leader() != None })
		if l := nw.leader(); l != 2 && l != 3 {
			t.Fatalf("(e): S%d leads; only S2 and S3 hold the committed entries\n%v", l, nw)
		}
		nw.restart(1)
		nw.tickN(3)
		if nw.committedOn("x") != 5 || nw.committedOn("y") != 0 || !nw.logsEqual(nw.ids...) {
			t.Fatalf("(e) healed: x on %d nodes (want 5), y on %d (want 0), logs equal %v\n%v",
				nw.committedOn("x"), nw.committedOn("y"), nw.logsEqual(nw.ids...), nw)
		}
	})
}

// TestFigure8Reliable follows 6.824's TestFigure8: over and over, whoever
// leads takes a proposal, a little of the traffic gets through (sometimes
// a lot), and the leader crashes; crashed nodes restart whenever fewer
// than three are up. Messages in flight to a crashed node are lost; those
// from it may still arrive. In the end every node restarts, one more entry
// commits, and all agree.
func TestFigure8Reliable(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			st := seededT{t, seed}
			nw := newNetwork(st, seed, 5, nil)
			rng := rand.New(rand.NewPCG(seed, 0xf18))
			crashedLeaders := 0
			for iter := range 300 {
				leader := nw.proposeAtLeaders(fmt.Sprintf("i%d", iter))
				nw.runAWhile(rng)
				if leader != None {
					crashedLeaders++
					nw.crash(leader)
				}
				if up := len(nw.ids) - len(nw.downNodes()); up < 3 {
					if id := nw.ids[rng.IntN(len(nw.ids))]; nw.nodes[id].down {
						nw.restart(id)
					}
				}
				if iter%20 == 0 {
					nw.checkInvariants()
				}
			}
			if crashedLeaders < 10 {
				st.Fatalf("only %d leaders took proposals in 300 rounds: the schedule exercises little", crashedLeaders)
			}
			nw.convergeAfterChaos(st, rng)
		})
	}
}

// TestFigure8Unreliable follows 6.824's TestFigure8Unreliable: the same
// schedule on a network that loses, duplicates, delays and reorders
// messages, cutting leaders off instead of crashing them.
func TestFigure8Unreliable(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			st := seededT{t, seed}
			nw := newNetwork(st, seed, 5, nil)
			nw.loss, nw.dup, nw.delay, nw.reorder = 0.1, 0.05, 0.1, true
			rng := rand.New(rand.NewPCG(seed, 0xf18))
			isolated := make(map[uint64]bool)
			for iter := range 300 {
				leader := nw.proposeAtLeaders(fmt.Sprintf("i%d", iter))
				nw.runAWhile(rng)
				if leader != None && rng.IntN(2) == 0 {
					isolated[leader] = true
				}
				if len(isolated) > 2 {
					delete(isolated, nw.ids[rng.IntN(len(nw.ids))])
				}
				nw.cutOff(isolated)
				if iter%20 == 0 {
					nw.checkInvariants()
				}
			}
			nw.convergeAfterChaos(st, rng)
		})
	}
}

// TestUnreliableChurn follows 6.824's TestUnreliableChurn: on a lossy,
// duplicating, reordering network, nodes are cut off, crashed, restarted
// and compacted at random while proposals keep coming. After healing, all
// nodes converge: every entry applied anywhere is applied, identically,
// everywhere.
func TestUnreliableChurn(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			st := seededT{t, seed}
			nw := newNetwork(st, seed, 5, nil)
			nw.loss, nw.dup, nw.delay, nw.reorder = 0.1, 0.05, 0.1, true
			nw.reportSnap = true // as a driver's transport does
			rng := rand.New(rand.NewPCG(seed, 0xc4))
			isolated := make(map[uint64]bool)
			proposed := 0
			// A victim is the leader half the time, else anyone.
			victim := func() uint64 {
				if ls := nw.claimedLeaders(); len(ls) > 0 && rng.IntN(2) == 0 {
					return ls[rng.IntN(len(ls))]
				}
				return nw.ids[rng.IntN(len(nw.ids))]
			}
			for range 100 {
				// As in 6.824: each step may cut off a node, bring one back
				// (restarting it if down), and crash one; here also
				// compact every live node's log.
				if rng.IntN(5) == 0 {
					isolated[victim()] = true
				}
				if id := nw.ids[rng.IntN(len(nw.ids))]; rng.IntN(2) == 0 {
					delete(isolated, id)
					if nw.nodes[id].down {
						nw.restart(id)
					}
				}
				if id := victim(); rng.IntN(5) == 0 && !nw.nodes[id].down {
					nw.crash(id)
				}
				if rng.IntN(3) == 0 {
					for _, id := range nw.ids {
						if !nw.nodes[id].down {
							nw.compact(id, uint64(rng.IntN(5)))
						}
					}
				}
				nw.cutOff(isolated)
				// Seven tenths of an election timeout of traffic (as in
				// 6.824), with a proposal at every leader on every step.
				for range 7 * testElectionTick / 10 {
					if nw.proposeAtLeaders(fmt.Sprintf("c%d", proposed)) != None {
						proposed++
					}
					nw.runAWhile(rng)
				}
				nw.checkInvariants()
			}
			nw.convergeAfterChaos(st, rng)
			if len(nw.applied) < proposed/4 {
				st.Fatalf("only %d entries applied of %d proposals: the churn left little to check", len(nw.applied), proposed)
			}
		})
	}
}

// Helpers for the randomized tests.

// proposeAtLeaders proposes data at every live node that believes it
// leads (there may be several, of different terms) and returns the last
// that took it, or None.
func (nw *network) proposeAtLeaders(data string) uint64 {
	took := None
	for _, id := range nw.claimedLeaders() {
		if nw.node(id).Propose([]byte(data)) == nil {
			nw.process(id)
			took = id
		}
	}
	return took
}

// runAWhile lets time pass: usually a tick or two, after each of which only
// part of the traffic in flight is delivered; one time in ten up to five
// election timeouts, so that leaders get elected.
func (nw *network) runAWhile(rng *rand.Rand) {
	ticks := 1 + rng.IntN(2)
	if rng.IntN(10) == 0 {
		ticks = rng.IntN(5 * testElectionTick)
	}
	for range ticks {
		for _, id := range nw.ids {
			nw.tick(id)
		}
		for k := rng.IntN(len(nw.queue) + 1); k > 0; k-- {
			nw.deliverOne()
		}
	}
}

func (nw *network) downNodes() []uint64 {
	var down []uint64
	for _, id := range nw.ids {
		if nw.nodes[id].down {
			down = append(down, id)
		}
	}
	return down
}

// convergeAfterChaos heals the network, restarts every node, lets the
// cluster elect a leader and commit one more entry, and checks that all
// nodes then hold the same log and state.
func (nw *network) convergeAfterChaos(t seededT, rng *rand.Rand) {
	nw.heal()
	for _, id := range nw.downNodes() {
		nw.restart(id)
	}
	nw.deliver()
	nw.settle()
	nw.tickN(3) // stragglers hear the leader's heartbeats and catch up
	l := nw.settle()
	nw.mustCommit(l, fmt.Sprintf("final-%d", rng.Uint64()), len(nw.ids))
	nw.checkInvariants()
	if d := nw.stateDiff(); d != "" {
		t.Fatalf("state machines differ after healing: %s\n%v", d, nw)
	}
	lst := nw.node(l).Status()
	for _, id := range nw.ids {
		if st := nw.node(id).Status(); st.Commit != lst.Commit || st.LastIndex != lst.LastIndex {
			t.Fatalf("node %d has commit %d last %d, leader %d has %d and %d\n%v",
				id, st.Commit, st.LastIndex, l, lst.Commit, lst.LastIndex, nw)
		}
	}
}

// logHas reports whether live node id's log holds an entry of term with
// data at index.
func (nw *network) logHas(id, index, term uint64, data string) bool {
	n := nw.nodes[id]
	if n.down {
		return false
	}
	l := n.core.log
	if index < l.firstIndex() || index > l.lastIndex() {
		return false
	}
	ents, err := l.slice(index, index+1, 1<<62)
	return err == nil && ents[0].Term == term && string(ents[0].Data) == data
}
