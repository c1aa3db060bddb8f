package percolator

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/sut/suttest"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/percolator"
	"github.com/squall-chaos/squall/workloads"
)

// startCluster starts a 3-node Percolator cluster in this process and returns its
// nodes; they stop when the test ends.
func startCluster(t *testing.T) []workloads.Node {
	t.Helper()
	var nodes []workloads.Node
	var peers []kv.Peer
	for i, addr := range loopback.Addrs(t, 3) {
		name := fmt.Sprintf("n%d", i+1)
		nodes = append(nodes, workloads.Node{Name: name, Addr: addr})
		peers = append(peers, kv.Peer{Name: name, Addr: addr})
	}
	dir := t.TempDir()
	for _, p := range peers {
		n, err := percolator.Start(percolator.Config{Name: p.Name, Peers: peers, Cluster: "t", DataDir: filepath.Join(dir, p.Name), TickInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Stop)
	}
	return nodes
}

func TestRegisterClient(t *testing.T) { suttest.Register(t, System{}, startCluster(t)) }
func TestBankClient(t *testing.T)     { suttest.Bank(t, System{}, startCluster(t)) }
func TestAppendClient(t *testing.T)   { suttest.Append(t, System{}, startCluster(t)) }

// TestConcurrentBank: the total holds and every read is the replay of the
// transfers at its timestamp.
func TestConcurrentBank(t *testing.T) {
	suttest.Concurrent(t, System{}, workloads.NewBank(), startCluster(t), 40, "")
}

// TestConcurrentAppend: transactions keep snapshot isolation.
func TestConcurrentAppend(t *testing.T) {
	w := &workloads.Append{ActiveKeys: 4, AppendsPerKey: 20}
	suttest.Concurrent(t, System{}, w, startCluster(t), 50, "snapshot-isolation")
}

// TestConcurrentRegister: reads, writes and cas are linearizable.
func TestConcurrentRegister(t *testing.T) {
	suttest.Concurrent(t, System{}, workloads.NewRegister(), startCluster(t), 50, "")
}

func TestNoClientForAnotherWorkload(t *testing.T) {
	nodes := []workloads.Node{{Name: "n1", Addr: "127.0.0.1:1"}}
	if _, err := (System{}).NewClient(otherWorkload{}, workloads.Target{Nodes: nodes}, nil); err == nil || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("client for another workload: %v, want a refusal", err)
	}
}

// otherWorkload is a workload kv has no client for.
type otherWorkload struct{ workloads.Workload }

func (otherWorkload) Name() string { return "other" }
