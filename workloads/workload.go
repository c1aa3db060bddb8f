// Package workloads holds what clients do to a system during a test: for
// each workload an operation generator, the final reads and the checkers
// that judge the history. The operations are ops' vocabulary; each system
// under test performs them through clients of its own (see package sut).
package workloads

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

// Node is a node clients can reach.
type Node struct {
	Name string
	Addr string // host:port of its client API
}

// Target is the system under test, as one client sees it.
type Target struct {
	Nodes []Node
	// Home is the node this client is bound to, as Jepsen binds each
	// client process to one node: where it sends what any node may serve.
	Home string
}

// Client performs operations for one logical process.
type Client interface {
	// Invoke performs op (an invoke event) and returns its completion: ok
	// with the result, fail if it certainly did not take effect, info if
	// it may have. It returns by ctx's deadline.
	Invoke(ctx context.Context, op history.Op) history.Op
	Close() error
}

// Generator produces the operations of a test. Workers call it
// concurrently.
type Generator interface {
	// Next returns the next operation to invoke (its Type, F and Value),
	// or false when the workload has nothing more to do.
	Next(rng *rand.Rand) (history.Op, bool)
}

// Workload is one kind of test traffic.
type Workload interface {
	Name() string
	NewGenerator(concurrency int) Generator
	// FinalGenerator produces the reads to run after the faults are
	// healed, to observe the final state; it is called after the main
	// phase, so it can read every key that phase used.
	FinalGenerator() Generator
	Checkers(opts CheckOptions) []checker.Checker
}

// CheckOptions configure a workload's checkers.
type CheckOptions struct {
	// Dir is where checkers write files for the report (visualizations).
	Dir string
	// Timeout is the time budget of each expensive checker.
	Timeout time.Duration
	// Consistency names the consistency model transactional checkers
	// judge against (elle.ParseModel's names, such as
	// "snapshot-isolation" or "strict-serializable"); empty means the
	// checker's default.
	Consistency string
}
