package raft

import (
	"errors"
	"testing"
)

// rejoinAfterPartition isolates a follower for five election timeouts,
// heals, runs a while, and reports the follower's term while cut off and
// the cluster's leader and term afterwards.
func rejoinAfterPartition(t *testing.T, cfg func(*Config)) (lead, term, cutTerm, leadAfter, termAfter uint64) {
	t.Helper()
	nw := newNetwork(t, 31, 3, cfg)
	lead = nw.settle()
	term = nw.node(lead).Status().Term
	f := nw.othersThan(lead)[0]

	nw.isolate(f)
	for range 50 {
		nw.tickAll()
	}
	cutTerm = nw.node(f).Status().Term
	if got := nw.leader(); got != lead {
		t.Fatalf("leader changed while a follower was cut off: %d -> %d\n%v", lead, got, nw)
	}

	nw.heal()
	for range 50 {
		nw.tickAll()
	}
	leadAfter = nw.settle()
	return lead, term, cutTerm, leadAfter, nw.node(leadAfter).Status().Term
}

func TestPreVotePartitionedNodeDoesNotDisruptOnRejoin(t *testing.T) {
	lead, term, cutTerm, leadAfter, termAfter := rejoinAfterPartition(t, nil)
	if cutTerm != term {
		t.Fatalf("partitioned node's term rose from %d to %d despite PreVote", term, cutTerm)
	}
	if leadAfter != lead || termAfter != term {
		t.Fatalf("rejoin changed leadership: leader %d term %d -> leader %d term %d", lead, term, leadAfter, termAfter)
	}
}

func TestWithoutPreVotePartitionedNodeDisruptsOnRejoin(t *testing.T) {
	_, term, cutTerm, _, termAfter := rejoinAfterPartition(t, func(c *Config) { c.DisablePreVote = true })
	// Five election timeouts cut off: at least two elections of its own
	// (randomized timeouts are under two election timeouts).
	if cutTerm < term+2 {
		t.Fatalf("partitioned node's term %d, want it inflated past %d without PreVote", cutTerm, term+2)
	}
	// Its higher term deposes the leader when it rejoins: the cluster
	// must move past it.
	if termAfter <= cutTerm {
		t.Fatalf("cluster's term %d after rejoin, want above the partitioned node's %d", termAfter, cutTerm)
	}
}

func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	nw := newNetwork(t, 32, 5, nil)
	l := nw.settle()
	term := nw.node(l).Status().Term
	nw.partition([]uint64{l, nw.othersThan(l)[0]}, nw.othersThan(l)[1:])

	steppedDown := 0
	for i := 1; i <= 2*10; i++ {
		nw.tick(l)
		if nw.node(l).Status().Role != Leader {
			steppedDown = i
			break
		}
	}
	if steppedDown == 0 {
		t.Fatalf("leader in the minority still leads after two election timeouts: %+v", nw.node(l).Status())
	}
	if st := nw.node(l).Status(); st.Term != term || st.Lead != None {
		t.Fatalf("after stepping down: %+v, want follower of no one in term %d", st, term)
	}
}

func TestWithoutCheckQuorumLeaderKeepsLeadingInMinority(t *testing.T) {
	nw := newNetwork(t, 32, 5, func(c *Config) { c.DisableCheckQuorum = true })
	l := nw.settle()
	nw.partition([]uint64{l, nw.othersThan(l)[0]}, nw.othersThan(l)[1:])
	for range 5 * 10 {
		nw.tick(l)
	}
	if st := nw.node(l).Status(); st.Role != Leader {
		t.Fatalf("leader without CheckQuorum stepped down: %+v", st)
	}
}

func TestFollowerIgnoresVoteWhileHearingLeader(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cfg         func(*Config)
		wantGranted bool
	}{
		{"CheckQuorum", nil, false},
		{"DisableCheckQuorum", func(c *Config) { c.DisableCheckQuorum = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNetwork(t, 33, 3, tc.cfg)
			l := nw.settle()
			fs := nw.othersThan(l)
			voter, candidate := fs[0], fs[1]
			nw.tickAll() // voter just heard a heartbeat
			before := nw.node(voter).Status()

			// A candidate with a higher term and a longer log asks for a vote.
			nw.cut[[2]uint64{voter, candidate}] = true // look at the voter's answer only
			nw.send(Message{Type: MsgVote, From: candidate, To: voter, Term: before.Term + 1,
				Index: before.LastIndex + 10, LogTerm: before.Term + 1})
			after := nw.node(voter).Status()
			granted := after.Vote == candidate
			if granted != tc.wantGranted {
				t.Fatalf("vote granted %v, want %v (voter before %+v, after %+v)", granted, tc.wantGranted, before, after)
			}
			if !tc.wantGranted && (after.Term != before.Term || after.Lead != l) {
				t.Fatalf("ignored vote still moved the voter: before %+v, after %+v", before, after)
			}
		})
	}
}

