package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Clock modes: what Start does to the clocks it picks.
const (
	ClockBump   = "bump"   // jump forward or back by up to maxBump
	ClockStrobe = "strobe" // flip between two offsets every few ms
	ClockSkew   = "skew"   // run fast or slow by a rate
)

var clockModes = []string{ClockBump, ClockStrobe, ClockSkew}

// clockTargets are the nodes a clock fault picks.
var clockTargets = []string{TargetOne, TargetMinority, TargetLeader}

const (
	minBump, maxBump = 100 * time.Millisecond, 5 * time.Second
	// A strobe flips by up to two seconds every 5 to 50 milliseconds.
	maxStrobe                        = 2 * time.Second
	minStrobePeriod, maxStrobePeriod = 5 * time.Millisecond, 50 * time.Millisecond
	// A skewed clock runs 1.5 to 4 times fast or slow.
	minSkew, maxSkew = 1.5, 4.0
)

// Clock is the clock fault family. Containers share the host's kernel
// clock, so no clock fault can be made in the kernel for one node alone
// (Jepsen's cannot either); squall's nodes take every reading, timer and
// tick from an injectable clock (system/fault) that the harness sets over
// each node's admin service. Every time-dependent part of a node uses it:
// Raft's elections and heartbeats, leader leases, the timestamp oracle.
// Start changes the clocks of one node, a minority or the leader; Stop
// resets every clock to true time. A node that restarts while the fault
// is in force gets its change again, as a machine's clock stays wrong
// across a process restart.
type Clock struct {
	modes   []string // what to do
	targets []string // to which nodes

	mu      sync.Mutex
	mode    string
	changed map[string]ClockChange // in force, by node
	// unreset are nodes Stop found frozen: their clocks are reset when
	// they are thawed (NodeResumed).
	unreset map[string]bool
	// unapplied are restarted nodes that were frozen before they got
	// their change again: they get it when they are thawed.
	unapplied map[string]bool
}

// ClockEvent describes a clock fault's start or end in the history.
type ClockEvent struct {
	Mode   string `json:"mode,omitempty"`
	Target string `json:"target,omitempty"`
	// Changes is what was done to each node's clock.
	Changes map[string]ClockChange `json:"changes,omitempty"`
	// Down lists the nodes picked that were down by the time their clock
	// was to change.
	Down []string `json:"down,omitempty"`
	// Reset lists the nodes whose clocks Stop reset; Frozen those it
	// found paused, whose clocks are reset when they are thawed.
	Reset  []string `json:"reset,omitempty"`
	Frozen []string `json:"frozen,omitempty"`
	Note   string   `json:"note,omitempty"`
}

// NewClock returns a clock fault that picks, on each Start, a mode
// (ClockBump, ClockStrobe, ClockSkew) and a target (TargetOne,
// TargetMinority, TargetLeader) at random among those named in modes; no
// mode or no target named means all of them.
func NewClock(modes ...string) (*Clock, error) {
	kinds, targets, err := splitModes("clock", modes, clockModes, clockTargets)
	if err != nil {
		return nil, err
	}
	return &Clock{modes: kinds, targets: targets}, nil
}

func (k *Clock) Name() string { return "clock" }

// Start changes the clocks of nodes picked with rng, all at once; the
// changes made stay until Stop, whatever failed.
func (k *Clock) Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	mode := k.modes[rng.IntN(len(k.modes))]
	target := k.targets[rng.IntN(len(k.targets))]
	ev := ClockEvent{Mode: mode, Target: target, Changes: map[string]ClockChange{}}
	up, err := nodesIn(ctx, c, NodeUp) // a frozen node cannot answer
	if err != nil {
		return ev, fmt.Errorf("clock %s: %w", mode, err)
	}
	nodes, note, err := pickTargets(ctx, c, target, len(c.Nodes()), up, rng)
	ev.Note = note
	if err != nil {
		return ev, fmt.Errorf("clock %s: %w", mode, err)
	}
	k.mode = mode
	if k.changed == nil {
		k.changed = map[string]ClockChange{}
	}
	changes := map[string]ClockChange{}
	for _, node := range nodes {
		changes[node] = randomClockChange(mode, rng)
		// In force before it is applied, so that Stop resets a clock
		// whose change failed halfway.
		k.changed[node] = changes[node]
	}
	done, down, _, err := onEach(nodes, func(node string) error { return c.SetClock(ctx, node, changes[node]) })
	for _, node := range done {
		ev.Changes[node] = changes[node]
	}
	for _, node := range down {
		delete(k.changed, node) // its next process's clock starts true
	}
	ev.Down = down
	if err != nil {
		return ev, fmt.Errorf("clock %s: %w", mode, err)
	}
	return ev, nil
}

