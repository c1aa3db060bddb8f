package raft

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// Scenario tests after the Raft paper's sections 5.2 (election), 5.3
// (replication), 5.4 (safety) and 5.5 (crashes), in the spirit of MIT
// 6.824's Raft lab tests, run on the deterministic test network. Election
// safety and state machine safety are checked by the network on every
// Ready; the tests here assert who leads, in which term, and what is
// applied where.

const testElectionTick = 10 // the network's ElectionTick

// TestReElectionAfterLeaderLoss: when the leader is cut off or crashes, the
// others elect a new leader in a higher term; when the old leader comes
// back it follows the new one without disrupting it.
func TestReElectionAfterLeaderLoss(t *testing.T) {
	for _, tc := range []struct {
		name         string
		lose, rejoin func(nw *network, id uint64)
	}{
		{"isolated", (*network).isolate, func(nw *network, _ uint64) { nw.heal() }},
		{"crashed", (*network).crash, (*network).restart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNetwork(t, 3, 3, nil)
			old := nw.settle()
			oldTerm := nw.node(old).Status().Term

			tc.lose(nw, old)
			nw.tickUntil(100, "a new leader", func() bool {
				l := nw.leader()
				return l != None && l != old
			})
			l := nw.leader()
			term := nw.node(l).Status().Term
			if term <= oldTerm {
				t.Fatalf("new leader %d in term %d, want a term above %d\n%v", l, term, oldTerm, nw)
			}
			// Give an isolated old leader time to notice it lost its quorum.
			nw.tickN(3 * testElectionTick)
			if n := nw.nodes[old]; !n.down {
				st := n.core.Status()
				if st.Role == Leader || st.Term != oldTerm {
					t.Fatalf("isolated old leader %d: %v in term %d, want a non-leader still in term %d (CheckQuorum, PreVote)\n%v",
						old, st.Role, st.Term, oldTerm, nw)
				}
			}

			tc.rejoin(nw, old)
			nw.tickN(5 * testElectionTick)
			if got := nw.leader(); got != l || nw.node(l).Status().Term != term {
				t.Fatalf("after node %d rejoined: leader %d, want %d still leading term %d\n%v", old, got, l, term, nw)
			}
			if st := nw.node(old).Status(); st.Role != Follower || st.Lead != l || st.Term != term {
				t.Fatalf("old leader %d after rejoining: %+v, want a follower of %d in term %d", old, st, l, term)
			}
			nw.mustCommit(l, "after", 3)
		})
	}
}

// TestNoLeaderWithoutQuorum: with 3 of 5 nodes cut off or down nobody can
// lead, however long the rest wait; with PreVote their terms stay put, so
// once healed the cluster elects a leader in the next term or so. Without
// PreVote the terms run away, which is what PreVote is for.
func TestNoLeaderWithoutQuorum(t *testing.T) {
	for _, preVote := range []bool{true, false} {
		t.Run(fmt.Sprintf("prevote=%v", preVote), func(t *testing.T) {
			nw := newNetwork(t, 4, 5, func(c *Config) { c.DisablePreVote = !preVote })
			l := nw.settle()
			term := nw.node(l).Status().Term
			others := nw.othersThan(l)
			nw.isolate(l)
			nw.isolate(others[0])
			nw.crash(others[1])

			// A leader that lost its quorum steps down within two CheckQuorum
			// rounds; from then on nobody may lead.
			for i := range 300 {
				nw.tickAll()
				if ls := nw.claimedLeaders(); i >= 2*testElectionTick && len(ls) > 0 {
					t.Fatalf("tick %d: %v lead without a quorum\n%v", i, ls, nw)
				}
			}
			maxTerm := nw.maxTerm()
			if preVote && maxTerm != term {
				t.Fatalf("terms moved from %d to %d without a quorum despite PreVote\n%v", term, maxTerm, nw)
			}
			if !preVote && maxTerm < term+10 {
				t.Fatalf("without PreVote, 300 ticks of failed elections took terms from %d only to %d\n%v", term, maxTerm, nw)
			}

			nw.heal()
			nw.restart(others[1])
			l = nw.settle()
			if got := nw.node(l).Status().Term; preVote && got > term+2 {
				t.Fatalf("after healing: leader %d in term %d, want at most %d (PreVote kept terms still)\n%v", l, got, term+2, nw)
			}
			nw.tickN(3)
			nw.mustCommit(nw.leader(), "healed", 5)
		})
	}
}

