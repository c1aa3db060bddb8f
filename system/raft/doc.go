// Package raft is squall's Raft consensus library: the protocol of Ongaro
// and Ousterhout's "In Search of an Understandable Consensus Algorithm" and
// Ongaro's thesis, with PreVote, CheckQuorum, snapshots, ReadIndex, lease
// reads and leadership transfer. It knows nothing of the state machine it
// replicates; system/kv and system/percolator build on it, several groups
// per process if they like (there is no package-level state).
//
// # Two layers
//
// Core is the protocol as a deterministic state machine, in the style of
// etcd-io/raft. It changes only when its driver calls Step (a message from
// a peer, or a local request such as a proposal) or Tick (one unit of
// logical time), and it reports what must happen as a Ready:
//
//	for core.HasReady() {
//		rd := core.Ready()
//		storage.Save(rd.HardState, rd.Entries, rd.Snapshot) // fsync
//		transport.Send(rd.Messages)                          // only after the save
//		apply(rd.Snapshot, rd.CommittedEntries)
//		serve(rd.ReadStates)
//		core.Advance(rd)
//	}
//
// The core starts no goroutines and touches no clock, socket or disk, so
// tests drive whole clusters step by step from a seed and replay any
// failure exactly (see network_test.go and safety_test.go).
//
// Node is the driver a real process uses. One goroutine ticks the core from
// an injectable clock (system/fault: a clock fault on a node slows or
// speeds its elections and leases, as it would a real server's), feeds it
// messages from the Transport and proposals from callers, and carries out
// each Ready. Proposals that arrive while the previous Ready is being
// fsynced are appended together and share the next fsync and the next
// message to each follower: group commit, which is where the throughput
// comes from.
//
// # Durability
//
// Storage is the core's read-only view of the persisted log. A driver
// writes through DurableStorage.Save, which must not return before the data
// survives a crash. MemoryStorage is the in-memory implementation for
// tests; wal.Storage (system/raft/wal) is the on-disk one: a checksummed
// write-ahead log with fsync, torn-tail recovery and atomic snapshots.
//
// # Safety choices worth knowing
//
//   - A leader commits only entries of its own term by counting replicas;
//     earlier entries commit with them (Figure 8 of the paper).
//   - PreVote: a node that has been cut off asks whether it could win before
//     it increments its term, so on rejoining it does not depose a healthy
//     leader.
//   - CheckQuorum: a leader that has not heard from a quorum for an election
//     timeout steps down, and followers that hear from a leader ignore vote
//     requests (except those of a leadership transfer).
//   - ReadIndex (ReadOnlySafe, the default) answers a read with the commit
//     index after a heartbeat round confirms leadership, and only once the
//     leader has committed an entry of its term. A deposed leader cannot
//     gather the quorum, so it never answers.
//   - Lease reads (ReadOnlyLeaseBased) skip the heartbeat round while a
//     quorum acknowledged a heartbeat sent less than an election timeout
//     ago. They are fast and UNSAFE under clock faults: they assume all
//     nodes' ticks run at the same rate.
//
// Membership is static: the peers are fixed when storage is created.
package raft
