package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

var pauseModes = []string{TargetOne, TargetMinority, TargetLeader}

// Pause is the process pause fault family: Start freezes every process of
// some nodes (Docker pause, the cgroup freezer), Stop thaws them. A
// frozen node neither answers nor notices time passing until it is
// thawed, when it carries on from where it stood: a leader that does so
// may still believe in a lease that expired meanwhile. A fault lasts the
// schedule's interval, well past Raft's election timeout.
type Pause struct {
	modes []string

	mu     sync.Mutex
	mode   string
	paused []string
}

// PauseEvent describes a pause's start or end in the history.
type PauseEvent struct {
	Mode    string   `json:"mode,omitempty"`
	Paused  []string `json:"paused,omitempty"`
	Down    []string `json:"down,omitempty"` // picked, but down by the time of pausing
	Resumed []string `json:"resumed,omitempty"`
	// Gone lists paused nodes whose frozen process was gone by the time
	// Stop came (another family killed, and maybe restarted, the node):
	// there is nothing left to thaw.
	Gone []string `json:"gone,omitempty"`
	Note string   `json:"note,omitempty"`
}

// NewPause returns a pause fault that picks its mode (TargetOne,
// TargetMinority, TargetLeader) at random among modes on each Start; no
// modes means all.
func NewPause(modes ...string) (*Pause, error) {
	modes, err := checkModes("pause", modes, pauseModes)
	if err != nil {
		return nil, err
	}
	return &Pause{modes: modes}, nil
}

func (p *Pause) Name() string { return "pause" }

// Start pauses the nodes of a mode chosen with rng, among those running
// and not paused already, all at once; they stay paused until Stop.
func (p *Pause) Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mode := p.modes[rng.IntN(len(p.modes))]
	ev := PauseEvent{Mode: mode}
	up, err := nodesIn(ctx, c, NodeUp)
	if err != nil {
		return ev, fmt.Errorf("pause %s: %w", mode, err)
	}
	targets, note, err := pickTargets(ctx, c, mode, len(c.Nodes()), up, rng)
	ev.Note = note
	if err != nil {
		return ev, fmt.Errorf("pause: %w", err)
	}
	p.mode = mode
	ev.Paused, ev.Down, _, err = onEach(targets, func(node string) error { return c.Pause(ctx, node) })
	// A pause that failed may have frozen its node all the same: Stop
	// tries to thaw every target.
	p.paused = append(p.paused, slices.DeleteFunc(slices.Clone(targets), func(n string) bool { return slices.Contains(ev.Down, n) })...)
	if err != nil {
		return ev, fmt.Errorf("pause: %w", err)
	}
	return ev, nil
}

// Stop thaws every node Start paused. A node that fails to thaw stays on
// the list for the next Stop.
func (p *Pause) Stop(ctx context.Context, c Cluster) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := PauseEvent{Mode: p.mode}
	var still []string
	var errs []error
	for _, node := range p.paused {
		if st, err := c.State(ctx, node); err == nil && st != NodePaused {
			// Killed by another family, and maybe restarted since: its
			// frozen process is gone.
			ev.Gone = append(ev.Gone, node)
			continue
		}
		if err := c.Unpause(ctx, node); err != nil {
			if st, stErr := c.State(ctx, node); stErr == nil && st != NodePaused {
				// Another family killed it (and maybe restarted it)
				// between the look and the thaw.
				ev.Gone = append(ev.Gone, node)
				continue
			}
			still = append(still, node)
			errs = append(errs, fmt.Errorf("unpause node %s: %w", node, err))
			continue
		}
		ev.Resumed = append(ev.Resumed, node)
	}
	p.paused = still
	if len(still) == 0 {
		p.mode = ""
	}
	return ev, errors.Join(errs...)
}