// TestElectionsUnderChurn isolates random sets of nodes, the leader among
// them more often than not, again and again. Whenever a quorum is
// connected a leader must emerge among it; whenever none is, nobody may
// lead once the old leader's CheckQuorum ran. The network checks on every
// step that no term has two leaders.
func TestElectionsUnderChurn(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			st := seededT{t, seed}
			nw := newNetwork(st, seed, 5, nil)
			rng := rand.New(rand.NewPCG(seed, 0xc4a05))
			for round := range 40 {
				isolated := make(map[uint64]bool)
				if l := nw.leader(); l != None && rng.IntN(3) > 0 {
					isolated[l] = true
				}
				for k := rng.IntN(4); len(isolated) < k; {
					isolated[nw.ids[rng.IntN(len(nw.ids))]] = true
				}
				nw.cutOff(isolated)
				nw.tickN(rng.IntN(3 * testElectionTick))

				if len(nw.ids)-len(isolated) >= quorum(len(nw.ids)) {
					nw.tickUntil(20*testElectionTick, fmt.Sprintf("round %d: a leader among the connected (isolated %v)", round, isolated), func() bool {
						l := nw.leader()
						return l != None && !isolated[l]
					})
					continue
				}
				nw.tickN(2 * testElectionTick)
				for range testElectionTick {
					nw.tickAll()
					if ls := nw.claimedLeaders(); len(ls) > 0 {
						st.Fatalf("round %d: %v lead with only %d of %d nodes connected\n%v",
							round, ls, len(nw.ids)-len(isolated), len(nw.ids), nw)
					}
				}
			}
			nw.heal()
			l := nw.settle()
			nw.tickN(3) // the isolated hear the leader's heartbeats and catch up
			nw.mustCommit(l, "end", 5)
		})
	}
}

// TestAgreementDespiteFollowerFailure: with one of three nodes crashed or
// cut off, the other two keep committing; the third catches up once back.
func TestAgreementDespiteFollowerFailure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fail, back func(nw *network, id uint64)
	}{
		{"isolated", (*network).isolate, func(nw *network, _ uint64) { nw.heal() }},
		{"crashed", (*network).crash, (*network).restart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNetwork(t, 5, 3, nil)
			l := nw.settle()
			nw.mustCommit(l, "before", 3)
			f := nw.othersThan(l)[0]

			tc.fail(nw, f)
			var want []string
			// More than MaxInflightMsgs (256) entries: the leader's window
			// toward the failed follower fills up and must reopen when the
			// follower answers again.
			for i := range 300 {
				data := fmt.Sprintf("while-down-%d", i)
				want = append(want, data)
				if err := nw.propose(l, data); err != nil {
					t.Fatalf("propose %q at leader %d: %v", data, l, err)
				}
				for _, id := range nw.ids {
					if got := nw.hasApplied(id, data); got == (id == f) {
						t.Fatalf("node %d (failed follower %d): applied %q = %v\n%v", id, f, data, got, nw)
					}
				}
			}

			tc.back(nw, f)
			nw.tickN(3)
			if got, wantAll := nw.nodes[f].appliedStrings(), nw.nodes[l].appliedStrings(); !slices.Equal(got, wantAll) {
				t.Fatalf("follower %d after rejoining applied %q, leader applied %q", f, got, wantAll)
			}
			for _, data := range want {
				if !nw.hasApplied(f, data) {
					t.Fatalf("follower %d after rejoining lacks %q", f, data)
				}
			}
			if nw.leader() != l {
				t.Fatalf("leader changed from %d when follower %d rejoined\n%v", l, f, nw)
			}
			nw.mustCommit(l, "after", 3)
			nw.checkInvariants()
		})
	}
}

