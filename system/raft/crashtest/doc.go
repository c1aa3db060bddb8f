// Package crashtest is a crash test of system/raft with real processes and
// a real disk; it holds no library code, only its tests.
//
// The test binary plays both parts. Run normally it is the controller: it
// starts a cluster of nodes by re-executing itself with the environment
// variable SQUALL_CRASHTEST_NODE set, and TestMain then runs a node instead
// of the tests. Each node keeps its log in a wal.Storage on its own
// directory, talks to its peers through grpctransport on loopback, and,
// while it leads, proposes values of its own from a few goroutines. Every
// value it sees committed and applied it reports to the controller on
// stdout ("ack n2.1-000123"), so an ack is a promise the cluster must keep.
//
// The controller SIGKILLs nodes while they commit (leaders, followers, two
// at once in a five-node cluster), restarts them from the same directory,
// and at the end quiesces the cluster, commits a final marker, and stops
// every node with SIGTERM. A stopped node writes the list of values it
// applied to a file. The test then checks that every acknowledged value was
// applied by every node, that all nodes applied the same values in the same
// order, and that none was applied twice.
//
// Snapshots are taken every few hundred entries and the log compacted
// behind them, so recovery exercises snapshot plus log replay, and nodes
// that fall behind catch up by snapshot installation.
//
// A SIGKILL loses what the process held in memory but not what it wrote to
// the page cache: this tests the node's crash recovery, not the disk's
// behaviour on power loss (system/raft/wal's own tests cover torn writes).
package crashtest