func TestTransferLeadershipToUpToDateFollower(t *testing.T) {
	nw := newNetwork(t, 34, 3, nil)
	l := nw.settle()
	proposeN(t, nw, l, "x", 3)
	term := nw.node(l).Status().Term
	to := nw.othersThan(l)[0]

	nw.node(l).TransferLeadership(to)
	nw.process(l)
	nw.deliver() // no ticks: the handover must not wait for a timeout
	if got := nw.leader(); got != to {
		t.Fatalf("leader %d after transfer to %d\n%v", got, to, nw)
	}
	if st := nw.node(to).Status(); st.Term != term+1 {
		t.Fatalf("transferee leads term %d, want %d", st.Term, term+1)
	}
	if nw.sent[MsgTimeoutNow] != 1 {
		t.Fatalf("sent %d MsgTimeoutNow, want 1", nw.sent[MsgTimeoutNow])
	}
	if err := nw.propose(to, "after"); err != nil || nw.committedOn("after") != 3 {
		t.Fatalf("proposal to the new leader: err %v, applied on %d nodes", err, nw.committedOn("after"))
	}
}

// TestTransferLeadershipAskedOfAFollower: a follower forwards the request
// to its leader in its own term; the leader hands over, and ignores the
// same request from a term it has left.
func TestTransferLeadershipAskedOfAFollower(t *testing.T) {
	nw := newNetwork(t, 38, 3, nil)
	l := nw.settle()
	term := nw.node(l).Status().Term
	to := nw.othersThan(l)[0]

	nw.node(to).TransferLeadership(to)
	nw.process(to)
	var forwarded []Message
	for _, m := range nw.queue {
		if m.Type == MsgTransferLeader {
			forwarded = append(forwarded, m)
		}
	}
	if len(forwarded) != 1 || forwarded[0].To != l || forwarded[0].From != to || forwarded[0].Term != term {
		t.Fatalf("follower forwarded %+v; want one MsgTransferLeader from %d to leader %d in term %d", forwarded, to, l, term)
	}
	nw.deliver()
	if got := nw.leader(); got != to {
		t.Fatalf("leader %d after a transfer to %d asked of it\n%v", got, to, nw)
	}

	// A request forwarded in term, to hand leadership back to the old
	// leader, reaches the new leader late: it is stale, and ignored.
	stale := Message{Type: MsgTransferLeader, From: l, To: to, Term: term}
	timeoutsBefore := nw.sent[MsgTimeoutNow]
	if err := nw.node(to).Step(stale); err != nil {
		t.Fatalf("step stale request: %v", err)
	}
	nw.process(to)
	nw.deliver()
	if nw.sent[MsgTimeoutNow] != timeoutsBefore || nw.leader() != to {
		t.Fatalf("a request from term %d moved leadership in term %d\n%v", term, term+1, nw)
	}
}

func TestTransferLeadershipToLaggingFollowerCatchesItUp(t *testing.T) {
	nw := newNetwork(t, 35, 3, nil)
	l := nw.settle()
	to := nw.othersThan(l)[0]
	nw.isolate(to)
	proposeN(t, nw, l, "x", 5)
	nw.heal()
	last := nw.node(l).Status().LastIndex
	if got := nw.node(to).Status().LastIndex; got >= last {
		t.Fatalf("transferee not lagging: last index %d, leader %d", got, last)
	}

	nw.node(l).TransferLeadership(to)
	nw.process(l)
	for _, m := range nw.queue {
		if m.Type == MsgTimeoutNow {
			t.Fatal("leader sent MsgTimeoutNow to a transferee lacking entries")
		}
	}
	nw.deliver()
	if got := nw.leader(); got != to {
		t.Fatalf("leader %d after transfer to lagging %d\n%v", got, to, nw)
	}
	if got := nw.committedOn("x4"); got != 3 {
		t.Fatalf("x4 applied on %d nodes, want 3", got)
	}
	nw.checkInvariants()
}

func TestTransferLeadershipDropsProposals(t *testing.T) {
	nw := newNetwork(t, 36, 3, nil)
	l := nw.settle()
	to := nw.othersThan(l)[0]
	nw.ignore[MsgTimeoutNow] = true // keep the transfer pending

	nw.node(l).TransferLeadership(to)
	nw.process(l)
	nw.deliver()
	if err := nw.propose(l, "during"); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during a transfer: err %v, want ErrProposalDropped", err)
	}
	if got := nw.committedOn("during"); got != 0 {
		t.Fatalf("dropped proposal applied on %d nodes", got)
	}
}

func TestTransferLeadershipToUnreachableNodeIsAbandoned(t *testing.T) {
	nw := newNetwork(t, 37, 3, nil)
	l := nw.settle()
	term := nw.node(l).Status().Term
	to := nw.othersThan(l)[0]
	nw.isolate(to)
	proposeN(t, nw, l, "x", 2) // so the transferee lacks entries

	nw.node(l).TransferLeadership(to)
	nw.process(l)
	if err := nw.propose(l, "during"); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal during the transfer: err %v, want ErrProposalDropped", err)
	}
	for range 10 {
		nw.tick(l)
		nw.tick(nw.othersThan(l)[1])
		nw.deliver()
	}
	if st := nw.node(l).Status(); st.Role != Leader || st.Term != term {
		t.Fatalf("after abandoning the transfer: %+v, want leader of term %d", st, term)
	}
	if err := nw.propose(l, "after"); err != nil {
		t.Fatalf("proposal after the transfer timed out: %v", err)
	}
	if got := nw.committedOn("after"); got != 2 {
		t.Fatalf("'after' applied on %d nodes, want the 2 reachable ones", got)
	}
}