// TestNoAgreementWithoutQuorum: a leader whose followers are both down
// appends a proposal but cannot commit it. What happens to it then depends
// on who leads next: the old leader commits it once a follower is back; a
// new leader elected without it overwrites it.
func TestNoAgreementWithoutQuorum(t *testing.T) {
	setup := func(t *testing.T) (nw *network, l uint64, idx uint64) {
		nw = newNetwork(t, 6, 3, nil)
		l = nw.settle()
		nw.mustCommit(l, "before", 3)
		for _, f := range nw.othersThan(l) {
			nw.crash(f)
		}
		commit := nw.node(l).Status().Commit
		if err := nw.propose(l, "x"); err != nil {
			t.Fatalf("propose at leader %d: %v", l, err)
		}
		st := nw.node(l).Status()
		if st.LastIndex != commit+1 || st.Commit != commit {
			t.Fatalf("leader %d alone: last index %d commit %d, want the proposal appended at %d and commit still %d",
				l, st.LastIndex, st.Commit, commit+1, commit)
		}
		nw.tickN(2) // nobody to hear the heartbeats: still nothing commits
		if nw.node(l).Status().Commit != commit || nw.committedOn("x") != 0 {
			t.Fatalf("proposal committed without a quorum\n%v", nw)
		}
		return nw, l, commit + 1
	}

	t.Run("followers return", func(t *testing.T) {
		nw, l, idx := setup(t)
		for _, f := range nw.othersThan(l) {
			nw.restart(f)
		}
		nw.tickN(2)
		if nw.leader() != l || nw.committedOn("x") != 3 {
			t.Fatalf("followers back: leader %d, x applied on %d nodes; want leader %d and x on 3\n%v",
				nw.leader(), nw.committedOn("x"), l, nw)
		}
		if e := nw.applied[idx]; string(e.Data) != "x" {
			t.Fatalf("entry %d is %+v, want x", idx, e)
		}
	})

	t.Run("new leader overwrites", func(t *testing.T) {
		nw, l, idx := setup(t)
		xTerm := nw.node(l).Status().Term
		nw.crash(l)
		for _, f := range nw.othersThan(l) {
			nw.restart(f)
		}
		nl := nw.settle()
		nw.mustCommit(nl, "y", 2)
		nw.restart(l)
		nw.tickN(3)
		if nw.leader() != nl {
			t.Fatalf("old leader %d disrupted leader %d on restart\n%v", l, nl, nw)
		}
		if e := nw.applied[idx]; e.Term <= xTerm || e.Data != nil {
			t.Fatalf("entry %d is %+v, want the empty entry of the new leader's term (above %d)", idx, e, xTerm)
		}
		if nw.committedOn("x") != 0 || nw.committedOn("y") != 3 {
			t.Fatalf("x applied on %d nodes (want 0), y on %d (want 3)\n%v", nw.committedOn("x"), nw.committedOn("y"), nw)
		}
		nw.checkInvariants()
	})
}

// TestConcurrentProposals: proposals made by the leader in one burst,
// before any of them is replicated, are all committed, in order, on every
// node; proposals at followers are refused and have no effect.
func TestConcurrentProposals(t *testing.T) {
	nw := newNetwork(t, 7, 5, nil)
	l := nw.settle()
	var want []string
	for i := range 50 {
		data := fmt.Sprintf("p%02d", i)
		want = append(want, data)
		if err := nw.node(l).Propose([]byte(data)); err != nil {
			t.Fatalf("propose %q: %v", data, err)
		}
		nw.process(l)
	}
	// A batch in one proposal.
	batch := [][]byte{[]byte("b0"), []byte("b1"), []byte("b2")}
	if err := nw.node(l).Propose(batch...); err != nil {
		t.Fatalf("propose batch: %v", err)
	}
	want = append(want, "b0", "b1", "b2")
	f := nw.othersThan(l)[0]
	if err := nw.node(f).Propose([]byte("at-follower")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal at follower %d: %v, want ErrProposalDropped", f, err)
	}
	nw.process(l)
	nw.deliver()

	for _, id := range nw.ids {
		if got := nw.nodes[id].appliedStrings(); !slices.Equal(got, want) {
			t.Fatalf("node %d applied %q, want %q", id, got, want)
		}
	}
	nw.checkInvariants()
}

