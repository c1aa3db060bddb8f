package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
// minority of the cluster down at once, counting every node that is down
// (killed earlier and not restarted, or down through another family), so
// the cluster can always make progress once the partitions heal.
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
	modes, err := checkModes("kill", modes, killModes)
	if err != nil {
		return nil, err
	}
	return &Kill{modes: modes}, nil
}

func (k *Kill) Name() string { return "kill" }

// Start kills the nodes of a mode chosen with rng, all at once; the nodes
// killed stay down until Stop.
func (k *Kill) Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	mode := k.modes[rng.IntN(len(k.modes))]
	ev := KillEvent{Mode: mode}
	nodes := nodeNames(c.Nodes())
	// Nodes down for any reason count: another family (power, a
	// failpoint's crash) may have taken some down.
	up, err := nodesIn(ctx, c, NodeUp, NodePaused)
	if err != nil {
		return ev, fmt.Errorf("kill %s: %w", mode, err)
	}
	down := len(nodes) - len(up)
	budget := (len(nodes)-1)/2 - down
	if budget < 1 {
		return ev, fmt.Errorf("kill %s: %d of %d nodes are down already; killing another would leave no majority: %w", mode, down, len(nodes), ErrSkipped)
	}
	alive := shuffled(up, rng)

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
	var gone []string
	ev.Killed, gone, _, err = onEach(victims, func(node string) error { return c.Kill(ctx, node) })
	k.killed = append(k.killed, ev.Killed...)
	if len(gone) > 0 {
		ev.Note = strings.TrimPrefix(ev.Note+fmt.Sprintf("; %v went down before the kill", gone), "; ")
	}
	if err != nil {
		return ev, fmt.Errorf("kill %s: %w", mode, err)
	}
	return ev, nil
}

// Stop starts every node Start killed, all at once, each waiting until it
// serves. A node that fails to start stays on the list for the next Stop.
func (k *Kill) Stop(ctx context.Context, c Cluster) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ev := KillEvent{Mode: k.mode}
	var down []string
	errs := together(k.killed, func(_ int, node string) error { return c.Start(ctx, node) })
	for i, node := range k.killed {
		if errs[i] != nil {
			down = append(down, node)
			errs[i] = fmt.Errorf("restart node %s: %w", node, errs[i])
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
