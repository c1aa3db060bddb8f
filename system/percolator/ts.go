package percolator

import "hash/fnv"

// LogicalBits is the width of a timestamp's logical counter.
const LogicalBits = 18

// ComposeTS builds a timestamp from physical milliseconds and a logical
// counter (which must be below 1<<LogicalBits).
func ComposeTS(physicalMs, logical uint64) uint64 { return physicalMs<<LogicalBits | logical }

// PhysicalMs is the physical part of ts, in milliseconds since the epoch.
func PhysicalMs(ts uint64) uint64 { return ts >> LogicalBits }

// LockExpired reports whether a lock taken at startTS with ttlMs has
// expired by currentTS.
func LockExpired(startTS, ttlMs, currentTS uint64) bool {
	return PhysicalMs(startTS)+ttlMs < PhysicalMs(currentTS)
}

// ShardOf is the shard (1..shards) that holds key.
func ShardOf(key []byte, shards int) uint32 {
	h := fnv.New32a()
	h.Write(key)
	return 1 + h.Sum32()%uint32(shards)
}