// TestPartitionedLeaderRejoins: a leader cut off from the rest keeps
// appending proposals nobody can commit, and steps down (CheckQuorum). The
// majority elects a new leader and commits other entries. When the old
// leader comes back, its uncommitted entries are discarded and all logs
// agree.
func TestPartitionedLeaderRejoins(t *testing.T) {
	nw := newNetwork(t, 8, 5, nil)
	old := nw.settle()
	nw.mustCommit(old, "first", 5)
	oldTerm := nw.node(old).Status().Term
	oldLast := nw.node(old).Status().LastIndex

	nw.isolate(old)
	for i := range 3 {
		if err := nw.propose(old, fmt.Sprintf("lost-%d", i)); err != nil {
			t.Fatalf("propose at isolated leader %d: %v", old, err)
		}
	}
	nw.tickUntil(100, "a new leader", func() bool {
		l := nw.leader()
		return l != None && l != old
	})
	l := nw.leader()
	for i := range 3 {
		nw.mustCommit(l, fmt.Sprintf("kept-%d", i), 4)
	}
	nw.tickN(2 * testElectionTick)
	if st := nw.node(old).Status(); st.Role == Leader || st.Term != oldTerm || st.LastIndex != oldLast+3 {
		t.Fatalf("isolated old leader %d: %+v; want stepped down, still in term %d, holding its 3 lost entries", old, st, oldTerm)
	}

	nw.heal()
	nw.tickN(3)
	if got := nw.leader(); got != l {
		t.Fatalf("leader %d after the old leader rejoined, want %d\n%v", got, l, nw)
	}
	for i := range 3 {
		if n := nw.committedOn(fmt.Sprintf("lost-%d", i)); n != 0 {
			t.Fatalf("lost-%d applied on %d nodes", i, n)
		}
		if n := nw.committedOn(fmt.Sprintf("kept-%d", i)); n != 5 {
			t.Fatalf("kept-%d applied on %d nodes, want 5", i, n)
		}
	}
	if got, want := nw.logOf(old), nw.logOf(l); !slices.EqualFunc(got, want, sameEntry) {
		t.Fatalf("old leader's log %v differs from the leader's %v", got, want)
	}
	nw.checkInvariants()
}

// TestFastBackup follows 6.824's TestBackup: followers whose logs diverge
// from the leader's by 50 entries of another term must be brought in line
// in a few round trips, one per divergent term, not one per entry.
func TestFastBackup(t *testing.T) {
	nw := newNetwork(t, 9, 5, nil)
	l1 := nw.settle()
	nw.mustCommit(l1, "start", 5)

	// The leader and one follower in a minority append 50 entries.
	f1 := nw.othersThan(l1)[0]
	rest := nw.othersThan(l1, f1)
	nw.partition([]uint64{l1, f1}, rest)
	for i := range 50 {
		if err := nw.node(l1).Propose([]byte(fmt.Sprintf("minority1-%d", i))); err != nil {
			t.Fatalf("propose at cut-off leader %d: %v", l1, err)
		}
		nw.process(l1)
	}
	nw.deliver()
	// The majority elects its own leader and commits 50 others.
	nw.tickUntil(100, "a leader of the majority", func() bool { return slices.Contains(rest, nw.leader()) })
	l2 := nw.leader()
	for i := range 50 {
		nw.mustCommit(l2, fmt.Sprintf("majority1-%d", i), 3)
	}
	// That leader and one follower are cut off and append 50 more.
	other := nw.othersThan(l2, l1, f1)[0]
	g := nw.othersThan(l2, other, l1, f1)[0]
	nw.heal()
	nw.partition([]uint64{l1, f1}, []uint64{other}, []uint64{l2, g})
	for i := range 50 {
		if err := nw.node(l2).Propose([]byte(fmt.Sprintf("minority2-%d", i))); err != nil {
			t.Fatalf("propose at cut-off leader %d: %v", l2, err)
		}
		nw.process(l2)
	}
	nw.deliver()

	// The first minority, now with `other`, can only elect `other`: it
	// alone has the majority's entries. It brings l1 and f1 in line.
	nw.heal()
	nw.partition([]uint64{l2, g}, []uint64{other, l1, f1})
	rejects, apps := nw.tickCountingUntil(100, "l1 and f1 converging on other's log", func() bool {
		return nw.leader() == other && nw.logsEqual(other, l1, f1)
	})
	if rejects > 4 || apps > 20 {
		t.Fatalf("bringing 2 followers with 51 divergent entries in line took %d rejections and %d MsgApps, want at most 4 and 20",
			rejects, apps)
	}
	for i := range 50 {
		nw.mustCommit(other, fmt.Sprintf("majority2-%d", i), 3)
	}

	// Everyone but `other`, which crashes: l1 or f1 leads next, and knows
	// nothing of l2's and g's logs, so it probes them at its last index,
	// 51 entries past where they diverge (l2's term's entries there
	// against the majority's).
	nw.crash(other)
	nw.heal()
	rejects, apps = nw.tickCountingUntil(100, "l2 and g converging on the new leader's log", func() bool {
		l := nw.leader()
		return (l == l1 || l == f1) && nw.logsEqual(l1, f1, l2, g)
	})
	if rejects > 4 || apps > 20 {
		t.Fatalf("bringing 2 followers with 50 divergent entries in line took %d rejections and %d MsgApps, want at most 4 and 20",
			rejects, apps)
	}
	nw.restart(other)
	nw.tickN(3)
	nw.mustCommit(nw.leader(), "end", 5)
	if !nw.logsEqual(nw.ids...) {
		t.Fatalf("logs differ at the end\n%v", nw)
	}
	for _, data := range []string{"minority1-0", "minority2-0"} {
		if n := nw.committedOn(data); n != 0 {
			t.Fatalf("%s, never committed, is applied on %d nodes", data, n)
		}
	}
	nw.checkInvariants()
}

