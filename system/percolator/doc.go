// Package percolator is squall's second system: Google's Percolator
// protocol (snapshot isolation through client-driven two-phase commit), as
// TiKV runs it, on squall's own Raft.
//
// A cluster runs several Raft groups on every node: group 0 is the
// timestamp oracle, groups 1..Shards are the shards. Each shard is a
// replicated MVCC state machine with Percolator's three columns:
//
//	data:  (key, start_ts) -> value
//	lock:  key -> (primary, start_ts, ttl, kind)
//	write: (key, commit_ts) -> (start_ts, kind put/delete/rollback)
//
// Keys map to shards by ShardOf: 1 + FNV-1a-32(key) mod shards.
//
// Timestamps are hybrid: the physical milliseconds of the oracle leader's
// clock shifted left by LogicalBits, plus a logical counter. The oracle
// persists a high-water mark through Raft before it hands out a timestamp
// at or above it, and a new leader starts above the persisted mark, so
// timestamps only ever increase, across leader changes, restarts and
// backward jumps of the clock.
package percolator
