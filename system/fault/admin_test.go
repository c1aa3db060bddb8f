package fault

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/squall-chaos/squall/system/fault/faultpb"
)

// startAdmin serves an AdminServer for clock and fps on a loopback port and
// returns a client connected to it.
func startAdmin(t *testing.T, clock *SkewedClock, fps *Failpoints) faultpb.AdminClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	NewAdminServer(clock, fps).Register(srv)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial admin server at %s: %v", lis.Addr(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return faultpb.NewAdminClient(conn)
}

// rpcContext bounds an RPC by the hang guard.
func rpcContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

func setClock(t *testing.T, client faultpb.AdminClient, req *faultpb.SetClockRequest) *faultpb.ClockState {
	t.Helper()
	state, err := client.SetClock(rpcContext(t), req)
	if err != nil {
		t.Fatalf("SetClock(%v): %v", req, err)
	}
	return state
}

func expectReading(t *testing.T, clock *SkewedClock, want time.Time, what string) {
	t.Helper()
	if got := clock.Now(); !got.Equal(want) {
		t.Errorf("%s: Now = %v, want %v", what, got, want)
	}
}

func TestAdminSetsTheClock(t *testing.T) {
	clock, host := newFakeSkewedClock()
	client := startAdmin(t, clock, NewFailpoints(clock, nil))

	state := setClock(t, client, &faultpb.SetClockRequest{OffsetNs: proto.Int64(int64(time.Hour))})
	expectReading(t, clock, epoch.Add(time.Hour), "after offset 1h")
	if skew := time.Duration(state.SkewedUnixNano - state.RealUnixNano); skew != time.Hour {
		t.Errorf("SetClock reports skewed - real = %v, want 1h", skew)
	}

	// Rate alone leaves the offset in place and bends the reading.
	setClock(t, client, &faultpb.SetClockRequest{Rate: proto.Float64(2)})
	host.advance(10 * time.Second)
	expectReading(t, clock, epoch.Add(time.Hour+20*time.Second), "10s after rate 2")

	// A strobe jumps the reading by its delta and back after a period.
	setClock(t, client, &faultpb.SetClockRequest{
		StrobeDeltaNs:  proto.Int64(int64(-time.Minute)),
		StrobePeriodNs: proto.Int64(int64(time.Second)),
	})
	expectReading(t, clock, epoch.Add(time.Hour+20*time.Second-time.Minute), "strobe's first period")
	host.advance(time.Second)
	expectReading(t, clock, epoch.Add(time.Hour+22*time.Second), "strobe's second period")

	state, err := client.GetClock(rpcContext(t), &faultpb.GetClockRequest{})
	if err != nil {
		t.Fatalf("GetClock: %v", err)
	}
	want := &faultpb.ClockState{
		SkewedUnixNano: epoch.Add(time.Hour + 22*time.Second).UnixNano(),
		RealUnixNano:   epoch.Add(11 * time.Second).UnixNano(),
		OffsetNs:       int64(time.Hour),
		Rate:           2,
		StrobeDeltaNs:  int64(-time.Minute),
		StrobePeriodNs: int64(time.Second),
	}
	if !proto.Equal(state, want) {
		t.Errorf("GetClock = %v, want %v", state, want)
	}

	// Reset makes the clock true; fields after it still apply.
	setClock(t, client, &faultpb.SetClockRequest{Reset_: true, OffsetNs: proto.Int64(int64(time.Second))})
	if got, want := clock.Skew(), (Settings{Offset: time.Second, Rate: 1}); got != want {
		t.Errorf("Skew after reset and offset 1s = %+v, want %+v", got, want)
	}
	expectReading(t, clock, epoch.Add(12*time.Second), "after reset and offset 1s")
}

func TestAdminSkewsARealClock(t *testing.T) {
	clock := NewClock()
	client := startAdmin(t, clock, NewFailpoints(clock, nil))
	setClock(t, client, &faultpb.SetClockRequest{OffsetNs: proto.Int64(int64(time.Hour))})
	// Generous bounds: they only need to tell a 1h skew from none.
	if skew := clock.Now().Sub(time.Now()); skew < 59*time.Minute || skew > 61*time.Minute {
		t.Errorf("skew after offset 1h = %v, want about 1h", skew)
	}
}

func TestAdminRejectsBadClockRequests(t *testing.T) {
	clock, _ := newFakeSkewedClock()
	client := startAdmin(t, clock, NewFailpoints(clock, nil))
	setClock(t, client, &faultpb.SetClockRequest{OffsetNs: proto.Int64(int64(time.Second))})
	before := clock.Skew()

	for _, tt := range []struct {
		req  *faultpb.SetClockRequest
		want string
	}{
		{&faultpb.SetClockRequest{Rate: proto.Float64(0)}, "rate 0: want a positive finite number"},
		{&faultpb.SetClockRequest{Rate: proto.Float64(-1)}, "rate -1"},
		{&faultpb.SetClockRequest{Rate: proto.Float64(math.NaN())}, "rate NaN"},
		{&faultpb.SetClockRequest{Rate: proto.Float64(math.Inf(1))}, "rate +Inf"},
		{&faultpb.SetClockRequest{StrobeDeltaNs: proto.Int64(1)}, "strobe_delta_ns and strobe_period_ns: want both"},
		{&faultpb.SetClockRequest{StrobePeriodNs: proto.Int64(1)}, "strobe_delta_ns and strobe_period_ns: want both"},
		{&faultpb.SetClockRequest{StrobeDeltaNs: proto.Int64(1), StrobePeriodNs: proto.Int64(0)}, "strobe_period_ns 0: want a positive period"},
		{&faultpb.SetClockRequest{StrobeDeltaNs: proto.Int64(0), StrobePeriodNs: proto.Int64(-1)}, "strobe_period_ns -1"},
		// A bad field fails the request before the good ones apply.
		{&faultpb.SetClockRequest{Reset_: true, OffsetNs: proto.Int64(5), Rate: proto.Float64(0)}, "rate 0"},
	} {
		_, err := client.SetClock(rpcContext(t), tt.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tt.want) {
			t.Errorf("SetClock(%v) = %v, want InvalidArgument containing %q", tt.req, err, tt.want)
		}
	}
	if got := clock.Skew(); got != before {
		t.Errorf("Skew after rejected requests = %+v, want unchanged %+v", got, before)
	}
}

