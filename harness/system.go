package harness

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/workloads"
)

// System is a system squall can test: how its nodes are started and how
// the harness asks them about themselves. Its clients live with the
// workloads, which reach it through its own client package.
type System interface {
	Name() string
	// Port is the port every node serves its client and admin APIs on.
	Port() int
	// NodeArgs are the arguments of `squall` that run one node.
	NodeArgs(node, peers string, spec *Spec) []string
	// Bugs are the bugs a node can be started with, and what each does.
	Bugs() map[string]string
	// Leader asks the nodes which one leads; "" if none knows.
	Leader(ctx context.Context, nodes []workloads.Node) (string, error)
	// Serving reports whether the cluster serves: a leader is known.
	Serving(ctx context.Context, nodes []workloads.Node) error
	// DefaultConsistency is the consistency model transactional checkers
	// hold the system to unless --consistency says otherwise.
	DefaultConsistency() string
}

var systems = map[string]System{
	"kv":         kvSystem{},
	"percolator": percolatorSystem{},
}

// BugNames lists the planted bugs of system, sorted.
func BugNames(system string) []string {
	sys, ok := systems[system]
	if !ok {
		return nil
	}
	return slices.Sorted(mapKeys(sys.Bugs()))
}

// SystemNames lists the known systems.
func SystemNames() []string { return slices.Sorted(mapKeys(systems)) }

var workloadFactories = map[string]func() workloads.Workload{
	"register": func() workloads.Workload { return workloads.NewRegister() },
	"bank":     func() workloads.Workload { return workloads.NewBank() },
	"append":   func() workloads.Workload { return workloads.NewAppend() },
}

// WorkloadNames lists the known workloads.
func WorkloadNames() []string { return slices.Sorted(mapKeys(workloadFactories)) }

// kvSystem is system/kv, the Raft key/value store.
type kvSystem struct{}

func (kvSystem) Name() string { return "kv" }
func (kvSystem) Port() int    { return 7000 }

// DefaultConsistency: every Txn is one log entry applied in order on a
// linearizable store, so histories must be strict serializable.
func (kvSystem) DefaultConsistency() string { return "strict-serializable" }

func (kvSystem) NodeArgs(node, peers string, spec *Spec) []string {
	args := []string{"node", "--system", "kv", "--id", node, "--peers", peers, "--data", "/data",
		"--cluster", spec.Name}
	if spec.ReadMode != "" {
		args = append(args, "--read-mode", spec.ReadMode)
	}
	for _, b := range spec.Bugs {
		args = append(args, "--bug", b)
	}
	return args
}

func (kvSystem) Bugs() map[string]string { return bugMap(kv.PlantedBugs()) }

// bugMap is a system's planted bugs, name to description.
func bugMap(bugs []kv.PlantedBug) map[string]string {
	m := make(map[string]string, len(bugs))
	for _, b := range bugs {
		m[b.Name] = b.Description
	}
	return m
}

// askNode makes one call to node n on a connection of its own, bounded by
// a second.
func askNode[T any](ctx context.Context, n workloads.Node, call func(context.Context, *grpc.ClientConn) (T, error)) (T, error) {
	return askNodeWithin(ctx, n, time.Second, call)
}

// askNodeWithin is askNode bounded by timeout.
func askNodeWithin[T any](ctx context.Context, n workloads.Node, timeout time.Duration, call func(context.Context, *grpc.ClientConn) (T, error)) (T, error) {
	conn, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		var zero T
		return zero, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return call(ctx, conn)
}

// mostVoted is the name with the most votes, the smallest such name on a
// tie; "" if there are no votes.
func mostVoted(votes map[string]int) string {
	best, count := "", 0
	for l, v := range votes {
		if v > count || (v == count && l < best) {
			best, count = l, v
		}
	}
	return best
}

func (kvSystem) status(ctx context.Context, n workloads.Node) (*kvpb.StatusResponse, error) {
	return askNode(ctx, n, func(ctx context.Context, conn *grpc.ClientConn) (*kvpb.StatusResponse, error) {
		return kvpb.NewKVClient(conn).Status(ctx, &kvpb.StatusRequest{})
	})
}

// Leader returns the leader most nodes name, among the nodes that answer.
func (s kvSystem) Leader(ctx context.Context, nodes []workloads.Node) (string, error) {
	votes := map[string]int{}
	var lastErr error
	for _, n := range nodes {
		st, err := s.status(ctx, n)
		if err != nil {
			lastErr = err
			continue
		}
		if st.Leader != "" {
			votes[st.Leader]++
		}
	}
	best := mostVoted(votes)
	if best == "" && lastErr != nil {
		return "", lastErr
	}
	return best, nil
}

func (s kvSystem) Serving(ctx context.Context, nodes []workloads.Node) error {
	leader, err := s.Leader(ctx, nodes)
	if err != nil {
		return err
	}
	if leader == "" {
		return fmt.Errorf("no leader elected")
	}
	return nil
}