// randomClockChange draws a change of mode.
func randomClockChange(mode string, rng *rand.Rand) ClockChange {
	sign := time.Duration(1)
	if rng.IntN(2) == 0 {
		sign = -1
	}
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	switch mode {
	case ClockBump:
		offset := sign * between(minBump, maxBump).Round(time.Millisecond)
		return ClockChange{Offset: &offset}
	case ClockStrobe:
		return ClockChange{StrobeDelta: sign * between(minBump, maxStrobe).Round(time.Millisecond),
			StrobePeriod: between(minStrobePeriod, maxStrobePeriod).Round(time.Millisecond)}
	}
	// Log-uniform between minSkew and maxSkew, fast or slow.
	rate := math.Exp(math.Log(minSkew) + rng.Float64()*(math.Log(maxSkew)-math.Log(minSkew)))
	if sign < 0 {
		rate = 1 / rate
	}
	rate = math.Round(rate*1000) / 1000
	return ClockChange{Rate: &rate}
}

// Stop resets the clocks of every running node to true time, whatever
// this Clock believes it changed.
func (k *Clock) Stop(ctx context.Context, c Cluster) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ev := ClockEvent{Mode: k.mode}
	var errs []error
	for _, node := range nodeNames(c.Nodes()) {
		err := c.SetClock(ctx, node, ClockChange{Reset: true})
		switch {
		case errors.Is(err, ErrNodeDown):
			// A restarted node's clock starts true.
		case errors.Is(err, ErrNodePaused):
			if k.unreset == nil {
				k.unreset = map[string]bool{}
			}
			k.unreset[node] = true
			ev.Frozen = append(ev.Frozen, node)
		case err != nil:
			errs = append(errs, fmt.Errorf("reset the clock of node %s: %w", node, err))
			continue
		default:
			ev.Reset = append(ev.Reset, node)
		}
		delete(k.changed, node)
		delete(k.unapplied, node)
	}
	if len(k.changed) == 0 {
		k.mode = ""
	}
	return ev, errors.Join(errs...)
}

// NodeResumed resets the clock of a thawed node that Stop found frozen.
func (k *Clock) NodeResumed(ctx context.Context, c Cluster, node string) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	change := ClockChange{Reset: true}
	switch {
	case k.unreset[node]:
	case k.unapplied[node]:
		change = k.changed[node]
	default:
		return false, nil
	}
	// A node killed since its thaw starts again with a true clock, and
	// NodeRestarted gives it the change in force.
	if err := c.SetClock(ctx, node, change); err != nil && !errors.Is(err, ErrNodeDown) {
		return true, fmt.Errorf("clock of thawed node %s: %w", node, err)
	}
	delete(k.unreset, node)
	delete(k.unapplied, node)
	return true, nil
}

// NodeRestarted gives a restarted node its clock change again.
func (k *Clock) NodeRestarted(ctx context.Context, c Cluster, node string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.unreset, node) // a new process's clock starts true
	delete(k.unapplied, node)
	change, ok := k.changed[node]
	if !ok {
		return nil
	}
	// Other families may have killed or frozen the node again since it
	// started: a killed one gets the change at its next start, a frozen
	// one when it is thawed (NodeResumed).
	switch err := c.SetClock(ctx, node, change); {
	case errors.Is(err, ErrNodeDown):
	case errors.Is(err, ErrNodePaused):
		if k.unapplied == nil {
			k.unapplied = map[string]bool{}
		}
		k.unapplied[node] = true
	case err != nil:
		return fmt.Errorf("clock %s on restarted node %s: %w", k.mode, node, err)
	}
	return nil
}
