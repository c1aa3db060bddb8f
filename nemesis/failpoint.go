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

// Failpoint actions: what an armed failpoint does when the node reaches
// it (system/fault's grammar).
const (
	FailCrash = "crash" // the node kills itself (SIGKILL) on reaching the point
	FailError = "error" // the code at the point fails with an injected error
	FailSleep = "sleep" // the node stalls at the point
)

var failActions = []string{FailCrash, FailError, FailSleep}

// Failpoint is the failpoint fault family: it arms one of the failpoints
// every node of squall's systems registers at the places where crashes
// hurt (around WAL fsyncs, between append and apply, after a commit before
// the answer, in the timestamp oracle's persistence; `squall node` lists
// them over the admin API). Start picks the point and the action from its
// seed, among the node's catalog (sorted, so the same seed picks the same
// point) or the points its modes name. A crash is armed once on one node
// or the leader; an error or a sleep on every running node, acting on a
// share of the times the point is reached, since a request may be served
// by any of them. Stop disarms the point everywhere and starts the nodes
// it took down: by a crash, or by an error where a node cannot go on (a
// failed fsync stops it).
type Failpoint struct {
	actions []string
	points  []string // restricts the catalog; empty for all of it

	mu    sync.Mutex
	armed string   // the point armed, "" when healed
	spec  string   // and how
	nodes []string // the nodes it is armed on, which it may take down
	// frozen maps nodes Stop found paused to the point to disarm when
	// they are thawed (NodeResumed).
	frozen map[string]string
}

