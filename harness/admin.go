package harness

import (
	"context"
	"fmt"

	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/workloads"
)

// The clock and failpoint faults reach a node through its admin service
// (system/fault), served beside its client API on the node's address.
// Partition rules never block the controller, so it is reachable while
// the node is cut off from its peers.

// adminCall makes one call to the admin service of node, which must be
// running; a call to a node that is down fails with nemesis.ErrNodeDown,
// to one that is frozen with nemesis.ErrNodePaused.
func (c *nemesisCluster) adminCall(ctx context.Context, node string, call func(addr string) error) error {
	switch st, err := c.State(ctx, node); {
	case err != nil:
		return err
	case st == nemesis.NodeDown:
		return fmt.Errorf("node %s: %w", node, nemesis.ErrNodeDown)
	case st == nemesis.NodePaused:
		return fmt.Errorf("node %s: %w", node, nemesis.ErrNodePaused)
	}
	n, err := c.node(node)
	if err != nil {
		return err
	}
	err = call(n.Addr)
	if err != nil {
		if c.WentDown(ctx, node) {
			// It died as it was asked: a failpoint's error stopped it.
			return fmt.Errorf("node %s went down: %w (%v)", node, nemesis.ErrNodeDown, err)
		}
		return fmt.Errorf("node %s's admin service: %w", node, err)
	}
	return nil
}

func (c *nemesisCluster) node(name string) (workloads.Node, error) {
	for _, n := range c.nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return workloads.Node{}, fmt.Errorf("no node %q", name)
}

// admin is the system's admin API; refused families never get here.
func (c *nemesisCluster) admin() (sut.NodeAdmin, error) {
	a, ok := c.sys.(sut.NodeAdmin)
	if !ok {
		return nil, fmt.Errorf("%s nodes serve no admin API", c.sys.Name())
	}
	return a, nil
}

// SetClock changes node's injectable clock.
func (c *nemesisCluster) SetClock(ctx context.Context, node string, change nemesis.ClockChange) error {
	a, err := c.admin()
	if err != nil {
		return err
	}
	return c.adminCall(ctx, node, func(addr string) error { return a.SetClock(ctx, addr, change) })
}

// Failpoints lists the failpoints node registered.
func (c *nemesisCluster) Failpoints(ctx context.Context, node string) ([]string, error) {
	a, err := c.admin()
	if err != nil {
		return nil, err
	}
	var names []string
	err = c.adminCall(ctx, node, func(addr string) (err error) {
		names, err = a.Failpoints(ctx, addr)
		return err
	})
	return names, err
}

// ArmFailpoint arms node's failpoint name with spec, or disarms it if spec
// is "off".
func (c *nemesisCluster) ArmFailpoint(ctx context.Context, node, name, spec string) error {
	a, err := c.admin()
	if err != nil {
		return err
	}
	return c.adminCall(ctx, node, func(addr string) error {
		if err := a.ArmFailpoint(ctx, addr, name, spec); err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
		return nil
	})
}