// TestMessageCounts follows 6.824's TestCount: the protocol's chatter is
// bounded. An election costs a couple of rounds of messages, a committed
// proposal a constant number of messages per follower, and an idle cluster
// one heartbeat and its answer per follower per heartbeat interval.
func TestMessageCounts(t *testing.T) {
	for _, hb := range []int{1, 3} {
		t.Run(fmt.Sprintf("heartbeat=%d", hb), func(t *testing.T) {
			const n = 3
			nw := newNetwork(t, 10, n, func(c *Config) { c.HeartbeatTick = hb })

			l := nw.settle()
			// Pre-vote and vote requests and answers, and the new leader's
			// first append and its answers: 8 messages per follower at most
			// for one election, so 30 allows for a split vote.
			if got := nw.totalSent(); got > 30 {
				t.Fatalf("electing a leader of %d nodes took %d messages, want at most 30: %v", n, got, nw.sent)
			}
			term := nw.node(l).Status().Term

			const proposals = 100
			before := nw.sentSnapshot()
			for i := range proposals {
				nw.mustCommit(l, fmt.Sprintf("p%d", i), n)
			}
			d := nw.sentSince(before)
			// Each proposal: an append and its answer, then an (empty)
			// append carrying the new commit index and its answer.
			if got, limit := d[MsgApp], 2*proposals*(n-1); got > limit {
				t.Fatalf("%d proposals took %d MsgApps, want at most %d", proposals, got, limit)
			}
			if got, limit := sum(d), 4*proposals*(n-1); got > limit {
				t.Fatalf("%d proposals took %d messages, want at most %d: %v", proposals, got, limit, d)
			}

			const idle = 120
			before = nw.sentSnapshot()
			nw.tickN(idle)
			d = nw.sentSince(before)
			beats := idle / hb * (n - 1)
			if d[MsgHeartbeat] != beats || d[MsgHeartbeatResp] != beats || sum(d) != 2*beats {
				t.Fatalf("%d idle ticks with HeartbeatTick %d sent %v, want exactly %d heartbeats and %d answers",
					idle, hb, d, beats, beats)
			}
			if got := nw.node(l).Status().Term; nw.leader() != l || got != term {
				t.Fatalf("leadership moved on a quiet network: leader %d term %d, want %d term %d", nw.leader(), got, l, term)
			}
		})
	}
}

