package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/squall-chaos/squall/nemesis/netfault"
)

// Loss modes: how Start degrades the network of the nodes it picks.
const (
	LossDrop      = "drop"      // drop a share of packets to and from the other nodes (nftables numgen)
	LossBandwidth = "bandwidth" // limit what the node sends (tbf)
	LossDelay     = "delay"     // delay what the node sends (netem, where the kernel has it)
)

var lossModes = []string{LossDrop, LossBandwidth, LossDelay}

// lossTargets are the nodes a loss fault picks.
var lossTargets = []string{TargetOne, TargetMinority, TargetLeader, TargetAll}

// Ranges Start draws from.
var lossPercents = []int{10, 20, 30, 50}

const (
	minRate, maxRate   = 32 << 10, 1 << 20 // bytes per second
	minDelay, maxDelay = 20 * time.Millisecond, 200 * time.Millisecond
	jitterShare        = 4 // jitter up to a quarter of the delay
)

// Loss is the degraded-network fault family: packets dropped at random,
// bandwidth limited, or packets delayed, on one node, a minority, the
// leader or all.
// Its drop rules live in an nftables table of their own (squall-loss), so
// a partition (squall-partition) can be in force at the same time without
// either healing the other; bandwidth and delay set the root queue of the
// node's interface, which only this family touches. Drops never name a
// Protected address; a limit or a delay slows the controller's traffic
// to the node too, as it would a real client's. A node that restarts
// comes up in a new namespace: NodeRestarted gives it its state again.
type Loss struct {
	modes   []string // what to do
	targets []string // to which nodes

	mu      sync.Mutex
	mode    string
	changes map[string]netfault.Change // in force, by node
}

// LossEvent describes a loss fault's start or end in the history.
type LossEvent struct {
	Mode   string `json:"mode,omitempty"`
	Target string `json:"target,omitempty"`
	// Changes is each node's network state: drop shares by address, or
	// its rate limit (bytes/s), or its delay.
	Changes map[string]netfault.Change `json:"changes,omitempty"`
	Down    []string                   `json:"down,omitempty"`
	Healed  []string                   `json:"healed,omitempty"`
	Note    string                     `json:"note,omitempty"`
}

// NewLoss returns a loss fault that picks, on each Start, a mode
// (LossDrop, LossBandwidth, LossDelay) and a target (TargetOne,
// TargetMinority, TargetLeader, TargetAll) at random among those named in
// modes; no mode or no target named means all of them.
func NewLoss(modes ...string) (*Loss, error) {
	kinds, targets, err := splitModes("loss", modes, lossModes, lossTargets)
	if err != nil {
		return nil, err
	}
	return &Loss{modes: kinds, targets: targets}, nil
}

func (l *Loss) Name() string { return netfault.ShapingFamily }

// Start degrades the network of nodes picked with rng. If a change fails
// to go in, those already in stay until Stop.
func (l *Loss) Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mode := l.modes[rng.IntN(len(l.modes))]
	target := l.targets[rng.IntN(len(l.targets))]
	ev := LossEvent{Mode: mode, Target: target, Changes: map[string]netfault.Change{}}
	up, err := nodesIn(ctx, c, NodeUp, NodePaused)
	if err != nil {
		return ev, fmt.Errorf("loss %s: %w", mode, err)
	}
	nodes, note, err := pickTargets(ctx, c, target, len(c.Nodes()), up, rng)
	ev.Note = note
	if err != nil {
		return ev, fmt.Errorf("loss %s: %w", mode, err)
	}
	l.mode = mode
	l.changes = map[string]netfault.Change{}
	change := netfault.Change{Family: l.Name()}
	switch mode {
	case LossDrop:
		percent := lossPercents[rng.IntN(len(lossPercents))]
		for _, n := range c.Nodes() {
			if !isProtected(c, n.IP) {
				change.Loss = append(change.Loss, netfault.Loss{Addr: n.IP, Percent: percent})
			}
		}
	case LossBandwidth:
		// Log-uniform, rounded to KiB/s.
		r := math.Exp(math.Log(float64(minRate)) + rng.Float64()*(math.Log(float64(maxRate))-math.Log(float64(minRate))))
		change.Rate = uint64(r) &^ (1<<10 - 1)
	case LossDelay:
		change.Delay = (minDelay + time.Duration(rng.Int64N(int64(maxDelay-minDelay)+1))).Round(time.Millisecond)
		change.Jitter = time.Duration(rng.Int64N(int64(change.Delay)/jitterShare + 1)).Round(time.Millisecond)
	}
	for _, node := range nodes {
		mine := change
		mine.Loss = slices.DeleteFunc(slices.Clone(change.Loss), func(x netfault.Loss) bool { return x.Addr == ipOf(c, node) })
		l.changes[node] = mine
	}
	// A node another family took down since the pick gets its change when
	// it starts again (NodeRestarted).
	done, down, _, err := onEach(nodes, func(node string) error { return c.Net(ctx, node, l.changes[node]) })
	for _, node := range done {
		ev.Changes[node] = l.changes[node]
	}
	ev.Down = down
	if err != nil {
		return ev, fmt.Errorf("loss %s: %w", mode, err)
	}
	return ev, nil
}

// Stop heals the family on every running node, whatever this Loss
// believes is in force, so it also cleans up after a Start that failed
// halfway.
func (l *Loss) Stop(ctx context.Context, c Cluster) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := LossEvent{Mode: l.mode}
	l.mode, l.changes = "", nil
	nodes := nodeNames(c.Nodes())
	errs := together(nodes, func(_ int, node string) error { return c.Net(ctx, node, netfault.Change{Family: l.Name()}) })
	for i, node := range nodes {
		switch err := errs[i]; {
		case errors.Is(err, ErrNodeDown):
			ev.Down = append(ev.Down, node)
			errs[i] = nil
		case err != nil:
			errs[i] = fmt.Errorf("heal loss on node %s: %w", node, err)
		default:
			ev.Healed = append(ev.Healed, node)
		}
	}
	return ev, errors.Join(errs...)
}

// NodeRestarted gives a restarted node its state again.
func (l *Loss) NodeRestarted(ctx context.Context, c Cluster, node string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	change, ok := l.changes[node]
	if !ok {
		return nil
	}
	// A node down again since its start gets the change at its next.
	if err := c.Net(ctx, node, change); err != nil && !errors.Is(err, ErrNodeDown) {
		return fmt.Errorf("loss %s on restarted node %s: %w", l.mode, node, err)
	}
	return nil
}

func ipOf(c Cluster, node string) (ip netip.Addr) {
	for _, n := range c.Nodes() {
		if n.Name == node {
			return n.IP
		}
	}
	return ip
}
