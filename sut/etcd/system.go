package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/workloads"
)

// System is etcd as a system under test. Register it with sut.Register.
// Its nodes serve no squall admin API, so the clock, failpoint and power
// fault families are refused for it.
type System struct{}

// BinaryEnv names a static linux etcd server binary to put in the node
// image instead of building one from sut/etcd/server.
const BinaryEnv = "SQUALL_ETCD_BINARY"

// imageRepo is the repository of etcd's node images.
const imageRepo = "squall-node-etcd"

// BugSerializableReads is the planted misconfiguration: clients read with
// etcd's serializable consistency, which any member answers from its own
// state without asking the leader.
const BugSerializableReads = "serializable-reads"

func (System) Name() string { return "etcd" }
func (System) Port() int    { return ClientPort }

// DefaultConsistency: every etcd transaction is one Raft entry, applied in
// revision order, and reads are linearizable by default.
func (System) DefaultConsistency() string { return "strict-serializable" }

// Image is a FROM scratch image holding etcd's server, built statically
// from the nested module in sut/etcd/server (or $SQUALL_ETCD_BINARY).
func (System) Image(ctx context.Context, logger *slog.Logger) (string, error) {
	binary, err := Binary(ctx)
	if err != nil {
		return "", err
	}
	return runtime.EnsureBinaryImage(ctx, logger, imageRepo, "etcd", binary)
}

// Binary is etcd's server, built statically from the nested module in
// sut/etcd/server, or the file $SQUALL_ETCD_BINARY names.
func Binary(ctx context.Context) (string, error) {
	return runtime.SourceBinary(ctx, "sut/etcd/server", "etcd", BinaryEnv)
}

// Ready is the gRPC health check, which etcd serves on its client port.
func (System) Ready(ctx context.Context, addr string) error { return runtime.Ready(ctx, addr) }

func (System) NodeArgs(node string, members []nemesis.Node, opts sut.NodeOptions) []string {
	peers := make([]Peer, len(members))
	for i, m := range members {
		peers[i] = Peer{Name: m.Name, IP: m.IP}
	}
	return NodeArgs(node, peers, runtime.DataDir, "squall-"+opts.Cluster)
}

func (System) Bugs() []sut.Bug {
	return []sut.Bug{{
		Name:       BugSerializableReads,
		Breaks:     "clients read with etcd's serializable consistency: any member answers from its own state (revealed by partitions)",
		RevealedBy: sut.Reveal{Workload: "register", Nemesis: []string{"partition"}, Interval: 3 * time.Second, OpTimeout: 3 * time.Second},
	}}
}

func (System) Workloads() []string { return []string{"append", "bank", "register"} }

// NewClient returns w's client. It is not bound to t.Home: clientv3
// spreads its requests over every member (round robin), as etcd's users'
// clients do, so a killed member fails no client outright. With
// serializable reads, the reads a client sends to a member cut off from
// the majority return that member's old state.
func (System) NewClient(w workloads.Workload, t workloads.Target, bugs []string) (workloads.Client, error) {
	addrs := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		addrs[i] = n.Addr
	}
	s, err := Dial(addrs, StoreOptions{SerializableReads: slices.Contains(bugs, BugSerializableReads), DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	switch w := w.(type) {
	case *workloads.Register:
		return &registerClient{s: s}, nil
	case *workloads.Bank:
		return &bankClient{s: s, accounts: w.AccountNames(), initial: w.InitialBalances()}, nil
	case *workloads.Append:
		return &appendClient{s: s}, nil
	}
	s.Close()
	return nil, fmt.Errorf("etcd has no client for the %s workload", w.Name())
}

func endpoints(nodes []workloads.Node) map[string]string {
	m := make(map[string]string, len(nodes))
	for _, n := range nodes {
		m[n.Name] = n.Addr
	}
	return m
}

func (System) Leader(ctx context.Context, nodes []workloads.Node) (string, error) {
	return Leader(ctx, endpoints(nodes))
}

func (System) Serving(ctx context.Context, nodes []workloads.Node) error {
	return Serving(ctx, endpoints(nodes))
}