// FailpointEvent describes a failpoint fault's start or end in the history.
type FailpointEvent struct {
	Point string   `json:"point,omitempty"`
	Spec  string   `json:"spec,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
	// Down lists nodes picked that were down by the time of arming.
	Down []string `json:"down,omitempty"`
	// Restarted lists the nodes Stop started (the point took them down);
	// Disarmed those it disarmed.
	Restarted []string `json:"restarted,omitempty"`
	Disarmed  []string `json:"disarmed,omitempty"`
	// Frozen lists nodes Stop found paused: they are disarmed when thawed.
	Frozen []string `json:"frozen,omitempty"`
	Note   string   `json:"note,omitempty"`
}

// NewFailpoint returns a failpoint fault. Each mode is an action
// (FailCrash, FailError, FailSleep) or a failpoint's name (it has a '/',
// as in "kv/after-commit"); actions restrict the actions and names the
// points Start picks from. No actions means all; no names, every point a
// node registers.
func NewFailpoint(modes ...string) (*Failpoint, error) {
	f := &Failpoint{}
	for _, m := range modes {
		switch {
		case slices.Contains(failActions, m):
			f.actions = append(f.actions, m)
		case strings.Contains(m, "/"):
			f.points = append(f.points, m)
		default:
			return nil, fmt.Errorf("failpoint mode %q: want one of %s, or a failpoint's name such as kv/after-commit", m, strings.Join(failActions, ", "))
		}
	}
	if len(f.actions) == 0 {
		f.actions = failActions
	}
	return f, nil
}

func (f *Failpoint) Name() string { return "failpoint" }

// Start arms a failpoint picked with rng.
func (f *Failpoint) Start(ctx context.Context, c Cluster, rng *rand.Rand) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := FailpointEvent{}
	up, err := nodesIn(ctx, c, NodeUp) // a frozen node cannot answer
	if err != nil {
		return ev, fmt.Errorf("failpoint: %w", err)
	}
	if len(up) == 0 {
		return ev, fmt.Errorf("failpoint: no node is up to arm: %w", ErrSkipped)
	}
	// The catalog of the first node that answers: another family may
	// take a node down between the listing of the nodes up and the ask.
	var catalog []string
	for len(up) > 0 {
		catalog, err = c.Failpoints(ctx, up[0])
		if !errors.Is(err, ErrNodeDown) && !errors.Is(err, ErrNodePaused) {
			break
		}
		ev.Down = append(ev.Down, up[0])
		up = up[1:]
	}
	switch {
	case len(up) == 0:
		return ev, fmt.Errorf("failpoint: no node up answered: %w", ErrSkipped)
	case err != nil:
		return ev, fmt.Errorf("failpoint: list the failpoints of node %s: %w", up[0], err)
	}
	points := slices.Sorted(slices.Values(catalog))
	if len(f.points) > 0 {
		for _, p := range f.points {
			if !slices.Contains(points, p) {
				return ev, fmt.Errorf("failpoint %s: node %s has no such point (it has %s)", p, up[0], strings.Join(points, ", "))
			}
		}
		points = f.points
	}
	if len(points) == 0 {
		return ev, fmt.Errorf("failpoint: node %s registers no failpoints", up[0])
	}
	ev.Point = points[rng.IntN(len(points))]
	action := f.actions[rng.IntN(len(f.actions))]
	var nodes []string
	switch action {
	case FailCrash:
		target := []string{TargetOne, TargetLeader}[rng.IntN(2)]
		nodes, ev.Note, err = pickTargets(ctx, c, target, len(c.Nodes()), up, rng)
		if err != nil {
			return ev, fmt.Errorf("failpoint: %w", err)
		}
		ev.Spec = "1*crash"
	case FailError:
		nodes = up
		ev.Spec = fmt.Sprintf("%d%%error(injected by the squall nemesis)", []int{10, 50, 100}[rng.IntN(3)])
	default:
		nodes = up
		ev.Spec = fmt.Sprintf("%d%%sleep(%dms)", []int{10, 50, 100}[rng.IntN(3)], 10+rng.IntN(491))
	}
	f.armed, f.spec = ev.Point, ev.Spec
	f.nodes = append(f.nodes, nodes...)
	var down []string
	ev.Nodes, down, ev.Frozen, err = onEach(nodes, func(node string) error { return c.ArmFailpoint(ctx, node, ev.Point, ev.Spec) })
	ev.Down = append(ev.Down, down...)
	if err != nil {
		return ev, fmt.Errorf("arm %s with %s: %w", ev.Point, ev.Spec, err)
	}
	return ev, nil
}

// Stop disarms the armed point on every running node and starts the
// armed nodes that are down. A node that fails to start stays on the list
// for the next Stop.
func (f *Failpoint) Stop(ctx context.Context, c Cluster) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := FailpointEvent{Point: f.armed, Spec: f.spec}
	var errs []error
	if f.armed != "" {
		for _, node := range nodeNames(c.Nodes()) {
			err := c.ArmFailpoint(ctx, node, f.armed, "off")
			switch {
			case errors.Is(err, ErrNodePaused):
				if f.frozen == nil {
					f.frozen = map[string]string{}
				}
				f.frozen[node] = f.armed
				ev.Frozen = append(ev.Frozen, node)
			case errors.Is(err, ErrNodeDown):
			case err != nil:
				errs = append(errs, fmt.Errorf("disarm %s on node %s: %w", f.armed, node, err))
			default:
				ev.Disarmed = append(ev.Disarmed, node)
			}
		}
	}
	// A crash takes its node down, and so does an error where the node
	// cannot go on (a failed fsync, a failed apply): start every armed
	// node that is down.
	var still []string
	for _, node := range f.nodes {
		st, err := c.State(ctx, node)
		if err == nil && st != NodeDown {
			continue // still up, or another family restarted it
		}
		if err == nil {
			err = c.Start(ctx, node)
		}
		if err != nil {
			still = append(still, node)
			errs = append(errs, fmt.Errorf("restart node %s, which the failpoint took down: %w", node, err))
			continue
		}
		ev.Restarted = append(ev.Restarted, node)
	}
	f.nodes = slices.Compact(slices.Sorted(slices.Values(still)))
	if len(errs) == 0 {
		f.armed, f.spec = "", ""
	}
	return ev, errors.Join(errs...)
}

// NodeResumed disarms the point of a thawed node that Stop found frozen.
func (f *Failpoint) NodeResumed(ctx context.Context, c Cluster, node string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	point, ok := f.frozen[node]
	if !ok {
		return false, nil
	}
	err := c.ArmFailpoint(ctx, node, point, "off")
	if err != nil && !errors.Is(err, ErrNodeDown) {
		return true, fmt.Errorf("disarm %s on thawed node %s: %w", point, node, err)
	}
	delete(f.frozen, node)
	return true, nil
}
