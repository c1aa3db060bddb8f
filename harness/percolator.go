package harness

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/system/percolator"
	"github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/workloads"
)

// percolatorSystem is system/percolator: Percolator transactions on
// sharded Raft with a timestamp oracle.
type percolatorSystem struct{}

func (percolatorSystem) Name() string               { return "percolator" }
func (percolatorSystem) Port() int                  { return 7000 }
func (percolatorSystem) DefaultConsistency() string { return "snapshot-isolation" }

func (percolatorSystem) NodeArgs(node, peers string, spec *Spec) []string {
	args := []string{"node", "--system", "percolator", "--id", node, "--peers", peers, "--data", "/data",
		"--cluster", spec.Name, "--shards", fmt.Sprint(percolator.DefaultShards)}
	for _, b := range spec.Bugs {
		args = append(args, "--bug", b)
	}
	return args
}

func (percolatorSystem) Bugs() map[string]string { return bugMap(percolator.PlantedBugs()) }

func (percolatorSystem) status(ctx context.Context, n workloads.Node) (*percolatorpb.StatusResponse, error) {
	return askNode(ctx, n, func(ctx context.Context, conn *grpc.ClientConn) (*percolatorpb.StatusResponse, error) {
		return percolatorpb.NewPercolatorClient(conn).Status(ctx, &percolatorpb.StatusRequest{})
	})
}

// leaders returns, for each group, the leader most nodes name.
func (s percolatorSystem) leaders(ctx context.Context, nodes []workloads.Node) (map[uint32]string, uint32, error) {
	votes := map[uint32]map[string]int{}
	var shards uint32
	var lastErr error
	for _, n := range nodes {
		st, err := s.status(ctx, n)
		if err != nil {
			lastErr = err
			continue
		}
		shards = max(shards, st.Shards)
		for _, g := range st.Groups {
			if g.Leader == "" {
				continue
			}
			if votes[g.Group] == nil {
				votes[g.Group] = map[string]int{}
			}
			votes[g.Group][g.Leader]++
		}
	}
	if len(votes) == 0 && lastErr != nil {
		return nil, 0, lastErr
	}
	leaders := map[uint32]string{}
	for g, vs := range votes {
		leaders[g] = mostVoted(vs)
	}
	return leaders, shards, nil
}

// Leader is the oracle's leader: the node whose loss stalls every
// transaction.
func (s percolatorSystem) Leader(ctx context.Context, nodes []workloads.Node) (string, error) {
	leaders, _, err := s.leaders(ctx, nodes)
	if err != nil {
		return "", err
	}
	return leaders[0], nil
}

// Serving reports whether every group (the oracle and each shard) has a
// leader.
func (s percolatorSystem) Serving(ctx context.Context, nodes []workloads.Node) error {
	leaders, shards, err := s.leaders(ctx, nodes)
	if err != nil {
		return err
	}
	if shards == 0 {
		return fmt.Errorf("no node reported its shards")
	}
	for g := uint32(0); g <= shards; g++ {
		if leaders[g] == "" {
			return fmt.Errorf("group %d has no leader", g)
		}
	}
	return nil
}
