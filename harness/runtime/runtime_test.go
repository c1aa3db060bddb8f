package runtime

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/nemesis/netfault"
	"github.com/squall-chaos/squall/system/kv"
)

func TestConfigRefusesBadInput(t *testing.T) {
	args := func(string, []nemesis.Node) []string { return nil }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no run id", Config{Nodes: []string{"n1"}, NodeArgs: args}, "run id"},
		{"slash in run id", Config{RunID: "a/b", Nodes: []string{"n1"}, NodeArgs: args}, "run id"},
		{"no nodes", Config{RunID: "r", NodeArgs: args}, "no nodes"},
		{"duplicate node", Config{RunID: "r", Nodes: []string{"n1", "n1"}, NodeArgs: args}, "twice"},
		{"no node args", Config{RunID: "r", Nodes: []string{"n1"}}, "NodeArgs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestSubnetChoice(t *testing.T) {
	taken := []netip.Prefix{netip.MustParsePrefix("10.213.0.0/23"), netip.MustParsePrefix("10.213.7.5/32")}
	for _, tc := range []struct {
		i    int
		want bool
	}{{0, true}, {1, true}, {2, false}, {7, true}, {8, false}} {
		if got := overlapsAny(poolSubnet(tc.i), taken); got != tc.want {
			t.Errorf("overlapsAny(%v) = %v, want %v", poolSubnet(tc.i), got, tc.want)
		}
	}
	n := runNetwork{Subnet: poolSubnet(9)}
	if got := n.nodeAddr(0).String(); got != "10.213.9.11" {
		t.Errorf("first node address %s, want 10.213.9.11", got)
	}
}

// TestCluster runs a 3-node KV cluster through what a test run does to
// it: writes, a crash and restart of one node, a crash of all, log
// collection, and removal with a cancelled context (as after Ctrl-C).
func TestCluster(t *testing.T) {
	requireDocker(t)
	run := newRunID(t)
	docker := dockerClient(t)
	logDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	c, err := Start(ctx, Config{
		RunID:    run,
		Nodes:    []string{"n1", "n2", "n3"},
		NodeArgs: kvArgs,
		LogDir:   logDir,
		Logger:   testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}

	nodes := c.Nodes()
	var peers []kv.Peer
	for i, n := range nodes {
		if want := c.net.nodeAddr(i); n.IP != want {
			t.Errorf("node %s at %s, want %s", n.Name, n.IP, want)
		}
		peers = append(peers, kv.Peer{Name: n.Name, Addr: c.Addr(n.Name)})
	}
	if got := c.Protected(); len(got) != 1 || got[0] != c.net.Subnet.Addr().Next() {
		t.Errorf("Protected() = %v, want the gateway %v", got, c.net.Subnet.Addr().Next())
	}
	kvc, err := kv.NewClient(kv.ClientConfig{Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	defer kvc.Close()
	put := func(value string) {
		t.Helper()
		if _, err := kvc.Put(ctx, "k", []byte(value)); err != nil {
			t.Fatalf("put k=%s: %v", value, err)
		}
	}
	get := func() string {
		t.Helper()
		resp, err := kvc.Get(ctx, "k")
		if err != nil {
			t.Fatalf("get k: %v", err)
		}
		return string(resp.GetKv().GetValue())
	}
	put("v1") // needs an elected leader
	if got := get(); got != "v1" {
		t.Fatalf("get k = %q, want v1", got)
	}

	if st, err := c.State(ctx, "n1"); err != nil || st != nemesis.NodeUp {
		t.Fatalf("State(n1) = %v, %v; want up", st, err)
	}
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(ctx, "n1"); err != nil || st != nemesis.NodeDown {
		t.Fatalf("after Kill: State(n1) = %v, %v; want down", st, err)
	}
	put("v2") // n2 and n3 are a majority
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(ctx, "n1"); err != nil || st != nemesis.NodeUp {
		t.Fatalf("after Start: State(n1) = %v, %v; want up", st, err)
	}
	id, _ := c.containerID("n1")
	inspect, err := docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip := inspect.Container.NetworkSettings.Networks[c.Network()].IPAddress; ip != nodes[0].IP {
		t.Errorf("restarted n1 at %v, want its fixed address %v", ip, nodes[0].IP)
	}

	// With every node killed, only the volumes remember v2.
	for _, n := range nodes {
		if err := c.Kill(ctx, n.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if err := c.Start(ctx, n.Name); err != nil {
			t.Fatal(err)
		}
	}
	if got := get(); got != "v2" {
		t.Fatalf("after all nodes restarted: get k = %q, want v2 from the volumes", got)
	}

	if err := c.CollectLogs(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		log, err := os.ReadFile(filepath.Join(logDir, n.Name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		// n1 started three times, the others twice; each start prints
		// its ready line.
		starts := 2
		if n.Name == "n1" {
			starts = 3
		}
		if ready := strings.Count(string(log), "squall node "+n.Name+" ready on"); ready < starts {
			t.Errorf("%s.log has %d ready lines, want one per start (%d); log:\n%s", n.Name, ready, starts, log)
		}
	}

	cancel() // as Ctrl-C would: Close must still remove everything
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftAfter(t, docker, run); len(left) > 0 {
		t.Fatalf("after Close, run %s still has %v", run, left)
	}
}

// TestStartFailure starts nodes that refuse their command line: Start must say why,
// without waiting out its timeout, and leave nothing behind.
func TestStartFailure(t *testing.T) {
	requireDocker(t)
	run := newRunID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, err := Start(ctx, Config{
		RunID: run,
		Nodes: []string{"n1", "n2"},
		NodeArgs: func(name string, members []nemesis.Node) []string {
			return []string{"node", "--system", "kv", "--id", "not-" + name, "--peers", peerList(members), "--data", DataDir}
		},
		ReadyTimeout: 5 * time.Minute,
		Logger:       testLogger(t),
	})
	if err == nil {
		t.Fatal("Start of nodes with a bad command line succeeded")
	}
	if !strings.Contains(err.Error(), "exited with code") || !strings.Contains(err.Error(), `"not-n1" is not one of the peers`) {
		t.Errorf("Start error %q does not say the node exited, and with what output", err)
	}
	if left := leftAfter(t, dockerClient(t), run); len(left) > 0 {
		t.Fatalf("after a failed Start, run %s still has %v", run, left)
	}
}

// TestStartRefuses checks what Start refuses before it creates anything:
// an image the engine lacks (it would be pulled) and a run id in use.
func TestStartRefuses(t *testing.T) {
	requireDocker(t)
	ctx := context.Background()
	run := newRunID(t)
	_, err := Start(ctx, Config{RunID: run, Nodes: []string{"n1"}, NodeArgs: kvArgs, Image: ImageRepo + ":no-such-tag"})
	if err == nil || !strings.Contains(err.Error(), "never pulls") {
		t.Errorf("Start with a missing image = %v, want a refusal to pull", err)
	}

	docker := dockerClient(t)
	volume := "squall-" + run + "-other"
	if _, err := docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: volume, Labels: runLabels(run)}); err != nil {
		t.Fatal(err)
	}
	// A crashed run's leftovers are swept first, and Start says so.
	crashed := newRunID(t)
	crashedLabels := runLabels(crashed)
	crashedLabels[LabelPID] = strconv.Itoa(deadPID(t))
	if _, err := docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "squall-" + crashed + "-n1", Labels: crashedLabels}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_, err = Start(ctx, Config{RunID: run, Nodes: []string{"n1"}, NodeArgs: kvArgs, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("Start with a run id in use = %v, want a refusal", err)
	}
	// Another package's test may have swept it first: then this Start
	// says nothing, or that it removed nothing (it names each time the
	// networks the engine holds for no container).
	if left := leftAfter(t, docker, crashed); len(left) > 0 {
		t.Errorf("the crashed run's %v are left", left)
	} else if said := out.String(); said != "" && !strings.Contains(said, "removed nothing") && !strings.Contains(said, crashed) {
		t.Errorf("Start said %q, want it to name the swept run %s", said, crashed)
	}
	if _, err := docker.VolumeInspect(ctx, volume, client.VolumeInspectOptions{}); err != nil {
		t.Errorf("the refused Start removed the other run's volume: %v", err)
	}
}

// TestStartCancelled cancels Start part way, as Ctrl-C would: whatever it
// had created must go.
func TestStartCancelled(t *testing.T) {
	requireDocker(t)
	run := newRunID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, err := Start(ctx, Config{
		RunID: run,
		Nodes: []string{"n1", "n2", "n3"},
		NodeArgs: func(name string, members []nemesis.Node) []string {
			cancel() // the network exists by now
			return kvArgs(name, members)
		},
		Logger: testLogger(t),
	})
	if err == nil {
		t.Fatal("Start with a cancelled context succeeded")
	}
	if left := leftAfter(t, dockerClient(t), run); len(left) > 0 {
		t.Fatalf("after a cancelled Start, run %s still has %v", run, left)
	}
}

// TestLeave keeps a run's objects on Close.
func TestLeave(t *testing.T) {
	requireDocker(t)
	run := newRunID(t)
	docker := dockerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{RunID: run, Nodes: []string{"n1"}, NodeArgs: kvArgs, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	kinds := map[objectKind]int{}
	for _, o := range runObjects(t, docker, run) {
		kinds[o.kind]++
	}
	// One container, one network; the node's volume and the kept marker.
	if kinds[containerObject] != 1 || kinds[networkObject] != 1 || kinds[volumeObject] != 2 {
		t.Fatalf("after Leave and Close, run %s has %v; want everything kept", run, kinds)
	}
	if err := Ready(ctx, c.Addr("n1")); err != nil {
		t.Errorf("kept node does not serve: %v", err)
	}
}

// TestClusterFaults makes the faults a run makes through the Docker API
// alone: network rules through each node's sidecar (also after the node
// restarts in a new namespace), and a pause.
func TestClusterFaults(t *testing.T) {
	requireDocker(t)
	run := newRunID(t)
	docker := dockerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{RunID: run, Nodes: []string{"n1", "n2", "n3"}, NodeArgs: kvArgs, NetFaults: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var peers []kv.Peer
	for _, n := range c.Nodes() {
		peers = append(peers, kv.Peer{Name: n.Name, Addr: c.Addr(n.Name)})
	}
	kvc, err := kv.NewClient(kv.ClientConfig{Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	defer kvc.Close()
	if _, err := kvc.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// readFromN1 is a linearizable read served by n1: it needs n1 to reach
	// a majority.
	readFromN1 := func() error {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := kvc.GetFrom(rctx, "n1", "k")
		return err
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	isolateN1 := netfault.Change{Family: "partition", Drop: []netip.Addr{c.Nodes()[1].IP, c.Nodes()[2].IP}}
	if err := c.Net(ctx, "n1", isolateN1); err != nil {
		t.Fatal(err)
	}
	eventually("n1 cut off stops serving reads", func() bool { return readFromN1() != nil })
	if err := c.Net(ctx, "n1", netfault.Change{Family: "partition"}); err != nil {
		t.Fatal(err)
	}
	eventually("n1 healed serves reads", func() bool { return readFromN1() == nil })

	// A restarted node has a new namespace; its sidecar follows it.
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Net(ctx, "n1", isolateN1); !errors.Is(err, nemesis.ErrNodeDown) {
		t.Fatalf("Net on a killed node: %v, want ErrNodeDown", err)
	}
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	eventually("restarted n1 serves reads", func() bool { return readFromN1() == nil })
	if err := c.Net(ctx, "n1", isolateN1); err != nil {
		t.Fatal(err)
	}
	eventually("restarted n1 cut off stops serving reads", func() bool { return readFromN1() != nil })
	if err := c.Net(ctx, "n1", netfault.Change{Family: "partition"}); err != nil {
		t.Fatal(err)
	}
	eventually("n1 healed again serves reads", func() bool { return readFromN1() == nil })

	if err := c.Pause(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(ctx, "n1"); err != nil || st != nemesis.NodePaused {
		t.Errorf("a paused node: State = %v, %v; want paused", st, err)
	}
	if err := readFromN1(); err == nil {
		t.Error("a paused node served a read")
	}
	if err := c.Unpause(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	eventually("thawed n1 serves reads", func() bool { return readFromN1() == nil })

	// A bad change is refused before anything is run.
	if err := c.Net(ctx, "n1", netfault.Change{Family: "partition", Rate: 1 << 20}); err == nil {
		t.Error("a partition with a rate was applied")
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftAfter(t, docker, run); len(left) > 0 {
		t.Fatalf("after Close, run %s still has %v (sidecars included)", run, left)
	}
}

// TestProbeNetFaults: this kernel has nftables and tbf; netem it may lack,
// and then the probe says why.
func TestProbeNetFaults(t *testing.T) {
	requireDocker(t)
	ctx := context.Background()
	image, err := EnsureImage(ctx, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	missing, err := ProbeNetFaults(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	if missing[netfault.FeatureNftables] != nil || missing[netfault.FeatureTbf] != nil {
		t.Errorf("probe: %v; want nftables and tbf to work", missing)
	}
	if err := missing[netfault.FeatureNetem]; err != nil && !strings.Contains(err.Error(), "netem") {
		t.Errorf("netem missing with %q, which does not say so", err)
	}
	t.Logf("missing: %v", missing)
}
