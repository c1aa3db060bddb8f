package percolator

import "github.com/squall-chaos/squall/system/internal/member"

// Bugs are the bugs a Percolator node can be started with (`squall node
// --bug NAME`), for showing that the harness catches them. None is planted
// by default (the zero value). Every node of a cluster should be given the
// same ones.
type Bugs struct {
	// SkipWriteConflictCheck (skip-write-conflict): prewrite does not
	// refuse a key that another transaction committed after this one
	// started (lost updates). It still refuses a key this transaction
	// rolled back. Revealed without faults, by contention.
	SkipWriteConflictCheck bool
	// GetIgnoresLocks (get-ignores-locks): Get reads past locks instead of
	// reporting them, so a reader misses a transaction that is committing
	// (broken snapshots). Revealed without faults, by contention.
	GetIgnoresLocks bool
	// SkipFsync (skip-fsync): every group's WAL acknowledges a Save
	// without fsync and syncs in the background every 30 s (see
	// wal.Options.SkipFsync). Revealed by the power family: a kill of
	// nodes run with Config.LoseUnsynced.
	SkipFsync bool
	// OracleTrustsClock (oracle-trusts-clock): the timestamp oracle
	// trusts its clock never to go back. When the clock reads less than at
	// the oracle's last allocation, the oracle hands out timestamps from
	// the reading as it is, instead of the maximum of the reading and the
	// last timestamp it handed out; and a new leader does not start above
	// the persisted high-water mark. Revealed by the clock family: a
	// backward jump of the oracle leader's clock (or a new leader whose
	// clock is behind) makes timestamps go back.
	OracleTrustsClock bool
}

var plantedBugs = []member.PlantedBug{
	{Name: "skip-write-conflict", Description: "prewrite ignores newer commits: lost updates (revealed by contention, no fault needed)"},
	{Name: "get-ignores-locks", Description: "reads skip locks of committing transactions: broken snapshots (revealed by contention, no fault needed)"},
	{Name: "skip-fsync", Description: "the WALs acknowledge writes before fsync, syncing every 30 s as a kernel writes back dirty pages (revealed by power loss: kill with --lose-unsynced)"},
	{Name: "oracle-trusts-clock", Description: "the timestamp oracle trusts its clock never to go back (revealed by clock faults on the oracle's leader)"},
}

// PlantedBugs lists the bugs of Percolator.
func PlantedBugs() []PlantedBug { return append([]PlantedBug(nil), plantedBugs...) }

// Plant plants the bug of that name. The error lists Percolator's bugs.
func (b *Bugs) Plant(name string) error {
	switch name {
	case "skip-write-conflict":
		b.SkipWriteConflictCheck = true
	case "get-ignores-locks":
		b.GetIgnoresLocks = true
	case "skip-fsync":
		b.SkipFsync = true
	case "oracle-trusts-clock":
		b.OracleTrustsClock = true
	default:
		return member.UnknownBug("percolator", name, plantedBugs)
	}
	return nil
}

// PlantedBug describes a bug by the name `squall node --bug` takes.
type PlantedBug = member.PlantedBug

// Peer names a cluster member.
type Peer = member.Peer
