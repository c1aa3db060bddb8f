// Package squallnode is what the systems squall ships (kv, percolator)
// share as systems under test: their nodes are the squall binary's `squall
// node`, in squall's own image, answering the gRPC health check and
// squall's admin API on one port.
package squallnode

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/squall-chaos/squall/harness/runtime"
	"github.com/squall-chaos/squall/nemesis"
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/workloads"
)

// Port is the port a squall node serves its client and admin APIs on.
const Port = 7000

// Node is the part of sut.System every squall node shares (its image,
// port, readiness and admin API); a system embeds it.
type Node struct{ Admin }

// Port is Port.
func (Node) Port() int { return Port }

// Image is squall's node image, built from this binary or its source.
func (Node) Image(ctx context.Context, logger *slog.Logger) (string, error) {
	return runtime.EnsureImage(ctx, logger)
}

// Ready is the gRPC health check every squall node answers.
func (Node) Ready(ctx context.Context, addr string) error { return runtime.Ready(ctx, addr) }

// Args is the command line of `squall node` for node of system: its
// peers, data volume, cluster name, bugs and, for power cuts, the loss of
// unsynced writes.
func Args(system, node string, members []nemesis.Node, opts sut.NodeOptions) []string {
	peers := make([]string, len(members))
	for i, m := range members {
		peers[i] = m.Name + "=" + netip.AddrPortFrom(m.IP, Port).String()
	}
	args := []string{"node", "--system", system, "--id", node, "--peers", strings.Join(peers, ","),
		"--data", runtime.DataDir, "--cluster", opts.Cluster}
	for _, b := range opts.Bugs {
		args = append(args, "--bug", b)
	}
	if opts.LoseUnsynced {
		args = append(args, "--lose-unsynced")
	}
	return args
}

// AskNode makes one call to node n on a connection of its own, bounded by
// timeout.
func AskNode[T any](ctx context.Context, addr string, timeout time.Duration, call func(context.Context, *grpc.ClientConn) (T, error)) (T, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		var zero T
		return zero, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return call(ctx, conn)
}

// StatusTimeout bounds one status call to a node.
const StatusTimeout = time.Second

// MostVoted is the name with the most votes, the smallest such name on a
// tie; "" if there are no votes.
func MostVoted(votes map[string]int) string {
	best, count := "", 0
	for l, v := range votes {
		if v > count || (v == count && l < best) {
			best, count = l, v
		}
	}
	return best
}

// Peers are nodes as a squall client takes them.
func Peers[P ~struct{ Name, Addr string }](nodes []workloads.Node) []P {
	peers := make([]P, len(nodes))
	for i, n := range nodes {
		peers[i] = P{Name: n.Name, Addr: n.Addr}
	}
	return peers
}

// Bugs are a squall system's planted bugs as sut.Bugs, each revealed as
// reveals says.
func Bugs[B ~struct{ Name, Description string }](planted []B, reveals map[string]sut.Reveal) []sut.Bug {
	bugs := make([]sut.Bug, len(planted))
	for i, p := range planted {
		b := struct{ Name, Description string }(p)
		bugs[i] = sut.Bug{Name: b.Name, Breaks: b.Description, RevealedBy: reveals[b.Name]}
	}
	return bugs
}
