package raft

import (
	"bytes"
	"testing"
)

// queuedHeartbeatsWith counts heartbeats waiting in the network that carry
// ctx, the mark of a ReadIndex confirmation round.
func queuedHeartbeatsWith(nw *network, ctx []byte) int {
	n := 0
	for _, m := range nw.queue {
		if m.Type == MsgHeartbeat && bytes.Equal(m.Context, ctx) {
			n++
		}
	}
	return n
}

func readStatesFor(nw *network, id uint64, ctx []byte) []ReadState {
	var out []ReadState
	for _, rs := range nw.nodes[id].readStates {
		if bytes.Equal(rs.RequestCtx, ctx) {
			out = append(out, rs)
		}
	}
	return out
}

func TestReadIndexOnLeader(t *testing.T) {
	nw := newNetwork(t, 21, 3, nil)
	l := nw.settle()
	proposeN(t, nw, l, "x", 3)
	commit := nw.node(l).Status().Commit

	ctx := []byte("read-1")
	if err := nw.node(l).ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	nw.process(l)
	// Not answered until a quorum confirms the leader is still the leader.
	if got := readStatesFor(nw, l, ctx); len(got) != 0 {
		t.Fatalf("read answered before any heartbeat was acknowledged: %v", got)
	}
	if got := queuedHeartbeatsWith(nw, ctx); got != 2 {
		t.Fatalf("%d heartbeats carry the read's context, want 2 (one per follower)", got)
	}
	nw.deliver()
	got := readStatesFor(nw, l, ctx)
	if len(got) != 1 || got[0].Index != commit {
		t.Fatalf("read states %v, want one at commit index %d", got, commit)
	}
}

func TestReadIndexForwardedFromFollower(t *testing.T) {
	nw := newNetwork(t, 22, 3, nil)
	l := nw.settle()
	proposeN(t, nw, l, "x", 3)
	commit := nw.node(l).Status().Commit
	f := nw.othersThan(l)[0]

	ctx := []byte("follower-read")
	if err := nw.node(f).ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	nw.process(f)
	nw.deliver()
	got := readStatesFor(nw, f, ctx)
	if len(got) != 1 || got[0].Index != commit {
		t.Fatalf("follower's read states %v, want one at the leader's commit index %d", got, commit)
	}
	if len(nw.nodes[l].readStates) != 0 {
		t.Fatalf("leader produced read states %v for a follower's request", nw.nodes[l].readStates)
	}
	if nw.sent[MsgReadIndex] != 1 || nw.sent[MsgReadIndexResp] != 1 {
		t.Fatalf("sent %d MsgReadIndex and %d MsgReadIndexResp, want 1 each",
			nw.sent[MsgReadIndex], nw.sent[MsgReadIndexResp])
	}
}

func TestReadIndexDeposedLeaderDoesNotServe(t *testing.T) {
	nw := newNetwork(t, 23, 5, nil)
	old := nw.settle()
	proposeN(t, nw, old, "x", 3)
	oldTerm := nw.node(old).Status().Term

	nw.isolate(old)
	ctx := []byte("stale-read")
	if err := nw.node(old).ReadIndex(ctx); err != nil {
		t.Fatalf("isolated leader refused the read outright: %v", err)
	}
	nw.process(old)

	// The majority elects a new leader and commits a write the old leader
	// never sees.
	var lead uint64
	if !nw.runUntil(100, func() bool {
		lead = nw.leader()
		return lead != None && lead != old
	}) {
		t.Fatalf("majority elected no new leader\n%v", nw)
	}
	if err := nw.propose(lead, "write"); err != nil {
		t.Fatal(err)
	}
	if got := nw.committedOn("write"); got != 4 {
		t.Fatalf("write applied on %d nodes, want the 4 in the majority", got)
	}
	var writeIndex uint64
	for i, e := range nw.applied {
		if string(e.Data) == "write" {
			writeIndex = i
		}
	}
	for range 20 {
		nw.tickAll()
	}
	if got := readStatesFor(nw, old, ctx); len(got) != 0 {
		t.Fatalf("deposed leader served read %v during the partition", got)
	}
	// CheckQuorum has made it step down by now, dropping the read.
	if st := nw.node(old).Status(); st.Role == Leader || st.Term != oldTerm {
		t.Fatalf("isolated leader: %+v, want a follower still in term %d", st, oldTerm)
	}

	nw.heal()
	for range 50 {
		nw.tickAll()
	}
	for _, rs := range readStatesFor(nw, old, ctx) {
		if rs.Index < writeIndex {
			t.Fatalf("deposed leader answered the read at %d, missing the write at %d", rs.Index, writeIndex)
		}
	}
	if got := readStatesFor(nw, old, ctx); len(got) != 0 {
		t.Fatalf("read states %v for a request the deposed leader dropped", got)
	}
	if got := nw.committedOn("write"); got != 5 {
		t.Fatalf("write applied on %d nodes after healing, want 5", got)
	}
}

