package nemesis

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func (c *fakeCluster) ip(node string) netip.Addr {
	for _, n := range c.nodes {
		if n.Name == node {
			return n.IP
		}
	}
	panic("no node " + node)
}

// checkInstalled asserts that every running node's partition state drops
// exactly the addresses of want's peers of it (nothing when none).
func checkInstalled(t *testing.T, c *fakeCluster, want Grudge) {
	t.Helper()
	for _, n := range c.nodes {
		if st, _ := c.State(context.Background(), n.Name); st == NodeDown {
			continue
		}
		got := slices.Clone(c.netState(n.Name, "partition").Drop)
		var ips []netip.Addr
		for _, peer := range want[n.Name] {
			ips = append(ips, c.ip(peer))
		}
		slices.SortFunc(got, netip.Addr.Compare)
		slices.SortFunc(ips, netip.Addr.Compare)
		if !slices.Equal(got, ips) {
			t.Errorf("node %s drops %v; want %v", n.Name, got, ips)
		}
	}
}

func TestPartitionInstallsGrudgeAndHeals(t *testing.T) {
	c := newFakeCluster(5)
	c.protected = []netip.Addr{c.ip("n5")} // as if n5 were the controller's path
	p, err := NewPartition(PartitionGrudgePrefix + "n1,n2|n3,n4,n5")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := p.Start(context.Background(), c, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	grudge := Grudge{"n1": {"n3", "n4", "n5"}, "n2": {"n3", "n4", "n5"}, "n3": {"n1", "n2"}, "n4": {"n1", "n2"}, "n5": {"n1", "n2"}}
	if got := desc.(PartitionEvent).Grudge; !maps.EqualFunc(got, grudge, slices.Equal) {
		t.Errorf("described grudge %v, want %v", got, grudge)
	}
	// No rule names the protected address, whatever the grudge says.
	installed := Grudge{"n1": {"n3", "n4"}, "n2": {"n3", "n4"}, "n3": {"n1", "n2"}, "n4": {"n1", "n2"}, "n5": {"n1", "n2"}}
	checkInstalled(t, c, installed)

	desc, err = p.Stop(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, c, nil)
	if got := desc.(PartitionEvent).Healed; len(got) != 5 {
		t.Errorf("healed %v, want all five nodes", got)
	}
}

func TestPartitionRestartedNodeGetsRulesAgain(t *testing.T) {
	c := newFakeCluster(3)
	p, _ := NewPartition(PartitionGrudgePrefix + "n1|n2,n3")
	ctx := context.Background()
	if _, err := p.Start(ctx, c, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if got := c.netState("n1", "partition"); len(got.Drop) > 0 {
		t.Fatal("a restarted node already has the rules; the test proves nothing")
	}
	if err := p.NodeRestarted(ctx, c, "n1"); err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, c, Grudge{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}})

	if _, err := p.Stop(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Once healed, a restart installs nothing.
	c.Kill(ctx, "n2")
	c.Start(ctx, "n2")
	if err := p.NodeRestarted(ctx, c, "n2"); err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, c, nil)
}

// TestPartitionRestartedNodeDownAgain: another family killed the node
// between its start and the grudge's re-install: no failure, and the
// grudge goes in at its next start.
func TestPartitionRestartedNodeDownAgain(t *testing.T) {
	c := newFakeCluster(3)
	p, _ := NewPartition(PartitionGrudgePrefix + "n1|n2,n3")
	ctx := context.Background()
	if _, err := p.Start(ctx, c, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatal(err)
	}
	c.Kill(ctx, "n1")
	if err := p.NodeRestarted(ctx, c, "n1"); err != nil {
		t.Fatalf("re-install on a node down again: %v, want no failure", err)
	}
	c.Start(ctx, "n1")
	if err := p.NodeRestarted(ctx, c, "n1"); err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, c, Grudge{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}})
}

func TestPartitionSkipsDownNodes(t *testing.T) {
	c := newFakeCluster(3)
	ctx := context.Background()
	c.Kill(ctx, "n3")
	p, _ := NewPartition(PartitionGrudgePrefix + "n1|n2,n3")
	desc, err := p.Start(ctx, c, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.(PartitionEvent).Down; !slices.Equal(got, []string{"n3"}) {
		t.Errorf("down %v, want [n3]", got)
	}
	checkInstalled(t, c, Grudge{"n1": {"n2", "n3"}, "n2": {"n1"}})
	if _, err := p.Stop(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestPartitionLeader(t *testing.T) {
	c := newFakeCluster(5)
	ctx := context.Background()
	p, _ := NewPartition(PartitionLeader)
	c.leader = "n4"
	desc, err := p.Start(ctx, c, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.(PartitionEvent).Grudge; !maps.EqualFunc(got, Isolate(names(5), "n4"), slices.Equal) {
		t.Errorf("grudge %v, want n4 isolated", got)
	}
	if _, err := p.Stop(ctx, c); err != nil {
		t.Fatal(err)
	}

	c.leader, c.leaderErr = "", errors.New("no quorum")
	desc, err = p.Start(ctx, c, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ev := desc.(PartitionEvent)
	if !strings.Contains(ev.Note, "no quorum") || !strings.Contains(ev.Note, "random") {
		t.Errorf("note %q does not say the leader was unknown and a random node isolated", ev.Note)
	}
	isolated := 0
	for _, peers := range ev.Grudge {
		if len(peers) == 4 {
			isolated++
		}
	}
	if isolated != 1 {
		t.Errorf("grudge %v isolates %d nodes, want 1", ev.Grudge, isolated)
	}
	if _, err := p.Stop(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestPartitionEventJSON(t *testing.T) {
	b, err := json.Marshal(PartitionEvent{Mode: PartitionHalves, Grudge: Grudge{"n1": {"n2"}, "n2": {"n1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"mode":"halves","grudge":{"n1":["n2"],"n2":["n1"]}}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestNewPartitionRejectsUnknownMode(t *testing.T) {
	if _, err := NewPartition(PartitionHalves, "quarters"); err == nil || !strings.Contains(err.Error(), "quarters") {
		t.Errorf("NewPartition(quarters): error %v, want one naming the mode", err)
	}
}
