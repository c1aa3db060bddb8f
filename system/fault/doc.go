// Package fault is what the harness can reach inside a node: the faults
// squall injects from within the process under test rather than from the
// outside (network rules, signals, container pauses). It has three parts.
//
// The injectable clock. Every component of a node that reads the time, sets
// a timer or ticks (Raft's tick loop, lease checks) takes a Clock instead of
// calling the time package. In production and in chaos runs that Clock is a
// *SkewedClock, whose offset, rate and strobe the harness can change while
// the node runs; because containers share the host's kernel clock, this is
// the only way to give one node a clock that disagrees with its peers. Code
// that wants no faults uses SystemClock, and deterministic tests use a
// ManualClock that only moves when told to.
//
// Failpoints. A node holds one Failpoints registry (never a global: a test
// may run several nodes in one process). Code registers the places where a
// fault is worth simulating and marks each with Eval:
//
//	fps.Register("kv/apply", "before a committed entry is applied")
//	...
//	if err := fps.Eval(ctx, "kv/apply"); err != nil {
//		return err
//	}
//
// Unarmed, Eval costs an atomic load. Armed with a spec such as
// "error(disk full)", "3*sleep(100ms)" or "10%crash", it returns an error
// wrapping ErrInjected, sleeps on the node's clock, or kills the process
// with SIGKILL, possibly only for a share of evaluations or a number of
// times; the Failpoints documentation gives the grammar.
//
// The admin service. AdminServer serves the gRPC service of package faultpb,
// through which the controller reads and sets a node's clock and lists, arms
// and disarms its failpoints. A node serves it on the same gRPC server as
// its client API and Raft transport. Partitions cut traffic between nodes
// only: the nemesis's rules never block the controller's address, so the
// controller reaches every node's admin service even while the nodes are
// partitioned from each other.
package fault
