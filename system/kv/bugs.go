package kv

import (
	"slices"
	"time"

	"github.com/squall-chaos/squall/system/internal/member"
)

// Bugs are the bugs a KV node can be started with (`squall node --bug
// NAME`), for showing that the harness catches them. Each hides until one
// family of faults reveals it, and none is planted by default (the zero
// value). Every node of a cluster should be given the same ones.
type Bugs struct {
	// StaleReads (stale-reads): every node answers reads from its local
	// state, skipping ReadIndex, so deposed leaders and lagging followers
	// serve stale values. Revealed by partitions.
	StaleReads bool
	// LeaseReads (lease-reads): the node runs in read mode lease (see
	// ReadLease), whatever Config.ReadMode asks, which must then be empty
	// or lease: the leader answers reads from its state while its lease,
	// timed in ticks of its own clock, holds. A leader that was paused, or
	// whose clock runs slow, still believes its lease good after the
	// others have elected a new leader. Revealed by pauses and clock
	// faults.
	LeaseReads bool
	// DuplicateRetries (duplicate-retries): the server takes the session
	// off every write before proposing it, so the state machine's
	// exactly-once table never sees it and a client's retry of a write
	// that took effect is applied again. A retried compare-and-set then
	// fails against its own effect, and the client reports a definite
	// failure of a write that took effect. Revealed by failpoints:
	// kv/after-commit armed with an error (with a chance or a count below
	// every time, such as 50%error(x), so that the retry is answered)
	// makes the client retry a write that took effect.
	DuplicateRetries bool
	// TimeoutIsFailure (timeout-is-failure): a write whose proposal is not
	// applied within TimeoutIsFailureAfter of the node's clock is answered
	// as a definite failure (ErrTimedOut), although the entry may still
	// commit. Revealed by packet loss and partitions, under which proposals
	// take that long and then commit.
	TimeoutIsFailure bool
	// SkipFsync (skip-fsync): the WAL acknowledges a Save without fsync
	// and syncs in the background every 30 s (see
	// wal.Options.SkipFsync). A killed process loses nothing (the page
	// cache holds the writes); a power cut loses acknowledged writes.
	// Revealed by the power family: a kill of nodes run with
	// Config.LoseUnsynced.
	SkipFsync bool
}

// TimeoutIsFailureAfter is how long, on the node's clock, a node with the
// timeout-is-failure bug waits for a write's proposal before it answers
// that the write failed. It is well above the time a write takes without
// faults even on a loaded machine (two race-enabled test suites on 2
// cores put a write's p99 near 300ms, and a 250ms threshold then failed
// writes with no fault at all), and well below the seconds a write waits
// out under packet loss. A client must wait longer than this for the
// answer to reach it: the harness's kv client's write attempts do
// (sut/kv).
const TimeoutIsFailureAfter = time.Second

// PlantedBug describes a bug by the name `squall node --bug` takes.
type PlantedBug = member.PlantedBug

var plantedBugs = []PlantedBug{
	{Name: "stale-reads", Description: "any node answers reads from local state (revealed by partitions)"},
	{Name: "lease-reads", Description: "the leader serves reads under a lease timed by its own clock: read mode lease (revealed by pauses and clock faults)"},
	{Name: "duplicate-retries", Description: "retried writes are applied again: no exactly-once sessions (revealed by kv/after-commit failpoint errors)"},
	{Name: "timeout-is-failure", Description: "a write not applied within 1s is answered as a definite failure, though it may commit (revealed by packet loss and partitions)"},
	{Name: "skip-fsync", Description: "the WAL acknowledges writes before fsync, syncing every 30 s as a kernel writes back dirty pages (revealed by power loss: kill with --lose-unsynced)"},
}

// PlantedBugs lists the bugs of the KV store.
func PlantedBugs() []PlantedBug { return slices.Clone(plantedBugs) }

// Plant plants the bug of that name. The error lists the KV store's bugs.
func (b *Bugs) Plant(name string) error {
	switch name {
	case "stale-reads":
		b.StaleReads = true
	case "lease-reads":
		b.LeaseReads = true
	case "duplicate-retries":
		b.DuplicateRetries = true
	case "timeout-is-failure":
		b.TimeoutIsFailure = true
	case "skip-fsync":
		b.SkipFsync = true
	default:
		return member.UnknownBug("kv", name, plantedBugs)
	}
	return nil
}
