package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// Kill modes: which nodes Start kills.
const (
	KillOne      = "one"      // one node at random
	KillMinority = "minority" // 1 to (n-1)/2 nodes at random
	KillLeader   = "leader"   // the current leader
)

var killModes = []string{KillOne, KillMinority, KillLeader}

// Kill is the crash fault family: Start kills nodes with SIGKILL, Stop
// starts them again (their data survives). It never has more than a
// minority of the cluster down at once, counting nodes it killed earlier
// and could not restart, so the cluster can always make progress once the
// partitions heal.
type Kill struct {
	modes []string

	mu     sync.Mutex
	mode   string
	killed []string // killed and not yet restarted
}

// KillEvent describes a kill's start or end in the history.
type KillEvent struct {
	Mode string `json:"mode,omitempty"`
	// Killed lists the nodes Start killed; Restarted those Stop started.
	Killed    []string `json:"killed,omitempty"`
	Restarted []string `json:"restarted,omitempty"`
	// Note says what happened other than asked, such as killing a random
	// node because no leader was known.
	Note string `json:"note,omitempty"`
}

// NewKill returns a kill fault that picks its mode at random among modes
// (KillOne, KillMinority, KillLeader) on each Start; no modes means all.
func NewKill(modes ...string) (*Kill, error) {
	if len(modes) == 0 {
		modes = killModes
	}
	for _, m := range modes {
		if !slices.Contains(killModes, m) {
			return nil, fmt.Errorf("kill mode %q: want one of %s", m, strings.Join(killModes, ", "))
		}
	}
	return &Kill{modes: slices.Clone(modes)}, nil
}

func (k *Kill) Name() string { return "kill" }

// Start kills the nodes of a mode chosen with rng. If a kill fails it stops
// there; the nodes already killed stay down until Stop.
func (k *Kill) Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	mode := k.modes[rng.IntN(len(k.modes))]
	ev := KillEvent{Mode: mode}
	nodes := nodeNames(c.Nodes())
	budget := (len(nodes)-1)/2 - len(k.killed)
	if budget < 1 {
		return ev, fmt.Errorf("kill %s: %d of %d nodes are down already; killing another would leave no majority", mode, len(k.killed), len(nodes))
	}
	var alive []string
	for _, n := range nodes {
		if !slices.Contains(k.killed, n) {
			alive = append(alive, n)
		}
	}
	alive = shuffled(alive, rng)

	victims := alive[:1]
	switch mode {
	case KillMinority:
		victims = alive[:1+rng.IntN(budget)]
	case KillLeader:
		if leader, why := leaderAmong(ctx, c, alive); leader != "" {
			victims = []string{leader}
		} else {
			ev.Note = why + "; killed a node at random"
		}
	}
	k.mode = mode
	for _, node := range victims {
		if err := c.Kill(ctx, node); err != nil {
			return ev, fmt.Errorf("kill node %s: %w", node, err)
		}
		k.killed = append(k.killed, node)
		ev.Killed = append(ev.Killed, node)
	}
	return ev, nil
}

// Stop starts every node Start killed, each waiting until it serves. A node
// that fails to start stays on the list for the next Stop.
func (k *Kill) Stop(ctx context.Context, c Cluster) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ev := KillEvent{Mode: k.mode}
	var down []string
	var errs []error
	for _, node := range k.killed {
		if err := c.Start(ctx, node); err != nil {
			down = append(down, node)
			errs = append(errs, fmt.Errorf("restart node %s: %w", node, err))
			continue
		}
		ev.Restarted = append(ev.Restarted, node)
	}
	k.killed = down
	if len(down) == 0 {
		k.mode = ""
	}
	return ev, errors.Join(errs...)
}
