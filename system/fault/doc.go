// Package fault is what the harness can reach inside a node: the faults
// squall injects from within the process under test rather than from the
// outside (network rules, signals, container pauses).
//
// Today that is the injectable clock. Every component of a node that reads
// the time, sets a timer or ticks (Raft's tick loop, lease checks) takes a
// Clock instead of calling the time package. In production and in chaos runs
// that Clock is a *SkewedClock, whose offset, rate and strobe the harness can
// change while the node runs; because containers share the host's kernel
// clock, this is the only way to give one node a clock that disagrees with
// its peers. Code that wants no faults uses SystemClock, and deterministic
// tests use a ManualClock that only moves when told to.
//
// Failpoints and the admin gRPC service that exposes these controls to the
// harness come in a later issue.
package fault
