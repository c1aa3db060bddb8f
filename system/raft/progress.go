package raft

import "slices"

// progressState is how a leader replicates to one follower.
type progressState uint8

const (
	// stateProbe: the follower's match point is unknown; send one MsgApp
	// per heartbeat interval until it answers.
	stateProbe progressState = iota
	// stateReplicate: the follower is in sync; stream entries, bounded by
	// the inflight window.
	stateReplicate
	// stateSnapshot: a snapshot is on its way; send nothing else.
	stateSnapshot
)

func (s progressState) String() string {
	return [...]string{"probe", "replicate", "snapshot"}[s]
}

// progress is the leader's view of one follower.
type progress struct {
	match, next uint64
	state       progressState
	// probeSent pauses a probing follower until it answers or the next
	// heartbeat.
	probeSent bool
	// pendingSnapshot is the index of the snapshot in flight.
	pendingSnapshot uint64
	// recentActive: heard from since the last CheckQuorum round.
	recentActive bool
	// ackedTick is the leader's tick at which it sent the newest heartbeat
	// this follower acknowledged; the base of lease reads.
	ackedTick uint64
	inflights inflights
}

func (pr *progress) becomeProbe() {
	if pr.state == stateSnapshot {
		pending := pr.pendingSnapshot
		pr.reset(stateProbe)
		pr.next = max(pr.match+1, pending+1)
		return
	}
	pr.reset(stateProbe)
	pr.next = pr.match + 1
}

func (pr *progress) becomeReplicate() {
	pr.reset(stateReplicate)
	pr.next = pr.match + 1
}

func (pr *progress) becomeSnapshot(index uint64) {
	pr.reset(stateSnapshot)
	pr.pendingSnapshot = index
}

func (pr *progress) reset(s progressState) {
	pr.state = s
	pr.probeSent = false
	pr.pendingSnapshot = 0
	pr.inflights.reset()
}

// maybeUpdate records that the follower holds entries up to n.
func (pr *progress) maybeUpdate(n uint64) bool {
	updated := false
	if pr.match < n {
		pr.match = n
		updated = true
		pr.probeSent = false
	}
	pr.next = max(pr.next, n+1)
	return updated
}

// maybeDecrTo handles a rejection of the MsgApp sent after index rejected;
// hint is where to probe next. It returns false for a stale rejection.
func (pr *progress) maybeDecrTo(rejected, hint uint64) bool {
	if pr.state == stateReplicate {
		if rejected <= pr.match {
			return false // stale: we know it matches beyond that
		}
		pr.next = pr.match + 1
		return true
	}
	if pr.next-1 != rejected {
		return false // not the probe we are waiting for
	}
	pr.next = max(min(rejected, hint+1), pr.match+1)
	pr.probeSent = false
	return true
}

func (pr *progress) isPaused() bool {
	switch pr.state {
	case stateProbe:
		return pr.probeSent
	case stateReplicate:
		return pr.inflights.full()
	default:
		return true
	}
}

// inflights bounds the MsgApps in flight to one follower: a ring of the last
// index each carried.
type inflights struct {
	start, count int
	buf          []uint64
	size         int
}

func newInflights(size int) inflights { return inflights{size: size} }

func (in *inflights) add(last uint64) {
	if in.full() {
		panic("raft: add to full inflights")
	}
	if in.buf == nil {
		in.buf = make([]uint64, in.size)
	}
	in.buf[(in.start+in.count)%in.size] = last
	in.count++
}

// freeLE frees the messages whose last index is <= to.
func (in *inflights) freeLE(to uint64) {
	for in.count > 0 && in.buf[in.start] <= to {
		in.start = (in.start + 1) % in.size
		in.count--
	}
}

// freeFirstOne frees the oldest message's slot.
func (in *inflights) freeFirstOne() {
	if in.count > 0 {
		in.start = (in.start + 1) % in.size
		in.count--
	}
}

func (in *inflights) full() bool { return in.count == in.size }
func (in *inflights) reset()     { in.start, in.count = 0, 0 }

// quorum returns the size of a majority of n voters.
func quorum(n int) int { return n/2 + 1 }

// committedIndex is the largest index that a majority of matches reach.
// It sorts matches in place; callers pass a slice built for the call.
func committedIndex(matches []uint64) uint64 {
	slices.Sort(matches)
	return matches[len(matches)-quorum(len(matches))]
}
