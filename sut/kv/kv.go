// Package kv is system/kv, squall's Raft key/value store, as a system
// under test: `squall node --system kv` in squall's image, and clients for
// the register, bank and append workloads.
package kv

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/sut/internal/squallnode"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/workloads"
)

// System is the KV store. Register it with sut.Register.
type System struct{ squallnode.Node }

func (System) Name() string { return "kv" }

// DefaultConsistency: every Txn is one log entry applied in order on a
// linearizable store, so histories must be strict serializable.
func (System) DefaultConsistency() string { return "strict-serializable" }

func (System) NodeArgs(node string, members []nemesis.Node, opts sut.NodeOptions) []string {
	args := squallnode.Args("kv", node, members, opts)
	if opts.ReadMode != "" {
		args = append(args, "--read-mode", opts.ReadMode)
	}
	return args
}

// ReadModes are the store's read modes (kv.ReadMode).
func (System) ReadModes() []string {
	return []string{string(kv.ReadIndex), string(kv.ReadLog), string(kv.ReadLease)}
}

func (System) Bugs() []sut.Bug { return squallnode.Bugs(kv.PlantedBugs(), reveals) }

// reveals are the runs that catch each planted bug (harness/e2e_test.go
// runs them).
var reveals = map[string]sut.Reveal{
	"stale-reads": {Workload: "register", Nemesis: []string{"partition"}, Interval: 3 * time.Second, OpTimeout: 3 * time.Second},
	// Reads must wait at the frozen leader from after the new leader's
	// writes: a bound client waits for its node half its op timeout.
	"lease-reads": {Workload: "register", Nemesis: []string{"pause:leader"},
		Interval: 6 * time.Second, OpTimeout: 4 * time.Second, Concurrency: 25},
	"duplicate-retries": {Workload: "register", Nemesis: []string{"failpoint:kv/after-commit", "failpoint:error"},
		Interval: 4 * time.Second, OpTimeout: 10 * time.Second},
	// Drops at the leader or at every node stall commits past the
	// bug's second; at one node or a minority of five, the rest commit
	// in time (6 of 6 runs caught it this way, 4 of 5 with any target).
	"timeout-is-failure": {Workload: "register", Nemesis: []string{"loss:drop", "loss:leader", "loss:all"}, Interval: 4 * time.Second, OpTimeout: 10 * time.Second},
	// A majority's cut may be masked: a node that kept the writes can
	// win the next election and give them back.
	"skip-fsync": {Workload: "register", Nemesis: []string{"power:all"}, Interval: 4 * time.Second, OpTimeout: 10 * time.Second},
}

func (System) Workloads() []string { return []string{"append", "bank", "register"} }

// NewClient returns w's client, whose reads its home node serves.
func (System) NewClient(w workloads.Workload, t workloads.Target, _ []string) (workloads.Client, error) {
	// A read that a node is slow to answer is cheap to send elsewhere; a
	// write is waited for longer: beside a second test suite, commits on
	// this 2-core machine took up to about a second, and a write sent
	// again because it was slow is proposed twice. Two seconds also
	// outwait the node's own verdict on a slow write under the
	// timeout-is-failure bug (TimeoutIsFailureAfter), which a client that
	// gave up first would never see.
	c, err := kv.NewClient(kv.ClientConfig{
		Peers:               squallnode.Peers[kv.Peer](t.Nodes),
		AttemptTimeout:      500 * time.Millisecond,
		WriteAttemptTimeout: 2 * time.Second,
		ReadFrom:            t.Home,
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
	return nil, fmt.Errorf("kv has no client for the %s workload", w.Name())
}

func status(ctx context.Context, n workloads.Node) (*kvpb.StatusResponse, error) {
	return squallnode.AskNode(ctx, n.Addr, squallnode.StatusTimeout, func(ctx context.Context, conn *grpc.ClientConn) (*kvpb.StatusResponse, error) {
		return kvpb.NewKVClient(conn).Status(ctx, &kvpb.StatusRequest{})
	})
}

// Leader returns the leader most nodes name, among the nodes that answer.
func (System) Leader(ctx context.Context, nodes []workloads.Node) (string, error) {
	votes := map[string]int{}
	var lastErr error
	for _, n := range nodes {
		st, err := status(ctx, n)
		if err != nil {
			lastErr = err
			continue
		}
		if st.Leader != "" {
			votes[st.Leader]++
		}
	}
	best := squallnode.MostVoted(votes)
	if best == "" && lastErr != nil {
		return "", lastErr
	}
	return best, nil
}

func (s System) Serving(ctx context.Context, nodes []workloads.Node) error {
	leader, err := s.Leader(ctx, nodes)
	if err != nil {
		return err
	}
	if leader == "" {
		return fmt.Errorf("no leader elected")
	}
	return nil
}
