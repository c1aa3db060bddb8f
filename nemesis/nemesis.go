// Package nemesis injects faults into a running cluster: how each fault is
// applied, healed, scheduled and recorded. One file per fault family
// (partition.go, kill.go); schedule.go alternates faults and calm and
// records every fault's start and end in the history, so reports can shade
// the windows.
package nemesis

import (
	"context"
	"math/rand/v2"
	"net/netip"

	"github.com/squall-chaos/squall/history"
)

// Node is a member of the cluster under test.
type Node struct {
	Name string
	IP   netip.Addr
}

// Cluster is what a fault needs of the runtime that runs the nodes.
type Cluster interface {
	Nodes() []Node
	// PID returns the host PID of the node's main process, whose network
	// namespace partition rules go into. It fails if the node is down.
	PID(ctx context.Context, node string) (int, error)
	// Kill kills the node's process with SIGKILL.
	Kill(ctx context.Context, node string) error
	// Start starts a killed node again and waits until it serves.
	Start(ctx context.Context, node string) error
	// Leader asks the nodes which node leads; "" if none is known.
	Leader(ctx context.Context) (string, error)
	// Protected lists addresses no fault may cut off: the controller's path
	// to the nodes.
	Protected() []netip.Addr
}

// Fault is one family of faults.
type Fault interface {
	// Name is the family's name on the command line ("partition", "kill").
	Name() string
	// Start applies one fault of the family, chosen with rng, and returns
	// a description of it for the history.
	Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error)
	// Stop heals whatever the family has applied (a no-op if nothing is).
	Stop(ctx context.Context, c Cluster) (any, error)
}

// Restarted is implemented by faults whose effect a node loses when it
// restarts (partition rules live in its network namespace); the schedule
// calls it after any node starts again while the fault is in force.
type Restarted interface {
	NodeRestarted(ctx context.Context, c Cluster, node string) error
}

// Recorder records nemesis events in the run's history.
type Recorder interface {
	Record(history.Op) history.Op
}
