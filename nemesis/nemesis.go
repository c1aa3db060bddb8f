// Package nemesis injects faults into a running cluster: how each fault is
// applied, healed, scheduled and recorded. One file per fault family
// (partition.go, kill.go, pause.go, clock.go, loss.go, failpoint.go,
// power.go); families.go lists them with their modes; schedule.go plans,
// from the run's seed, when each fault starts and stops, and records every
// start and stop in the history, so reports can draw the windows.
//
// Every fault reaches the nodes through the Cluster the harness gives it,
// which does everything through the Docker API and the nodes' own admin
// service: network changes run in a sidecar container that shares the
// node's network namespace (package netfault is what runs there), so the
// controller needs no root, no /proc, and may talk to a remote engine.
package nemesis

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/nemesis/netfault"
)

// Node is a member of the cluster under test.
type Node struct {
	Name string
	IP   netip.Addr
}

// ErrNodeDown is wrapped by the errors of Cluster calls that need a
// running node and found it down (killed, crashed, or not yet restarted).
var ErrNodeDown = errors.New("node is down")

// ErrNodePaused is wrapped by the errors of Cluster calls that need a
// node to answer (its admin service) and found it frozen.
var ErrNodePaused = errors.New("node is paused")

// NodeState is whether a node's process runs.
type NodeState string

const (
	NodeDown   NodeState = "down"   // killed, crashed, or not yet restarted
	NodeUp     NodeState = "up"     // running
	NodePaused NodeState = "paused" // frozen: it runs, but does nothing until thawed
)

// ErrSkipped is wrapped by the error of a Start that chose to do nothing,
// because acting would break a rule of its family (a kill that would
// leave no majority): the schedule records it, and it is no failure.
var ErrSkipped = errors.New("skipped")

// Cluster is what faults need of the runtime that runs the nodes and of
// the system under test.
type Cluster interface {
	Nodes() []Node
	// Protected lists addresses no fault may cut off: the controller's path
	// to the nodes.
	Protected() []netip.Addr
	// Leader asks the nodes which node leads; "" if none is known.
	Leader(ctx context.Context) (string, error)

	// State reports whether node's process runs, or is frozen.
	State(ctx context.Context, node string) (NodeState, error)
	// Kill kills the node's process with SIGKILL. It fails with
	// ErrNodeDown if the node is not running, or stops during the call
	// (another family's kill or power cut).
	Kill(ctx context.Context, node string) error
	// Start starts a stopped node again and waits until it serves.
	Start(ctx context.Context, node string) error
	// Pause freezes every process of the node (the cgroup freezer), and
	// fails as Kill does with ErrNodeDown; Unpause thaws them.
	Pause(ctx context.Context, node string) error
	Unpause(ctx context.Context, node string) error

	// Net puts one fault family's network state in force in node's
	// network namespace, replacing what the family had there. It fails
	// with ErrNodeDown if the node is not running.
	Net(ctx context.Context, node string, change netfault.Change) error
	// SetClock changes node's injectable clock (its admin service). This
	// and the failpoint calls fail with ErrNodePaused on a frozen node.
	SetClock(ctx context.Context, node string, change ClockChange) error
	// Failpoints lists the failpoints node registered.
	Failpoints(ctx context.Context, node string) ([]string, error)
	// ArmFailpoint arms node's failpoint with spec ("off" disarms it).
	ArmFailpoint(ctx context.Context, node, name, spec string) error
}

// ClockChange is a change to a node's injectable clock: a reset to true
// time, or any of an offset from true time, a rate, and a strobe that
// flips the offset by Delta every Period.
type ClockChange struct {
	Reset        bool           `json:"reset,omitempty"`
	Offset       *time.Duration `json:"offset,omitempty"`
	Rate         *float64       `json:"rate,omitempty"`
	StrobeDelta  time.Duration  `json:"strobe_delta,omitempty"`
	StrobePeriod time.Duration  `json:"strobe_period,omitempty"`
}

// Fault is one family of faults.
type Fault interface {
	// Name is the family's name on the command line ("partition", "kill").
	Name() string
	// Start applies one fault of the family, chosen with rng, and returns
	// a description of it for the history: enough to reproduce it.
	Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error)
	// Stop heals whatever the family has applied (a no-op if nothing is).
	Stop(ctx context.Context, c Cluster) (any, error)
}

// Restarted is implemented by faults whose effect a node loses when it
// restarts (network rules live in its namespace, clock faults in its
// process); the schedule calls it after any node starts again while the
// fault is in force.
type Restarted interface {
	NodeRestarted(ctx context.Context, c Cluster, node string) error
}

// Resumed is implemented by faults that could not reach a frozen node
// (a clock to reset, a failpoint to disarm) and left it for later: the
// schedule calls it after any node is thawed. done says whether it did
// anything, for the history.
type Resumed interface {
	NodeResumed(ctx context.Context, c Cluster, node string) (done bool, err error)
}

// Recorder records nemesis events in the run's history.
type Recorder interface {
	Record(history.Op) history.Op
}
