package raft

// Ready is a batch of work the core asks its driver to carry out, in this
// order:
//
//  1. Persist HardState, Entries and Snapshot (one fsync for all of them).
//  2. Send Messages. They may depend on step 1 (a vote, an append
//     acknowledgement), so never before it.
//  3. Apply Snapshot, then CommittedEntries, to the state machine.
//  4. Serve the ReadStates once the state machine has applied their index.
//  5. Call Advance.
type Ready struct {
	// SoftState is non-nil when the leader or role changed.
	SoftState *SoftState
	// HardState is the zero value when unchanged.
	HardState HardState
	// Entries to persist, replacing any persisted entries from Entries[0].Index on.
	Entries []Entry
	// Snapshot to persist and apply, received from the leader; nil if none.
	Snapshot *Snapshot
	// CommittedEntries to apply, in order.
	CommittedEntries []Entry
	Messages         []Message
	ReadStates       []ReadState
	// MustSync is false when only the commit index changed: that can be
	// written without fsync, since it is recovered from the leader anyway.
	MustSync bool
}

// HasReady reports whether Ready would return any work.
func (c *Core) HasReady() bool {
	hs := c.hardState()
	return c.softState() != c.prevSoft ||
		(!hs.IsEmpty() && hs != c.prevHard) ||
		c.log.unstable.snapshot != nil ||
		len(c.log.unstable.entries) > 0 ||
		c.log.hasNextCommittedEntries() ||
		len(c.msgs) > 0 ||
		len(c.readStates) > 0
}

// Ready returns the pending work. The driver must carry it out and call
// Advance before it calls Step, Tick or Ready again.
func (c *Core) Ready() Ready {
	rd := Ready{
		Entries:          c.log.unstable.entries,
		CommittedEntries: c.log.nextCommittedEntries(),
		Messages:         c.msgs,
		ReadStates:       c.readStates,
	}
	if ss := c.softState(); ss != c.prevSoft {
		rd.SoftState = &ss
	}
	if hs := c.hardState(); hs != c.prevHard {
		rd.HardState = hs
		rd.MustSync = hs.Term != c.prevHard.Term || hs.Vote != c.prevHard.Vote
	}
	if s := c.log.unstable.snapshot; s != nil {
		snap := *s
		rd.Snapshot = &snap
		rd.MustSync = true
	}
	if len(rd.Entries) > 0 {
		rd.MustSync = true
	}
	return rd
}

// Advance tells the core that rd has been carried out.
func (c *Core) Advance(rd Ready) {
	if rd.SoftState != nil {
		c.prevSoft = *rd.SoftState
	}
	if !rd.HardState.IsEmpty() {
		c.prevHard = rd.HardState
	}
	if s := rd.Snapshot; s != nil {
		c.log.unstable.stableSnapTo(s.Meta.Index)
		c.log.appliedTo(s.Meta.Index)
	}
	if n := len(rd.Entries); n > 0 {
		last := rd.Entries[n-1]
		c.log.unstable.stableTo(last.Index, last.Term)
	}
	if n := len(rd.CommittedEntries); n > 0 {
		c.log.appliedTo(rd.CommittedEntries[n-1].Index)
	}
	c.msgs = nil
	c.readStates = nil
}
