package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
)

var powerModes = []string{TargetOne, TargetMinority, TargetMajority, TargetAll}

// Power is the power-loss fault family, Jepsen's lazyfs without FUSE. A
// run with it starts every node with its storage keeping what was written
// but not yet fsynced in the node's own memory (`squall node
// --lose-unsynced`), so that a SIGKILL loses exactly the unsynced writes,
// as a power cut loses the page cache where a process crash would not.
// Start cuts the power of one node, a minority, a majority or the whole
// cluster at once (SIGKILL to all of them together), Stop restores it.
// Unlike kill, it may take a majority down: a datacenter's power fails
// for every machine alike, and what was acknowledged must survive even
// that.
type Power struct {
	modes []string

	mu   sync.Mutex
	mode string
	cut  []string // down and not yet restored
}

// PowerEvent describes a power fault's start or end in the history.
type PowerEvent struct {
	Mode     string   `json:"mode,omitempty"`
	Cut      []string `json:"cut,omitempty"`
	Down     []string `json:"down,omitempty"` // picked, but down by the time of the cut
	Restored []string `json:"restored,omitempty"`
}

// NewPower returns a power fault that picks its mode (TargetOne,
// TargetMinority, TargetMajority, TargetAll) at random among modes on
// each Start; no modes means all.
func NewPower(modes ...string) (*Power, error) {
	modes, err := checkModes("power", modes, powerModes)
	if err != nil {
		return nil, err
	}
	return &Power{modes: modes}, nil
}

func (p *Power) Name() string { return "power" }

// Start cuts the power of the nodes of a mode chosen with rng, among the
// running ones, all at once.
func (p *Power) Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mode := p.modes[rng.IntN(len(p.modes))]
	ev := PowerEvent{Mode: mode}
	up, err := nodesIn(ctx, c, NodeUp, NodePaused)
	if err != nil {
		return ev, fmt.Errorf("power %s: %w", mode, err)
	}
	targets, _, err := pickTargets(ctx, c, mode, len(c.Nodes()), up, rng)
	if err != nil {
		return ev, fmt.Errorf("power %s: %w", mode, err)
	}
	p.mode = mode
	ev.Cut, ev.Down, _, err = onEach(targets, func(node string) error { return c.Kill(ctx, node) })
	p.cut = append(p.cut, ev.Cut...)
	if err != nil {
		return ev, fmt.Errorf("power %s: %w", mode, err)
	}
	return ev, nil
}

// Stop restores the power of every node Start cut, all at once, each
// waiting until it serves. A node that fails to start stays on the list
// for the next Stop.
func (p *Power) Stop(ctx context.Context, c Cluster) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := PowerEvent{Mode: p.mode}
	errs := together(p.cut, func(_ int, node string) error { return c.Start(ctx, node) })
	var still []string
	for i, node := range p.cut {
		if errs[i] == nil {
			ev.Restored = append(ev.Restored, node)
		} else {
			still = append(still, node)
			errs[i] = fmt.Errorf("restore the power of node %s: %w", node, errs[i])
		}
	}
	p.cut = still
	if len(still) == 0 {
		p.mode = ""
	}
	return ev, errors.Join(errs...)
}
