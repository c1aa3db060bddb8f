package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/squall-chaos/squall/history"
)

// fakeCluster is an in-memory cluster. Its nodes' processes are whatever
// spawn returns (a process in a network namespace of the test's own, or
// the test process itself when no namespace is needed).
type fakeCluster struct {
	mu        sync.Mutex
	nodes     []Node
	leader    string
	leaderErr error
	protected []netip.Addr
	spawn     func(node string) int
	pids      map[string]int // running nodes
	killErr   map[string]error
	startErr  map[string]error
	log       []string // "kill n1", "start n1"
	maxDown   int
}

// newFakeCluster returns a running cluster of n nodes n1..nN at
// 10.99.0.1..N.
func newFakeCluster(n int, spawn func(node string) int) *fakeCluster {
	if spawn == nil {
		spawn = func(string) int { return os.Getpid() }
	}
	c := &fakeCluster{spawn: spawn, pids: make(map[string]int), killErr: map[string]error{}, startErr: map[string]error{}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		c.nodes = append(c.nodes, Node{Name: name, IP: netip.AddrFrom4([4]byte{10, 99, 0, byte(i)})})
		c.pids[name] = spawn(name)
	}
	return c
}

func (c *fakeCluster) Nodes() []Node { return slices.Clone(c.nodes) }

func (c *fakeCluster) PID(_ context.Context, node string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pid, ok := c.pids[node]
	if !ok {
		return 0, fmt.Errorf("node %s is down", node)
	}
	return pid, nil
}

func (c *fakeCluster) Kill(_ context.Context, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.killErr[node]; err != nil {
		return err
	}
	if _, ok := c.pids[node]; !ok {
		return fmt.Errorf("kill %s: already down", node)
	}
	delete(c.pids, node)
	c.log = append(c.log, "kill "+node)
	c.maxDown = max(c.maxDown, len(c.nodes)-len(c.pids))
	return nil
}

func (c *fakeCluster) Start(_ context.Context, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.startErr[node]; err != nil {
		return err
	}
	if _, ok := c.pids[node]; ok {
		return fmt.Errorf("start %s: already running", node)
	}
	c.pids[node] = c.spawn(node)
	c.log = append(c.log, "start "+node)
	return nil
}

func (c *fakeCluster) Leader(context.Context) (string, error) { return c.leader, c.leaderErr }

func (c *fakeCluster) Protected() []netip.Addr { return c.protected }

func (c *fakeCluster) down() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var down []string
	for _, n := range c.nodes {
		if _, ok := c.pids[n.Name]; !ok {
			down = append(down, n.Name)
		}
	}
	return down
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
