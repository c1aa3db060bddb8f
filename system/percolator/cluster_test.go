package percolator

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/system/internal/member"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/system/raft"
)

// testCluster is n Percolator nodes in this process, over real gRPC on
// loopback, with WALs in the test's temporary directory.
type testCluster struct {
	t     testing.TB
	nodes []*Node // nil while stopped
	peers []member.Peer
	cfgs  []Config
}

// startCluster starts n nodes named n1..nn with fast Raft timing; tune,
// if not nil, adjusts each node's configuration before it starts. The
// nodes stop when the test ends.
func startCluster(t testing.TB, n int, tune func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: make([]*Node, n)}
	for i, addr := range loopback.Addrs(t, n) {
		c.peers = append(c.peers, member.Peer{Name: fmt.Sprintf("n%d", i+1), Addr: addr})
	}
	dir := t.TempDir()
	for _, p := range c.peers {
		cfg := Config{
			Name:         p.Name,
			Peers:        c.peers,
			Cluster:      "test",
			DataDir:      filepath.Join(dir, p.Name),
			TickInterval: 10 * time.Millisecond,
			ElectionTick: 30, // 300ms: a busy machine under -race stalls a process past 100ms
		}
		if tune != nil {
			tune(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	for i := range n {
		c.restart(i)
	}
	return c
}

// shards is the cluster's number of shards.
func (c *testCluster) shards() int {
	if c.cfgs[0].Shards == 0 {
		return DefaultShards
	}
	return c.cfgs[0].Shards
}

// stop stops node i, if it runs.
func (c *testCluster) stop(i int) {
	if c.nodes[i] != nil {
		c.nodes[i].Stop()
		c.nodes[i] = nil
	}
}

// restart starts node i again on its data directory (stopping it first
// if it runs).
func (c *testCluster) restart(i int) {
	c.t.Helper()
	c.stop(i)
	node, err := Start(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("start %s: %v", c.peers[i].Name, err)
	}
	c.nodes[i] = node
}

// dial returns a Percolator client of node i's address, closed when the
// test ends.
func (c *testCluster) dial(i int) pb.PercolatorClient {
	c.t.Helper()
	conn, err := grpc.NewClient(c.peers[i].Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return pb.NewPercolatorClient(conn)
}

// leader waits until a running node leads group and returns its index.
// The wait is only a hang guard: elections on a slow machine take long.
func (c *testCluster) leader(group uint32) int {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n != nil && n.rafts[group].Status().Role == raft.Leader {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader of group %d after a minute", group)
	return -1
}
