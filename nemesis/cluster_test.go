package nemesis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/nemesis/netfault"
)

// fakeCluster is an in-memory cluster: it remembers what every fault did
// to each node (the network state of each family, the clock, the armed
// failpoints, whether it runs or is paused). A node that restarts comes
// back with a fresh namespace and clock, and nothing armed, as a real one
// does.
type fakeCluster struct {
	mu        sync.Mutex
	nodes     []Node
	leader    string
	leaderErr error
	protected []netip.Addr
	running   map[string]bool
	paused    map[string]bool
	net       map[string]map[string]netfault.Change // node -> family -> state
	clocks    map[string][]ClockChange              // node -> changes since its start
	armed     map[string]map[string]string          // node -> failpoint -> spec
	points    []string                              // every node's failpoints
	killErr   map[string]error
	startErr  map[string]error
	netErr    map[string]error
	log       []string // "kill n1", "start n1", "pause n1", ...
	maxDown   int
}

// newFakeCluster returns a running cluster of n nodes n1..nN at
// 10.99.0.1..N.
func newFakeCluster(n int) *fakeCluster {
	c := &fakeCluster{running: map[string]bool{}, paused: map[string]bool{},
		net: map[string]map[string]netfault.Change{}, clocks: map[string][]ClockChange{}, armed: map[string]map[string]string{},
		killErr: map[string]error{}, startErr: map[string]error{}, netErr: map[string]error{}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		c.nodes = append(c.nodes, Node{Name: name, IP: netip.AddrFrom4([4]byte{10, 99, 0, byte(i)})})
		c.running[name] = true
	}
	return c
}

func (c *fakeCluster) Nodes() []Node { return slices.Clone(c.nodes) }

func (c *fakeCluster) Protected() []netip.Addr { return c.protected }

func (c *fakeCluster) Leader(context.Context) (string, error) { return c.leader, c.leaderErr }

func (c *fakeCluster) State(_ context.Context, node string) (NodeState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.running[node]:
		return NodeDown, nil
	case c.paused[node]:
		return NodePaused, nil
	}
	return NodeUp, nil
}

// reachable fails as a frozen or dead node's admin service does.
func (c *fakeCluster) reachableLocked(node string) error {
	if !c.running[node] {
		return fmt.Errorf("node %s: %w", node, ErrNodeDown)
	}
	if c.paused[node] {
		return fmt.Errorf("node %s: %w", node, ErrNodePaused)
	}
	return nil
}

func (c *fakeCluster) Kill(_ context.Context, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.killErr[node]; err != nil {
		return err
	}
	if !c.running[node] {
		return fmt.Errorf("kill %s: already down", node)
	}
	c.running[node] = false
	delete(c.paused, node)
	c.log = append(c.log, "kill "+node)
	c.maxDown = max(c.maxDown, len(c.nodes)-c.upLocked())
	return nil
}

func (c *fakeCluster) upLocked() int {
	up := 0
	for _, r := range c.running {
		if r {
			up++
		}
	}
	return up
}

func (c *fakeCluster) Start(_ context.Context, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startErr[node]; err != nil {
		return err
	}
	if c.running[node] {
		return fmt.Errorf("start %s: already running", node)
	}
	c.running[node] = true
	delete(c.net, node)
	delete(c.clocks, node)
	delete(c.armed, node)
	c.log = append(c.log, "start "+node)
	return nil
}

func (c *fakeCluster) Pause(_ context.Context, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running[node] {
		return fmt.Errorf("pause %s: %w", node, ErrNodeDown)
	}
	c.paused[node] = true
	c.log = append(c.log, "pause "+node)
	return nil
}

func (c *fakeCluster) Unpause(_ context.Context, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused[node] {
		return fmt.Errorf("unpause %s: not paused", node)
	}
	delete(c.paused, node)
	c.log = append(c.log, "unpause "+node)
	return nil
}

func (c *fakeCluster) Net(_ context.Context, node string, change netfault.Change) error {
	if err := change.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running[node] {
		return fmt.Errorf("net %s: %w", node, ErrNodeDown)
	}
	if err := c.netErr[node]; err != nil {
		return err
	}
	if c.net[node] == nil {
		c.net[node] = map[string]netfault.Change{}
	}
	if len(change.Drop)+len(change.Loss) == 0 && change.Rate == 0 && change.Delay == 0 {
		delete(c.net[node], change.Family)
	} else {
		c.net[node][change.Family] = change
	}
	return nil
}

// netState is node's state of family: the zero Change if it has none.
func (c *fakeCluster) netState(node, family string) netfault.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.net[node][family]
}

func (c *fakeCluster) SetClock(_ context.Context, node string, change ClockChange) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reachableLocked(node); err != nil {
		return err
	}
	if change.Reset {
		c.clocks[node] = nil
	}
	if !change.Reset || change.Offset != nil || change.Rate != nil || change.StrobePeriod != 0 {
		c.clocks[node] = append(c.clocks[node], change)
	}
	return nil
}

// clockFaulty lists the nodes whose clocks were changed since their last
// reset.
func (c *fakeCluster) clockFaulty() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var nodes []string
	for n, changes := range c.clocks {
		if len(changes) > 0 {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	return nodes
}

func (c *fakeCluster) Failpoints(_ context.Context, node string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reachableLocked(node); err != nil {
		return nil, err
	}
	return slices.Clone(c.points), nil
}

func (c *fakeCluster) ArmFailpoint(_ context.Context, node, name, spec string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reachableLocked(node); err != nil {
		return err
	}
	if !slices.Contains(c.points, name) {
		return fmt.Errorf("node %s has no failpoint %q", node, name)
	}
	if c.armed[node] == nil {
		c.armed[node] = map[string]string{}
	}
	if spec == "off" {
		delete(c.armed[node], name)
	} else {
		c.armed[node][name] = spec
	}
	return nil
}

// armedPoints lists "node name=spec" for every armed failpoint.
func (c *fakeCluster) armedPoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for node, points := range c.armed {
		for _, name := range slices.Sorted(maps.Keys(points)) {
			out = append(out, node+" "+name+"="+points[name])
		}
	}
	slices.Sort(out)
	return out
}

func (c *fakeCluster) down() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var down []string
	for _, n := range c.nodes {
		if !c.running[n.Name] {
			down = append(down, n.Name)
		}
	}
	return down
}

func (c *fakeCluster) pausedNodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.paused))
}

// logged is the cluster's log of kills, starts, pauses and unpauses.
func (c *fakeCluster) logged() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, ", ")
}

// memRecorder is a Recorder keeping the history in memory.
type memRecorder struct {
	mu  sync.Mutex
	ops history.History
}

func (r *memRecorder) Record(op history.Op) history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = int64(len(r.ops))
	r.ops = append(r.ops, op)
	return op
}

func (r *memRecorder) history() history.History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

var errInjected = errors.New("injected failure")