// TestPersistence crashes the leader, followers, or everyone, and restarts
// them from their storage: no committed entry is lost, and the cluster
// goes on committing.
func TestPersistence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(nw *network, l uint64) []uint64 // returns the crashed
	}{
		{"all", func(nw *network, _ uint64) []uint64 { return nw.ids }},
		{"leader", func(nw *network, l uint64) []uint64 { return []uint64{l} }},
		{"followers", func(nw *network, l uint64) []uint64 { return nw.othersThan(l)[:2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNetwork(t, 11, 5, nil)
			var want []string
			l := nw.settle()
			for round := range 4 {
				data := fmt.Sprintf("r%d", round)
				nw.mustCommit(l, data, 5)
				want = append(want, data)

				crashed := slices.Clone(tc.crash(nw, l))
				for _, id := range crashed {
					nw.crash(id)
				}
				// Live nodes commit on while the others are down.
				if len(crashed) < 3 {
					l = nw.settle()
					data := fmt.Sprintf("r%d-degraded", round)
					nw.mustCommit(l, data, 5-len(crashed))
					want = append(want, data)
				}
				for _, id := range crashed {
					nw.restart(id)
					// A restarted node applies its committed entries from
					// storage before it hears from anyone.
					if got := nw.nodes[id].appliedStrings(); len(got) == 0 {
						t.Fatalf("round %d: node %d applied nothing on restart", round, id)
					}
				}
				l = nw.settle()
				nw.tickN(3)
			}
			for _, id := range nw.ids {
				if got := nw.nodes[id].appliedStrings(); !slices.Equal(got, want) {
					t.Fatalf("node %d applied %q, want %q", id, got, want)
				}
			}
			nw.checkInvariants()
		})
	}
}

// TestVoteSurvivesRestart: a node that voted in a term and restarts does
// not vote for another candidate in that term (Raft paper 5.2: at most one
// vote per term, which is why the vote is persisted).
func TestVoteSurvivesRestart(t *testing.T) {
	nw := newNetwork(t, 12, 3, nil)
	vote := func(from uint64, term uint64) Message {
		nw.queue = nil
		if err := nw.node(1).Step(Message{Type: MsgVote, From: from, To: 1, Term: term}); err != nil {
			t.Fatalf("step vote from %d: %v", from, err)
		}
		nw.process(1)
		for _, m := range nw.queue {
			if m.Type == MsgVoteResp && m.To == from {
				nw.queue = nil
				return m
			}
		}
		t.Fatalf("no vote response to %d among %v", from, nw.queue)
		return Message{}
	}

	if r := vote(2, 1); r.Reject {
		t.Fatalf("fresh node 1 refused its vote to 2 in term 1: %+v", r)
	}
	if hs := nw.nodes[1].storage.HardState(); hs.Term != 1 || hs.Vote != 2 {
		t.Fatalf("persisted hard state %+v, want term 1 vote 2", hs)
	}
	nw.crash(1)
	nw.restart(1)
	if st := nw.node(1).Status(); st.Term != 1 || st.Vote != 2 {
		t.Fatalf("restarted node 1: term %d vote %d, want term 1 vote 2", st.Term, st.Vote)
	}
	if r := vote(3, 1); !r.Reject {
		t.Fatalf("restarted node 1 voted for 3 in term 1 after voting for 2: %+v", r)
	}
	// The same candidate asking again (its answer was lost) gets the vote.
	if r := vote(2, 1); r.Reject {
		t.Fatalf("node 1 refused to repeat its vote for 2 in term 1: %+v", r)
	}
	// A later term is a new election.
	if r := vote(3, 2); r.Reject {
		t.Fatalf("node 1 refused 3 in term 2: %+v", r)
	}
}

// Helpers for the scenario tests.

// seededT prefixes failures with the seed that reproduces them, including
// those the network reports.
type seededT struct {
	testing.TB
	seed uint64
}

func (s seededT) Fatalf(format string, args ...any) {
	s.TB.Helper()
	s.TB.Fatalf("seed %d: "+format, append([]any{s.seed}, args...)...)
}

func (nw *network) tickN(n int) {
	for range n {
		nw.tickAll()
	}
}

// tickUntil ticks every node until cond holds, failing after limit ticks.
func (nw *network) tickUntil(limit int, what string, cond func() bool) {
	nw.t.Helper()
	for range limit {
		if cond() {
			return
		}
		nw.tickAll()
	}
	if !cond() {
		nw.t.Fatalf("%s: not reached after %d ticks\n%v", what, limit, nw)
	}
}

