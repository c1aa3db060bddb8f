// Package percolator is system/percolator, Percolator transactions on
// sharded Raft with a timestamp oracle, as a system under test: `squall
// node --system percolator` in squall's image, and clients for the
// register, bank and append workloads, each operation one transaction.
package percolator

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/sut/internal/squallnode"
	"github.com/squall-chaos/squall/system/percolator"
	"github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"github.com/squall-chaos/squall/workloads"
)

// System is Percolator. Register it with sut.Register.
type System struct{ squallnode.Node }

func (System) Name() string               { return "percolator" }
func (System) DefaultConsistency() string { return "snapshot-isolation" }

func (System) NodeArgs(node string, members []nemesis.Node, opts sut.NodeOptions) []string {
	return append(squallnode.Args("percolator", node, members, opts), "--shards", fmt.Sprint(percolator.DefaultShards))
}

func (System) Bugs() []sut.Bug { return squallnode.Bugs(percolator.PlantedBugs(), reveals) }

// reveals are the runs that catch each planted bug.
var reveals = map[string]sut.Reveal{
	// Contention alone: no fault. A read must meet another transaction's
	// lock between its prewrite and commit, which more clients than the
	// default 2n make frequent on a busy machine.
	"skip-write-conflict": {Workload: "append"},
	"get-ignores-locks":   {Workload: "append", Concurrency: 20},
	"skip-fsync":          {Workload: "register", Nemesis: []string{"power:all"}, Interval: 4 * time.Second, OpTimeout: 10 * time.Second},
	"oracle-trusts-clock": {Workload: "register", Nemesis: []string{"clock:bump", "clock:strobe", "clock:leader"}, Interval: 4 * time.Second, OpTimeout: 10 * time.Second},
}

func (System) Workloads() []string { return []string{"append", "bank", "register"} }

// NewClient returns w's client. Every client of a process shares nothing:
// each is one logical process with its own transactions.
func (System) NewClient(w workloads.Workload, t workloads.Target, _ []string) (workloads.Client, error) {
	c, err := percolator.NewClient(percolator.ClientConfig{
		Peers:          squallnode.Peers[percolator.Peer](t.Nodes),
		Shards:         percolator.DefaultShards,
		AttemptTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	switch w := w.(type) {
	case *workloads.Register:
		return &registerClient{c: c}, nil
	case *workloads.Bank:
		return &bankClient{c: c, accounts: w.AccountNames(), initial: w.InitialBalances()}, nil
	case *workloads.Append:
		return &appendClient{c: c}, nil
	}
	c.Close()
	return nil, fmt.Errorf("percolator has no client for the %s workload", w.Name())
}

func status(ctx context.Context, n workloads.Node) (*percolatorpb.StatusResponse, error) {
	return squallnode.AskNode(ctx, n.Addr, squallnode.StatusTimeout, func(ctx context.Context, conn *grpc.ClientConn) (*percolatorpb.StatusResponse, error) {
		return percolatorpb.NewPercolatorClient(conn).Status(ctx, &percolatorpb.StatusRequest{})
	})
}

// leaders returns, for each group, the leader most nodes name.
func leaders(ctx context.Context, nodes []workloads.Node) (map[uint32]string, uint32, error) {
	votes := map[uint32]map[string]int{}
	var shards uint32
	var lastErr error
	for _, n := range nodes {
		st, err := status(ctx, n)
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
	byGroup := map[uint32]string{}
	for g, vs := range votes {
		byGroup[g] = squallnode.MostVoted(vs)
	}
	return byGroup, shards, nil
}

// Leader is the oracle's leader: the node whose loss stalls every
// transaction.
func (System) Leader(ctx context.Context, nodes []workloads.Node) (string, error) {
	byGroup, _, err := leaders(ctx, nodes)
	if err != nil {
		return "", err
	}
	return byGroup[percolator.OracleGroup], nil
}

// Serving reports whether every group (the oracle and each shard) has a
// leader.
func (System) Serving(ctx context.Context, nodes []workloads.Node) error {
	byGroup, shards, err := leaders(ctx, nodes)
	if err != nil {
		return err
	}
	if shards == 0 {
		return fmt.Errorf("no node reported its shards")
	}
	for g := uint32(0); g <= shards; g++ {
		if byGroup[g] == "" {
			return fmt.Errorf("group %d has no leader", g)
		}
	}
	return nil
}
