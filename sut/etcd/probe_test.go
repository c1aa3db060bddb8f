package etcd

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestLeaderNamesAMember(t *testing.T) {
	c := sharedCluster(t)
	ctx := testContext(t)
	leader := waitLeader(t, ctx, c, func(string) bool { return true })
	if !slices.ContainsFunc(c.members, func(m member) bool { return m.name == leader }) {
		t.Errorf("Leader = %q, not a member of %v", leader, c.endpoints())
	}
	if err := Serving(ctx, c.endpoints()); err != nil {
		t.Error(err)
	}
}

func TestLeaderWithNoMemberAnsweringIsAnError(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	// Nothing listens on the port: the question fails at once.
	if name, err := Leader(ctx, map[string]string{"gone": fmt.Sprintf("127.0.0.1:%d", ports[0])}); err == nil {
		t.Errorf("Leader of a cluster that is not there = %q, nil", name)
	}
}

// A member killed with SIGKILL, as in a crash, and started again on its
// data directory with the same command line rejoins the cluster and
// catches up on what was written while it was down.
func TestKilledMemberRejoinsOnItsDataDir(t *testing.T) {
	c := newCluster(t, 3)
	ctx := testContext(t)
	s := dial(t, c, StoreOptions{})
	if err := s.Write(ctx, "rejoin/before", 1); err != nil {
		t.Fatal(err)
	}

	// Kill the leader, the harder case: the others must elect.
	victim := waitLeader(t, ctx, c, func(string) bool { return true })
	c.kill(victim)
	successor := waitLeader(t, ctx, c, func(l string) bool { return l != victim })
	t.Logf("killed leader %s; %s leads now", victim, successor)
	if err := s.Write(ctx, "rejoin/while-down", 2); err != nil {
		t.Fatalf("write with one member of three down: %v", err)
	}

	if err := c.start(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.waitServing(ctx); err != nil {
		t.Fatal(err)
	}
	// Ask the restarted member alone, serializably, so the answer is its
	// own data: it must have caught up on the write it missed.
	alone, err := clientv3.New(clientv3.Config{
		Endpoints: []string{c.member(victim).client.String()},
		Logger:    zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	for {
		resp, err := alone.Get(ctx, "rejoin/while-down", clientv3.WithSerializable())
		if err != nil {
			t.Fatalf("read from the restarted member %s: %v", victim, err)
		}
		if len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == "2" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := memberStatus(ctx, alone, c.member(victim).client.String())
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader == 0 {
		t.Errorf("restarted member %s knows no leader", victim)
	}
}

// waitLeader polls Leader until it names a member that ok accepts.
func waitLeader(t *testing.T, ctx context.Context, c *testCluster, ok func(string) bool) string {
	t.Helper()
	for {
		probe, cancel := context.WithTimeout(ctx, 5*time.Second)
		leader, err := Leader(probe, c.endpoints())
		cancel()
		if err == nil && leader != "" && ok(leader) {
			return leader
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no acceptable leader (last %q, %v)\n%s", leader, err, c.logTails())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
