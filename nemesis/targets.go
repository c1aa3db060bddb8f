package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// Target modes: which nodes a family that acts on nodes (pause, clock,
// power, failpoint) picks on each start.
const (
	TargetOne      = "one"      // one node at random
	TargetMinority = "minority" // 1 to (n-1)/2 nodes at random
	TargetMajority = "majority" // a bare majority at random
	TargetAll      = "all"      // every node
	TargetLeader   = "leader"   // the current leader
)

// pickTargets chooses nodes for mode among candidates (running nodes, say)
// of a cluster of n nodes. A leader that is not known, or is not a
// candidate, is replaced by a node at random, and note says so.
func pickTargets(ctx context.Context, c Cluster, mode string, n int, candidates []string, rng *rand.Rand) (targets []string, note string, err error) {
	if len(candidates) == 0 {
		return nil, "", fmt.Errorf("%s: no node to act on: %w", mode, ErrSkipped)
	}
	pool := shuffled(candidates, rng)
	switch mode {
	case TargetOne:
		return pool[:1], "", nil
	case TargetMinority:
		most := min(max((n-1)/2, 1), len(pool))
		return sorted(pool[:1+rng.IntN(most)]), "", nil
	case TargetMajority:
		if len(pool) < majority(n) {
			return nil, "", fmt.Errorf("%s: %d of %d nodes can be acted on, fewer than a majority: %w", mode, len(pool), n, ErrSkipped)
		}
		return sorted(pool[:majority(n)]), "", nil
	case TargetAll:
		return sorted(pool), "", nil
	case TargetLeader:
		if leader, why := leaderAmong(ctx, c, candidates); leader != "" {
			return []string{leader}, "", nil
		} else {
			return pool[:1], why + "; picked a node at random", nil
		}
	}
	return nil, "", fmt.Errorf("unknown target mode %q", mode)
}

// nodesIn lists the nodes in one of states, in name order.
func nodesIn(ctx context.Context, c Cluster, states ...NodeState) ([]string, error) {
	var nodes []string
	for _, n := range nodeNames(c.Nodes()) {
		st, err := c.State(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("state of node %s: %w", n, err)
		}
		if slices.Contains(states, st) {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// leaderAmong is the cluster's leader if it is one of nodes; otherwise ""
// and why not, for the event's note.
func leaderAmong(ctx context.Context, c Cluster, nodes []string) (leader, why string) {
	leader, err := c.Leader(ctx)
	switch {
	case err != nil:
		return "", fmt.Sprintf("leader unknown (%v)", err)
	case !slices.Contains(nodes, leader):
		return "", "no leader known"
	}
	return leader, ""
}

func nodeNames(nodes []Node) []string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return names
}

// together runs act on every node at once (each a call to Docker or a
// node, mostly waiting) and returns each one's error, in nodes' order.
func together(nodes []string, act func(i int, node string) error) []error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range slices.Clone(nodes) {
		wg.Go(func() { errs[i] = act(i, node) })
	}
	wg.Wait()
	return errs
}

// onEach acts on every target at once. A target found down or frozen
// (other families, whose faults overlap this one's, killed or paused it
// since it was picked) is no failure: it is listed in down or frozen.
// err joins the other failures, each naming its node; it wraps ErrSkipped
// if no target was acted on.
func onEach(targets []string, act func(node string) error) (done, down, frozen []string, err error) {
	errs := together(targets, func(_ int, node string) error { return act(node) })
	var failed []error
	for i, node := range targets {
		switch {
		case errs[i] == nil:
			done = append(done, node)
		case errors.Is(errs[i], ErrNodeDown):
			down = append(down, node)
		case errors.Is(errs[i], ErrNodePaused):
			frozen = append(frozen, node)
		default:
			failed = append(failed, fmt.Errorf("node %s: %w", node, errs[i]))
		}
	}
	if len(done) == 0 && len(failed) == 0 && len(down)+len(frozen) > 0 {
		return nil, down, frozen, fmt.Errorf("every node it picked went down or was frozen: %w", ErrSkipped)
	}
	return done, down, frozen, errors.Join(failed...)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
