package fault

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/fault/faultpb"
)

// AdminServer is the admin gRPC service of a node (faultpb.Admin): it lets
// the harness read and set the node's clock faults and failpoints while the
// node runs. Bad requests fail with codes.InvalidArgument, or
// codes.NotFound for a failpoint no code registered, and change nothing.
type AdminServer struct {
	faultpb.UnimplementedAdminServer
	clock *SkewedClock
	fps   *Failpoints
}

// NewAdminServer returns a server that controls clock and fps.
func NewAdminServer(clock *SkewedClock, fps *Failpoints) *AdminServer {
	return &AdminServer{clock: clock, fps: fps}
}

// Register adds the service to s.
func (a *AdminServer) Register(s *grpc.Server) {
	faultpb.RegisterAdminServer(s, a)
}

// GetClock returns the clock's reading and settings.
func (a *AdminServer) GetClock(context.Context, *faultpb.GetClockRequest) (*faultpb.ClockState, error) {
	return a.clockState(), nil
}

// SetClock resets the clock if asked, then applies the fields present.
func (a *AdminServer) SetClock(_ context.Context, req *faultpb.SetClockRequest) (*faultpb.ClockState, error) {
	if err := validateSetClock(req); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if req.GetReset_() {
		a.clock.Reset()
	}
	if req.OffsetNs != nil {
		a.clock.SetOffset(time.Duration(req.GetOffsetNs()))
	}
	if req.Rate != nil {
		if err := a.clock.SetRate(req.GetRate()); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if req.StrobeDeltaNs != nil {
		delta, period := time.Duration(req.GetStrobeDeltaNs()), time.Duration(req.GetStrobePeriodNs())
		if err := a.clock.SetStrobe(delta, period); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	return a.clockState(), nil
}

// validateSetClock checks every field before any is applied, so that a bad
// request leaves the clock as it was. SkewedClock checks the same again.
func validateSetClock(req *faultpb.SetClockRequest) error {
	if req.Rate != nil {
		if r := req.GetRate(); !(r > 0) || math.IsInf(r, 1) {
			return fmt.Errorf("rate %v: want a positive finite number, 1 for real time", r)
		}
	}
	if (req.StrobeDeltaNs == nil) != (req.StrobePeriodNs == nil) {
		return errors.New("strobe_delta_ns and strobe_period_ns: want both or neither")
	}
	delta, period := req.GetStrobeDeltaNs(), req.GetStrobePeriodNs()
	if period < 0 || (delta != 0 && period == 0) {
		return fmt.Errorf("strobe_period_ns %d: want a positive period for strobe_delta_ns %d", period, delta)
	}
	return nil
}

// clockState reads the clock: the reading, the host's reading it was made
// from, and the settings, all at one instant.
func (a *AdminServer) clockState() *faultpb.ClockState {
	skewed, host, s := a.clock.State()
	return &faultpb.ClockState{
		SkewedUnixNano: skewed.UnixNano(),
		RealUnixNano:   host.UnixNano(),
		OffsetNs:       int64(s.Offset),
		Rate:           s.Rate,
		StrobeDeltaNs:  int64(s.StrobeDelta),
		StrobePeriodNs: int64(s.StrobePeriod),
	}
}

// ListFailpoints returns every registered failpoint.
func (a *AdminServer) ListFailpoints(context.Context, *faultpb.ListFailpointsRequest) (*faultpb.ListFailpointsResponse, error) {
	list := a.fps.List()
	resp := &faultpb.ListFailpointsResponse{Failpoints: make([]*faultpb.Failpoint, len(list))}
	for i, s := range list {
		resp.Failpoints[i] = failpointProto(s)
	}
	return resp, nil
}

// ArmFailpoint arms a failpoint and returns its new state.
func (a *AdminServer) ArmFailpoint(_ context.Context, req *faultpb.ArmFailpointRequest) (*faultpb.Failpoint, error) {
	if err := checkFailpointName(req.GetName()); err != nil {
		return nil, err
	}
	if err := a.fps.Arm(req.GetName(), req.GetSpec()); err != nil {
		return nil, failpointError(err)
	}
	return a.failpoint(req.GetName())
}

// DisarmFailpoint disarms a failpoint and returns its state.
func (a *AdminServer) DisarmFailpoint(_ context.Context, req *faultpb.DisarmFailpointRequest) (*faultpb.Failpoint, error) {
	if err := checkFailpointName(req.GetName()); err != nil {
		return nil, err
	}
	if err := a.fps.Disarm(req.GetName()); err != nil {
		return nil, failpointError(err)
	}
	return a.failpoint(req.GetName())
}

func checkFailpointName(name string) error {
	if name == "" {
		return status.Error(codes.InvalidArgument, "name: want the name of a failpoint, as ListFailpoints returns")
	}
	return nil
}

// failpoint returns the state of the registered point name.
func (a *AdminServer) failpoint(name string) (*faultpb.Failpoint, error) {
	for _, s := range a.fps.List() {
		if s.Name == name {
			return failpointProto(s), nil
		}
	}
	// Points are never unregistered, so Arm or Disarm would have failed.
	return nil, status.Errorf(codes.Internal, "failpoint %s vanished from the registry", name)
}

// failpointError maps an error of Arm or Disarm to a gRPC status.
func failpointError(err error) error {
	if errors.Is(err, ErrUnknownFailpoint) {
		return status.Error(codes.NotFound, err.Error())
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

func failpointProto(s FailpointStatus) *faultpb.Failpoint {
	return &faultpb.Failpoint{Name: s.Name, Description: s.Description, Spec: s.Spec, Fired: s.Fired}
}
