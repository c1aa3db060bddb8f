package kv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/squall-chaos/squall/system/fault/faultpb"
)

// adminClients connects to the admin service of each node.
func adminClients(t *testing.T, nodes []*Node) []faultpb.AdminClient {
	t.Helper()
	var admins []faultpb.AdminClient
	for _, n := range nodes {
		conn, err := grpc.NewClient(n.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		admins = append(admins, faultpb.NewAdminClient(conn))
	}
	return admins
}

// arm arms a failpoint on every node: which node serves a request depends
// on who leads, and a point fires only where the request is served.
func arm(t *testing.T, ctx context.Context, admins []faultpb.AdminClient, name, spec string) {
	t.Helper()
	for i, a := range admins {
		fp, err := a.ArmFailpoint(ctx, &faultpb.ArmFailpointRequest{Name: name, Spec: spec})
		if err != nil {
			t.Fatalf("node %d: arm %s with %s: %v", i, name, spec, err)
		}
		if fp.Spec != spec {
			t.Fatalf("node %d: armed %s reads back as %q, want %q", i, name, fp.Spec, spec)
		}
	}
}

func disarm(t *testing.T, ctx context.Context, admins []faultpb.AdminClient, name string) {
	t.Helper()
	for i, a := range admins {
		fp, err := a.DisarmFailpoint(ctx, &faultpb.DisarmFailpointRequest{Name: name})
		if err != nil {
			t.Fatalf("node %d: disarm %s: %v", i, name, err)
		}
		if fp.Spec != "off" {
			t.Fatalf("node %d: disarmed %s reads back as %q, want off", i, name, fp.Spec)
		}
	}
}

// failpoint returns a node's state of the failpoint name.
func failpoint(t *testing.T, ctx context.Context, admin faultpb.AdminClient, name string) *faultpb.Failpoint {
	t.Helper()
	list, err := admin.ListFailpoints(ctx, &faultpb.ListFailpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fp := range list.Failpoints {
		if fp.Name == name {
			return fp
		}
	}
	t.Fatalf("failpoint %s not listed among %v", name, list.Failpoints)
	return nil
}

// adminCluster starts an in-process cluster and returns its nodes' admin
// clients and a client of its KV service.
func adminCluster(t *testing.T) ([]*Node, []faultpb.AdminClient, *Client) {
	nodes, peers := startNodes(t, 3, nil)
	client, err := NewClient(ClientConfig{Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return nodes, adminClients(t, nodes), client
}

func TestAdminListsKVFailpoints(t *testing.T) {
	_, admins, _ := adminCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	for _, name := range []string{FailBeforePropose, FailAfterCommit, FailBeforeRead} {
		fp := failpoint(t, ctx, admins[0], name)
		if fp.Description == "" || fp.Spec != "off" || fp.Fired != 0 {
			t.Errorf("failpoint %s listed as %v, want a description, spec off and nothing fired", name, fp)
		}
	}
}

func TestAdminClockOffsetAndRate(t *testing.T) {
	_, admins, client := adminCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	admin := admins[0]

	offset := int64(5 * time.Second)
	set, err := admin.SetClock(ctx, &faultpb.SetClockRequest{OffsetNs: &offset})
	if err != nil {
		t.Fatal(err)
	}
	got, err := admin.GetClock(ctx, &faultpb.GetClockRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*faultpb.ClockState{set, got} {
		// Both readings are taken together, so at rate 1 they differ by
		// the offset alone.
		skew := time.Duration(st.SkewedUnixNano - st.RealUnixNano)
		if st.OffsetNs != offset || st.Rate != 1 || skew < 5*time.Second-time.Millisecond || skew > 5*time.Second+time.Millisecond {
			t.Fatalf("clock after setting a 5s offset: %v (skew %v), want offset 5s, rate 1, skew 5s", st, skew)
		}
	}

	rate := 2.0
	if _, err := admin.SetClock(ctx, &faultpb.SetClockRequest{Reset_: true, Rate: &rate}); err != nil {
		t.Fatal(err)
	}
	before, err := admin.GetClock(ctx, &faultpb.GetClockRequest{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	after, err := admin.GetClock(ctx, &faultpb.GetClockRequest{})
	if err != nil {
		t.Fatal(err)
	}
	real := time.Duration(after.RealUnixNano - before.RealUnixNano)
	skewed := time.Duration(after.SkewedUnixNano - before.SkewedUnixNano)
	if after.Rate != 2 || after.OffsetNs != 0 || skewed < real*3/2 {
		t.Fatalf("at rate 2 the node's clock advanced %v in %v of real time (state %v), want about twice as far", skewed, real, after)
	}
	// The node still serves with its ticks running at double speed.
	if _, err := client.Put(ctx, "fast", []byte("x")); err != nil {
		t.Fatalf("put with one node's clock at rate 2: %v", err)
	}
}

func TestAdminFailpointBeforeProposeFailsDefinitely(t *testing.T) {
	_, admins, client := adminCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()

	arm(t, ctx, admins, FailBeforePropose, "error(disk full)")
	_, err := client.Put(ctx, "refused", []byte("x"))
	if !errors.Is(err, ErrDefinite) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("put at an armed kv/before-propose = %v, want a definite failure naming the injected error", err)
	}
	fired := uint64(0)
	for _, a := range admins {
		fired += failpoint(t, ctx, a, FailBeforePropose).Fired
	}
	if fired != 1 {
		t.Errorf("kv/before-propose fired %d times on the cluster, want 1 (the injected error is final)", fired)
	}
	disarm(t, ctx, admins, FailBeforePropose)

	if got, err := client.Get(ctx, "refused"); err != nil || got.Found {
		t.Fatalf("get of a put that failed definitely = %v, %v; want absent", got, err)
	}
	if _, err := client.Put(ctx, "accepted", []byte("y")); err != nil {
		t.Fatalf("put after disarming: %v", err)
	}
}

func TestAdminFailpointAfterCommitIsIndeterminateButApplied(t *testing.T) {
	_, admins, client := adminCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()

	// Every attempt's answer is lost, so the client gives up not knowing.
	arm(t, ctx, admins, FailAfterCommit, "error(answer lost)")
	putCtx, putCancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := client.Put(putCtx, "applied", []byte("x"))
	putCancel()
	if !errors.Is(err, ErrIndeterminate) {
		t.Fatalf("put at an armed kv/after-commit = %v, want an indeterminate outcome", err)
	}
	disarm(t, ctx, admins, FailAfterCommit)
	if got, err := client.Get(ctx, "applied"); err != nil || string(got.GetKv().GetValue()) != "x" {
		t.Fatalf("get of a put of unknown outcome = %v, %v; want it applied", got, err)
	}

	// Only the first answer is lost: the retry, under the same session
	// sequence number, is answered from the dedup table, not applied again.
	arm(t, ctx, admins, FailAfterCommit, "1*error(answer lost)")
	value, err := client.Append(ctx, "list", []byte("<once>"))
	if err != nil || string(value) != "<once>" {
		t.Fatalf("append whose first answer was lost = %q, %v; want <once>", value, err)
	}
	if got, err := client.Get(ctx, "list"); err != nil || string(got.GetKv().GetValue()) != "<once>" {
		t.Fatalf("get after a retried append = %v, %v; want <once>", got, err)
	}
}

func TestAdminFailpointBeforeReadSleeps(t *testing.T) {
	_, admins, client := adminCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if _, err := client.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	arm(t, ctx, admins, FailBeforeRead, "sleep(300ms)")
	start := time.Now()
	got, err := client.Get(ctx, "k")
	if elapsed := time.Since(start); err != nil || string(got.GetKv().GetValue()) != "v" || elapsed < 300*time.Millisecond {
		t.Fatalf("get at kv/before-read armed with sleep(300ms) = %v, %v after %v; want v after at least 300ms", got, err, elapsed)
	}
	disarm(t, ctx, admins, FailBeforeRead)
	if got, err := client.Get(ctx, "k"); err != nil || string(got.GetKv().GetValue()) != "v" {
		t.Fatalf("get after disarming = %v, %v", got, err)
	}
}

// A write whose first attempt reached the leader and timed out, and whose
// retry is then refused, may have taken effect: the client must not call
// it failed. Here the first attempt is applied while its answer is held
// back past the attempt timeout, and every retry is refused by an injected
// error before it is proposed.
func TestAdminRefusedRetryAfterUnansweredAttemptIsIndeterminate(t *testing.T) {
	nodes, peers := startNodes(t, 3, nil)
	admins := adminClients(t, nodes)
	client, err := NewClient(ClientConfig{Peers: peers, AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if _, err := client.Put(ctx, "warm-up", []byte("x")); err != nil {
		t.Fatal(err)
	}

	arm(t, ctx, admins, FailAfterCommit, "sleep(10s)")
	done := make(chan error, 1)
	go func() {
		_, err := client.Put(ctx, "maybe", []byte("x"))
		done <- err
	}()
	// Once the write has been applied somewhere, refuse every retry.
	for applied := false; !applied; time.Sleep(5 * time.Millisecond) {
		for _, a := range admins {
			applied = applied || failpoint(t, ctx, a, FailAfterCommit).Fired > 0
		}
	}
	arm(t, ctx, admins, FailBeforePropose, "error(refused)")
	err = <-done
	disarm(t, ctx, admins, FailBeforePropose)
	disarm(t, ctx, admins, FailAfterCommit)

	if got, gerr := client.Get(ctx, "maybe"); gerr != nil || !got.Found {
		t.Fatalf("get = %v, %v; want the write applied", got, gerr)
	}
	if !errors.Is(err, ErrIndeterminate) {
		t.Fatalf("put that was applied, then refused on retry = %v, want an indeterminate outcome", err)
	}
}

// The crash action kills a real node process as SIGKILL would, and the
// node restarts cleanly from its data directory, with the failpoint off.
func TestAdminCrashFailpointKillsProcess(t *testing.T) {
	c := startProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	client := c.newClient()
	if _, err := client.Put(ctx, "before", []byte("x")); err != nil {
		t.Fatal(err)
	}

	leader := c.leader()
	admin := faultpb.NewAdminClient(c.conns[leader])
	if _, err := admin.ArmFailpoint(ctx, &faultpb.ArmFailpointRequest{Name: FailBeforePropose, Spec: "crash"}); err != nil {
		t.Fatal(err)
	}
	// The write reaches the leader, which dies before proposing it; the
	// client retries at the new leader.
	if _, err := client.Put(ctx, "after", []byte("y")); err != nil {
		t.Fatalf("put that crashed the leader, then retried: %v", err)
	}
	c.expectKilled(leader)

	c.start(leader)
	if fp := failpoint(t, ctx, admin, FailBeforePropose); fp.Spec != "off" {
		t.Errorf("after a restart kv/before-propose is %q, want off", fp.Spec)
	}
	c.waitConverged()
	// A new client: the old one's connection to the killed node may still
	// be waiting out its reconnect backoff, and GetFrom does not retry.
	reader := c.newClient()
	for _, key := range []string{"before", "after"} {
		if got, err := reader.GetFrom(ctx, leader, key); err != nil || !got.Found {
			t.Errorf("get %s from restarted %s = %v, %v; want found", key, leader, got, err)
		}
	}
	c.terminate(leader)
}
