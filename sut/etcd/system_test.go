package etcd

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/sut/suttest"
	"github.com/squall-chaos/squall/workloads"
)

// servingNodes starts a fresh 3-member cluster, waits until it serves, and
// returns its members as workloads' nodes.
func servingNodes(t *testing.T) []workloads.Node {
	t.Helper()
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := c.waitServing(ctx); err != nil {
		t.Fatalf("%v\n%s", err, c.logTails())
	}
	var nodes []workloads.Node
	for _, m := range c.members {
		nodes = append(nodes, workloads.Node{Name: m.name, Addr: m.client.String()})
	}
	return nodes
}

// The workloads' clients, held to what every system's are.
func TestRegisterClient(t *testing.T) { suttest.Register(t, System{}, servingNodes(t)) }
func TestBankClient(t *testing.T)     { suttest.Bank(t, System{}, servingNodes(t)) }
func TestAppendClient(t *testing.T)   { suttest.Append(t, System{}, servingNodes(t)) }

func TestConcurrentRegister(t *testing.T) {
	suttest.Concurrent(t, System{}, workloads.NewRegister(), servingNodes(t), 50, "")
}

func TestConcurrentBank(t *testing.T) {
	suttest.Concurrent(t, System{}, workloads.NewBank(), servingNodes(t), 40, "")
}

func TestConcurrentAppend(t *testing.T) {
	w := &workloads.Append{ActiveKeys: 4, AppendsPerKey: 20}
	suttest.Concurrent(t, System{}, w, servingNodes(t), 50, "strict-serializable")
}

// TestSystemDescribesItself: the harness starts members with NodeArgs,
// learns who leads, and offers the one bug.
func TestSystemDescribesItself(t *testing.T) {
	var sys sut.System = System{}
	if _, admin := sys.(sut.NodeAdmin); admin {
		t.Error("etcd claims squall's admin API")
	}
	if bugs := sys.Bugs(); len(bugs) != 1 || bugs[0].Name != BugSerializableReads || bugs[0].RevealedBy.Workload == "" {
		t.Errorf("bugs %v, want serializable-reads alone", bugs)
	}
	nodes := servingNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	leader, err := sys.Leader(ctx, nodes)
	if err != nil || !slices.ContainsFunc(nodes, func(n workloads.Node) bool { return n.Name == leader }) {
		t.Fatalf("leader %q, %v: want one of the members", leader, err)
	}
	if err := sys.Serving(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.NewClient(otherWorkload{}, workloads.Target{Nodes: nodes}, nil); err == nil || !strings.Contains(err.Error(), "no client") {
		t.Fatalf("client for another workload: %v, want a refusal", err)
	}
}

// otherWorkload is a workload etcd has no client for.
type otherWorkload struct{ workloads.Workload }

func (otherWorkload) Name() string { return "other" }