func TestReadIndexWaitsForNewLeaderCommit(t *testing.T) {
	nw := newNetwork(t, 24, 3, nil)
	old := nw.settle()
	proposeN(t, nw, old, "x", 3)
	next := nw.othersThan(old)[0]

	// Hand leadership over, but keep the new leader's first entry from
	// being replicated: it knows the old commit index only as a follower.
	nw.ignore[MsgApp] = true
	nw.node(old).TransferLeadership(next)
	nw.process(old)
	nw.deliver()
	st := nw.node(next).Status()
	if st.Role != Leader {
		t.Fatalf("transferee %d is %v, want leader\n%v", next, st.Role, nw)
	}

	ctx := []byte("early-read")
	if err := nw.node(next).ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	nw.process(next)
	if got := queuedHeartbeatsWith(nw, ctx); got != 0 {
		t.Fatalf("new leader started a read round (%d heartbeats) before committing an entry of its term", got)
	}
	nw.deliver()
	if got := readStatesFor(nw, next, ctx); len(got) != 0 {
		t.Fatalf("new leader answered %v before committing an entry of its term", got)
	}

	delete(nw.ignore, MsgApp)
	nw.tickAll()
	st = nw.node(next).Status()
	if term, _ := nw.node(next).log.term(st.Commit); term != st.Term {
		t.Fatalf("new leader's commit %d is of term %d, want its own term %d", st.Commit, term, st.Term)
	}
	got := readStatesFor(nw, next, ctx)
	if len(got) != 1 || got[0].Index != st.Commit {
		t.Fatalf("pending read answered with %v, want one at %d (the new term's first commit)", got, st.Commit)
	}
}

func TestReadIndexLeaseBased(t *testing.T) {
	nw := newNetwork(t, 25, 3, func(c *Config) { c.ReadOnly = ReadOnlyLeaseBased })
	l := nw.settle()
	proposeN(t, nw, l, "x", 3)
	// A few heartbeat rounds establish the lease.
	for range 3 {
		nw.tickAll()
	}
	commit := nw.node(l).Status().Commit

	// Served at once, with no heartbeat round, even with the leader just
	// cut off: the lease is still good.
	nw.isolate(l)
	nw.tick(l)
	ctx := []byte("lease-read")
	if err := nw.node(l).ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	beats := nw.sent[MsgHeartbeat]
	nw.process(l)
	got := readStatesFor(nw, l, ctx)
	if len(got) != 1 || got[0].Index != commit {
		t.Fatalf("lease read states %v, want one at %d without a heartbeat round", got, commit)
	}
	if index, ok := nw.node(l).LeaseRead(); !ok || index != commit {
		t.Fatalf("leader LeaseRead = %d, %v; want %d, true", index, ok, commit)
	}
	for _, id := range nw.ids {
		if index, ok := nw.node(id).LeaseRead(); id != l && ok {
			t.Fatalf("follower %d LeaseRead = %d, true; only a leader holds a lease", id, index)
		}
	}
	if nw.sent[MsgHeartbeat] != beats {
		t.Fatalf("lease read sent %d heartbeats", nw.sent[MsgHeartbeat]-beats)
	}

	// Once a quorum has been silent for (nearly) an election timeout the
	// lease is gone: the leader, still believing it leads, must fall back
	// to a heartbeat round, which nobody answers.
	for range 8 {
		nw.tick(l)
	}
	if st := nw.node(l).Status(); st.Role != Leader {
		t.Fatalf("leader stepped down too early to test lease expiry: %+v", st)
	}
	ctx2 := []byte("expired-lease-read")
	if err := nw.node(l).ReadIndex(ctx2); err != nil {
		t.Fatal(err)
	}
	beats = nw.sent[MsgHeartbeat]
	nw.process(l)
	if got := readStatesFor(nw, l, ctx2); len(got) != 0 {
		t.Fatalf("read served by an expired lease: %v", got)
	}
	if index, ok := nw.node(l).LeaseRead(); ok {
		t.Fatalf("LeaseRead = %d under an expired lease", index)
	}
	if got := nw.sent[MsgHeartbeat] - beats; got != 2 {
		t.Fatalf("expired lease sent %d confirming heartbeats, want 2", got)
	}
	for range 20 {
		nw.tick(l)
	}
	if st := nw.node(l).Status(); st.Role == Leader {
		t.Fatalf("isolated leader still leads after two election timeouts: %+v", st)
	}
	if got := readStatesFor(nw, l, ctx2); len(got) != 0 {
		t.Fatalf("read served without a quorum: %v", got)
	}
}
