package squallnode

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/system/fault/faultpb"
)

// Admin reaches a squall node's admin service (system/fault), served
// beside its client API: the injectable clock and the failpoints. It
// implements sut.NodeAdmin.
type Admin struct{}

// adminTimeout bounds one admin call: longer than a status probe's
// second, since a fault that fails to apply makes the run's verdict
// unknown, and a node under a fault may answer slowly.
const adminTimeout = 5 * time.Second

func call(ctx context.Context, addr string, do func(context.Context, faultpb.AdminClient) error) error {
	_, err := AskNode(ctx, addr, adminTimeout, func(ctx context.Context, conn *grpc.ClientConn) (struct{}, error) {
		return struct{}{}, do(ctx, faultpb.NewAdminClient(conn))
	})
	return err
}

// SetClock changes the node's injectable clock.
func (Admin) SetClock(ctx context.Context, addr string, change nemesis.ClockChange) error {
	req := &faultpb.SetClockRequest{Reset_: change.Reset, Rate: change.Rate}
	if change.Offset != nil {
		ns := int64(*change.Offset)
		req.OffsetNs = &ns
	}
	if change.StrobePeriod != 0 {
		delta, period := int64(change.StrobeDelta), int64(change.StrobePeriod)
		req.StrobeDeltaNs, req.StrobePeriodNs = &delta, &period
	}
	return call(ctx, addr, func(ctx context.Context, a faultpb.AdminClient) error {
		_, err := a.SetClock(ctx, req)
		return err
	})
}

// Failpoints lists the failpoints the node registered.
func (Admin) Failpoints(ctx context.Context, addr string) ([]string, error) {
	var names []string
	err := call(ctx, addr, func(ctx context.Context, a faultpb.AdminClient) error {
		resp, err := a.ListFailpoints(ctx, &faultpb.ListFailpointsRequest{})
		for _, fp := range resp.GetFailpoints() {
			names = append(names, fp.GetName())
		}
		return err
	})
	return names, err
}

// ArmFailpoint arms the node's failpoint name with spec, or disarms it if
// spec is "off". Disarming a point of a node that restarted since (and so
// has nothing armed) is no error.
func (Admin) ArmFailpoint(ctx context.Context, addr, name, spec string) error {
	return call(ctx, addr, func(ctx context.Context, a faultpb.AdminClient) error {
		var err error
		if spec == "off" {
			_, err = a.DisarmFailpoint(ctx, &faultpb.DisarmFailpointRequest{Name: name})
		} else {
			_, err = a.ArmFailpoint(ctx, &faultpb.ArmFailpointRequest{Name: name, Spec: spec})
		}
		if status.Code(err) == codes.NotFound {
			return fmt.Errorf("no failpoint %s: %w", name, err)
		}
		return err
	})
}