// deliverEach delivers until quiet, in FIFO order, showing each message to
// visit (which may rewrite it) just before it is delivered.
func (nw *network) deliverEach(visit func(m *Message)) {
	if nw.reorder || nw.delay > 0 {
		nw.t.Fatalf("deliverEach needs FIFO delivery")
	}
	for i := 0; i < 100000 && len(nw.queue) > 0; i++ {
		visit(&nw.queue[0])
		nw.deliverOne()
	}
}

// tickCountingUntil is tickUntil that also counts the rejected MsgAppResps
// and the MsgApps delivered on the way.
func (nw *network) tickCountingUntil(limit int, what string, cond func() bool) (rejects, apps int) {
	nw.t.Helper()
	count := func(m *Message) {
		switch {
		case m.Type == MsgApp:
			apps++
		case m.Type == MsgAppResp && m.Reject:
			rejects++
		}
	}
	for range limit {
		if cond() {
			return rejects, apps
		}
		for _, id := range nw.ids {
			nw.tick(id)
		}
		nw.deliverEach(count)
	}
	if !cond() {
		nw.t.Fatalf("%s: not reached after %d ticks\n%v", what, limit, nw)
	}
	return rejects, apps
}

// mustCommit proposes data at leader l and fails unless it is applied on
// want live nodes once the network is quiet.
func (nw *network) mustCommit(l uint64, data string, want int) {
	nw.t.Helper()
	if err := nw.propose(l, data); err != nil {
		nw.t.Fatalf("propose %q at %d: %v\n%v", data, l, err, nw)
	}
	if got := nw.committedOn(data); got != want {
		nw.t.Fatalf("%q applied on %d nodes, want %d\n%v", data, got, want, nw)
	}
}

// othersThan returns the node ids other than those given, in order.
func (nw *network) othersThan(ids ...uint64) []uint64 {
	var others []uint64
	for _, id := range nw.ids {
		if !slices.Contains(ids, id) {
			others = append(others, id)
		}
	}
	return others
}

// cutOff replaces every cut with one isolating each node in isolated,
// leaving loss, reordering and the rest as they are.
func (nw *network) cutOff(isolated map[uint64]bool) {
	nw.cut = make(map[[2]uint64]bool)
	for id := range isolated {
		nw.isolate(id)
	}
}

// claimedLeaders returns the live nodes that believe they lead, whether or not
// anyone follows them.
func (nw *network) claimedLeaders() []uint64 {
	var ls []uint64
	for _, id := range nw.ids {
		if n := nw.nodes[id]; !n.down && n.core.Status().Role == Leader {
			ls = append(ls, id)
		}
	}
	return ls
}

func (nw *network) maxTerm() uint64 {
	var term uint64
	for _, id := range nw.ids {
		if n := nw.nodes[id]; !n.down {
			term = max(term, n.core.Status().Term)
		}
	}
	return term
}

func (nw *network) hasApplied(id uint64, data string) bool {
	return slices.Contains(nw.nodes[id].appliedStrings(), data)
}

func (n *testNode) appliedStrings() []string {
	s := make([]string, len(n.appliedData))
	for i, d := range n.appliedData {
		s[i] = string(d)
	}
	return s
}

// logsEqual reports whether the live nodes ids hold identical logs.
func (nw *network) logsEqual(ids ...uint64) bool {
	first := nw.logOf(ids[0])
	for _, id := range ids[1:] {
		if !slices.EqualFunc(first, nw.logOf(id), sameEntry) {
			return false
		}
	}
	return true
}

func sameEntry(a, b Entry) bool {
	return a.Index == b.Index && a.Term == b.Term && string(a.Data) == string(b.Data)
}

func (nw *network) totalSent() int { return sum(nw.sent) }

func (nw *network) sentSnapshot() map[MessageType]int { return maps.Clone(nw.sent) }

// sentSince returns the messages sent since before, by type.
func (nw *network) sentSince(before map[MessageType]int) map[MessageType]int {
	d := make(map[MessageType]int)
	for typ, n := range nw.sent {
		if n > before[typ] {
			d[typ] = n - before[typ]
		}
	}
	return d
}

func sum(counts map[MessageType]int) int {
	total := 0
	for _, n := range counts {
		total += n
	}
	return total
}
