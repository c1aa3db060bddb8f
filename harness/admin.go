package harness

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/system/fault/faultpb"
	"github.com/squall-chaos/squall/workloads"
)

// The clock and failpoint faults reach a node through its admin service
// (system/fault), served beside its client API on the node's address.
// Partition rules never block the controller, so it is reachable while
// the node is cut off from its peers.

// adminCall makes one call to the admin service of node, which must be
// running; a call to a node that is down fails with nemesis.ErrNodeDown,
// to one that is frozen with nemesis.ErrNodePaused.
func (c *nemesisCluster) adminCall(ctx context.Context, node string, call func(context.Context, faultpb.AdminClient) error) error {
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
	_, err = askNodeWithin(ctx, n, adminTimeout, func(ctx context.Context, conn *grpc.ClientConn) (struct{}, error) {
		return struct{}{}, call(ctx, faultpb.NewAdminClient(conn))
	})
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

// SetClock changes node's injectable clock.
func (c *nemesisCluster) SetClock(ctx context.Context, node string, change nemesis.ClockChange) error {
	req := &faultpb.SetClockRequest{Reset_: change.Reset, Rate: change.Rate}
	if change.Offset != nil {
		ns := int64(*change.Offset)
		req.OffsetNs = &ns
	}
	if change.StrobePeriod != 0 {
		delta, period := int64(change.StrobeDelta), int64(change.StrobePeriod)
		req.StrobeDeltaNs, req.StrobePeriodNs = &delta, &period
	}
	return c.adminCall(ctx, node, func(ctx context.Context, a faultpb.AdminClient) error {
		_, err := a.SetClock(ctx, req)
		return err
	})
}

// Failpoints lists the failpoints node registered.
func (c *nemesisCluster) Failpoints(ctx context.Context, node string) ([]string, error) {
	var names []string
	err := c.adminCall(ctx, node, func(ctx context.Context, a faultpb.AdminClient) error {
		resp, err := a.ListFailpoints(ctx, &faultpb.ListFailpointsRequest{})
		for _, fp := range resp.GetFailpoints() {
			names = append(names, fp.GetName())
		}
		return err
	})
	return names, err
}

// ArmFailpoint arms node's failpoint name with spec, or disarms it if spec
// is "off". Disarming a point of a node that restarted since (and so has
// nothing armed) is no error.
func (c *nemesisCluster) ArmFailpoint(ctx context.Context, node, name, spec string) error {
	return c.adminCall(ctx, node, func(ctx context.Context, a faultpb.AdminClient) error {
		var err error
		if spec == "off" {
			_, err = a.DisarmFailpoint(ctx, &faultpb.DisarmFailpointRequest{Name: name})
		} else {
			_, err = a.ArmFailpoint(ctx, &faultpb.ArmFailpointRequest{Name: name, Spec: spec})
		}
		if status.Code(err) == codes.NotFound {
			return fmt.Errorf("node %s has no failpoint %s: %w", node, name, err)
		}
		return err
	})
}

// adminTimeout bounds one admin call: longer than a status probe's
// second, since a fault that fails to apply makes the run's verdict
// unknown, and a node under a fault may answer slowly.
const adminTimeout = 5 * time.Second