func TestAdminArmsFailpoints(t *testing.T) {
	clock, _ := newFakeSkewedClock()
	fps, crashes := newTestFailpoints(clock, "kv/apply", "wal/sync")
	client := startAdmin(t, clock, fps)
	ctx := context.Background()

	list, err := client.ListFailpoints(rpcContext(t), &faultpb.ListFailpointsRequest{})
	if err != nil {
		t.Fatalf("ListFailpoints: %v", err)
	}
	want := []*faultpb.Failpoint{
		{Name: "kv/apply", Description: "test point kv/apply", Spec: "off"},
		{Name: "wal/sync", Description: "test point wal/sync", Spec: "off"},
	}
	expectFailpoints(t, list.Failpoints, want)

	fp, err := client.ArmFailpoint(rpcContext(t), &faultpb.ArmFailpointRequest{Name: "kv/apply", Spec: "error(disk full)"})
	if err != nil {
		t.Fatalf("ArmFailpoint: %v", err)
	}
	if fp.Spec != "error(disk full)" || fp.Fired != 0 {
		t.Errorf("ArmFailpoint returned %v, want spec error(disk full), fired 0", fp)
	}
	if err := fps.Eval(ctx, "kv/apply"); !errors.Is(err, ErrInjected) || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Eval of the armed point = %v, want the injected disk full error", err)
	}
	if _, err := client.ArmFailpoint(rpcContext(t), &faultpb.ArmFailpointRequest{Name: "wal/sync", Spec: "1*crash"}); err != nil {
		t.Fatalf("ArmFailpoint: %v", err)
	}
	fps.Eval(ctx, "wal/sync")
	if n := crashes.Load(); n != 1 {
		t.Errorf("crashes after Eval of a point armed with crash = %d, want 1", n)
	}

	list, err = client.ListFailpoints(rpcContext(t), &faultpb.ListFailpointsRequest{})
	if err != nil {
		t.Fatalf("ListFailpoints: %v", err)
	}
	want[0].Spec, want[0].Fired = "error(disk full)", 1
	want[1].Spec, want[1].Fired = "1*crash", 1
	expectFailpoints(t, list.Failpoints, want)

	fp, err = client.DisarmFailpoint(rpcContext(t), &faultpb.DisarmFailpointRequest{Name: "kv/apply"})
	if err != nil {
		t.Fatalf("DisarmFailpoint: %v", err)
	}
	if fp.Spec != "off" || fp.Fired != 1 {
		t.Errorf("DisarmFailpoint returned %v, want spec off, fired 1", fp)
	}
	if err := fps.Eval(ctx, "kv/apply"); err != nil {
		t.Errorf("Eval after DisarmFailpoint = %v, want nil", err)
	}
}

func expectFailpoints(t *testing.T, got, want []*faultpb.Failpoint) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("failpoints = %v, want %v", got, want)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("failpoint %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestAdminRejectsBadFailpointRequests(t *testing.T) {
	clock, _ := newFakeSkewedClock()
	fps, _ := newTestFailpoints(clock, "kv/apply")
	client := startAdmin(t, clock, fps)

	for _, tt := range []struct {
		name, spec string
		code       codes.Code
		want       string
	}{
		{"kv/apply", "explode", codes.InvalidArgument, `failpoint spec "explode": unknown action`},
		{"kv/apply", "sleep(soon)", codes.InvalidArgument, "sleep: want a positive duration"},
		{"kv/aply", "crash", codes.NotFound, "kv/aply"},
		{"", "crash", codes.InvalidArgument, "name: want the name of a failpoint"},
	} {
		_, err := client.ArmFailpoint(rpcContext(t), &faultpb.ArmFailpointRequest{Name: tt.name, Spec: tt.spec})
		if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.want) {
			t.Errorf("ArmFailpoint(%q, %q) = %v, want %v containing %q", tt.name, tt.spec, err, tt.code, tt.want)
		}
	}
	_, err := client.DisarmFailpoint(rpcContext(t), &faultpb.DisarmFailpointRequest{Name: "kv/aply"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("DisarmFailpoint of an unregistered point = %v, want NotFound", err)
	}
	if err := fps.Eval(context.Background(), "kv/apply"); err != nil {
		t.Errorf("Eval after rejected requests = %v, want nil", err)
	}
}
