package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/kv/kvpb"
	"github.com/squall-chaos/squall/system/percolator"
	"github.com/squall-chaos/squall/system/percolator/percolatorpb"
)

// nodeCommand is `squall node`: the server process inside each container.
func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "run one node of a system under test (the process inside each container)",
		Description: "Runs one node until SIGTERM (clean exit 0) and recovers from --data after a crash.\n" +
			"Prints one line, \"squall node ID ready on ADDR\", on stdout once it serves.\n" +
			"Logs go to stderr as JSON lines.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "system", Value: "kv", Usage: "system to run: kv, or percolator (transactions over sharded raft with a timestamp oracle)"},
			&cli.StringFlag{Name: "id", Usage: "this node's id, one of --peers"},
			&cli.StringFlag{Name: "peers", Usage: "all members as ID=HOST:PORT,... (this node included)"},
			&cli.StringFlag{Name: "data", Usage: "data directory (created if missing)"},
			&cli.StringFlag{Name: "listen", Usage: "address to listen on (default: this node's address in --peers)"},
			&cli.StringFlag{Name: "cluster", Usage: "cluster identity recorded in the data directory (default: derived from --peers)"},
			&cli.StringFlag{Name: "read-mode", Value: string(kv.ReadIndex), Usage: "kv: how reads are made linearizable: readindex, log, or lease (unsafe under clock faults)"},
			&cli.IntFlag{Name: "shards", Value: percolator.DefaultShards, Usage: "percolator: number of shard groups (every node must agree)"},
			&cli.StringSliceFlag{Name: "bug", Usage: bugUsage()},
			&cli.BoolFlag{Name: "lose-unsynced", Usage: "power-loss storage mode: what the WAL writes and has not fsynced stays in this process's memory " +
				"until the fsync, so a SIGKILL loses it as a power cut loses the page cache (normal mode: the OS holds it and a kill loses nothing)"},
			&cli.DurationFlag{Name: "tick", Value: 100 * time.Millisecond, Usage: "raft tick interval"},
			&cli.IntFlag{Name: "election-ticks", Value: 10, Usage: "raft election timeout in ticks (randomized up to twice that)"},
			&cli.Uint64Flag{Name: "snapshot-entries", Value: 10000, Usage: "applied entries between snapshots (each replica waits 1 to 1.5 times this, drawn anew each time, " +
				"and until the entries hold as many bytes as its last snapshot)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Action: runNode,
		Subcommands: []*cli.Command{
			nodeHealthCommand(),
		},
	}
}

// bugUsage describes --bug: every planted bug of each system, one a line.
func bugUsage() string {
	var b strings.Builder
	b.WriteString("plant a bug (never on by default; repeat the flag for several); each hides until one family of faults reveals it")
	for _, sys := range []struct {
		name string
		bugs []kv.PlantedBug
	}{{"kv", kv.PlantedBugs()}, {"percolator", percolator.PlantedBugs()}} {
		fmt.Fprintf(&b, "\n\t%s:", sys.name)
		for _, bug := range sys.bugs {
			fmt.Fprintf(&b, "\n\t  %s: %s", bug.Name, bug.Description)
		}
	}
	return b.String()
}

// parsePeers parses ID=HOST:PORT,... into peers.
func parsePeers(s string) ([]kv.Peer, error) {
	var peers []kv.Peer
	for _, item := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("--peers: %q is not ID=HOST:PORT", item)
		}
		peers = append(peers, kv.Peer{Name: name, Addr: addr})
	}
	return peers, nil
}

// defaultCluster derives a cluster identity from the membership, so that a
// data directory is not silently reused by a cluster of other addresses.
func defaultCluster(peers []kv.Peer) string {
	items := make([]string, len(peers))
	for i, p := range peers {
		items[i] = p.Name + "=" + p.Addr
	}
	slices.Sort(items)
	return fmt.Sprintf("%x", sha256.Sum256([]byte(strings.Join(items, ","))))[:16]
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

func runNode(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("node: unexpected argument %q", c.Args().First())
	}
	for _, required := range []string{"id", "peers", "data"} {
		if c.String(required) == "" {
			return fmt.Errorf("--%s is required (see 'squall node --help')", required)
		}
	}
	system := c.String("system")
	if system != "kv" && system != "percolator" {
		return fmt.Errorf("--system: %q is not a system this build can run (want kv or percolator)", system)
	}
	peers, err := parsePeers(c.String("peers"))
	if err != nil {
		return err
	}
	if err := kv.Validate(c.String("id"), peers); err != nil {
		return fmt.Errorf("--peers/--id: %w", err)
	}
	if c.Duration("tick") <= 0 {
		return fmt.Errorf("--tick: %v must be positive", c.Duration("tick"))
	}
	if c.Int("election-ticks") < 2 {
		return fmt.Errorf("--election-ticks: %d must be at least 2", c.Int("election-ticks"))
	}
	level, err := parseLogLevel(c.String("log-level"))
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})).With("node", c.String("id"))
	cluster := c.String("cluster")
	if cluster == "" {
		cluster = defaultCluster(peers)
	}

	common := nodeSettings{
		name:            c.String("id"),
		peers:           peers,
		cluster:         cluster,
		dataDir:         c.String("data"),
		listen:          c.String("listen"),
		tick:            c.Duration("tick"),
		electionTicks:   c.Int("election-ticks"),
		snapshotEntries: c.Uint64("snapshot-entries"),
		loseUnsynced:    c.Bool("lose-unsynced"),
		logger:          logger,
	}
	var node runningNode
	if system == "percolator" {
		node, err = startPercolatorNode(c, common)
	} else {
		node, err = startKVNode(c, common)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "squall node %s ready on %s\n", c.String("id"), node.Addr())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	select {
	case sig := <-signals:
		logger.Info("stopping", "signal", sig.String())
		node.Stop()
		return nil
	case <-node.Done():
		err := node.Err()
		node.Stop()
		return fmt.Errorf("node %s stopped: %w", c.String("id"), err)
	}
}

// nodeHealthCommand is `squall node health`: a readiness probe a container
// wait can run. It exits 0 when the node answers its status RPC.
func nodeHealthCommand() *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "exit 0 if the node at --addr serves (with --leader: and knows a leader for each of its groups)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:7000", Usage: "node address"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "how long to wait for the node to answer"},
			&cli.BoolFlag{Name: "leader", Usage: "also require that the node knows a leader (every group's, for percolator)"},
		},
		Action: func(c *cli.Context) error {
			addr := c.String("addr")
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return fmt.Errorf("--addr: %w", err)
			}
			defer conn.Close()
			// Every system's node serves the standard health service.
			hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
			if err != nil {
				return fmt.Errorf("node at %s is not serving: %w", addr, err)
			}
			if hc.Status != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("node at %s reports %s", addr, hc.Status)
			}
			line, leaderKnown, err := nodeStatus(ctx, conn)
			if err != nil {
				return fmt.Errorf("node at %s serves but its status failed: %w", addr, err)
			}
			if c.Bool("leader") && !leaderKnown {
				return fmt.Errorf("node at %s serves but knows no leader (%s)", addr, line)
			}
			fmt.Fprintln(c.App.Writer, line)
			return nil
		},
	}
}

// nodeStatus describes a node from its system's Status RPC (kv's, or
// percolator's if kv's is not served), and says whether it knows a leader
// for every group it runs.
func nodeStatus(ctx context.Context, conn *grpc.ClientConn) (string, bool, error) {
	st, err := kvpb.NewKVClient(conn).Status(ctx, &kvpb.StatusRequest{})
	if err == nil {
		return fmt.Sprintf("%s %s term %d leader %q applied %d", st.Id, st.Role, st.Term, st.Leader, st.Applied), st.Leader != "", nil
	}
	if status.Code(err) != codes.Unimplemented {
		return "", false, err
	}
	pst, err := percolatorpb.NewPercolatorClient(conn).Status(ctx, &percolatorpb.StatusRequest{})
	if err != nil {
		return "", false, err
	}
	line := pst.Id
	known := len(pst.Groups) > 0
	for _, g := range pst.Groups {
		line += fmt.Sprintf(" | group %d %s term %d leader %q applied %d", g.Group, g.Role, g.Term, g.Leader, g.Applied)
		known = known && g.Leader != ""
	}
	return line, known, nil
}

// nodeSettings are the flags every system's node takes.
type nodeSettings struct {
	name, cluster, dataDir, listen string
	peers                          []kv.Peer
	tick                           time.Duration
	electionTicks                  int
	snapshotEntries                uint64
	loseUnsynced                   bool
	logger                         *slog.Logger
}

// runningNode is what runNode needs of any system's node.
type runningNode interface {
	Addr() string
	Stop()
	Done() <-chan struct{}
	Err() error
}

// refuseFlags refuses flags that belong to another system than the one
// being run, rather than silently ignoring them.
func refuseFlags(c *cli.Context, system string, flags ...string) error {
	for _, f := range flags {
		if c.IsSet(f) {
			return fmt.Errorf("--%s does not apply to --system %s", f, system)
		}
	}
	return nil
}

func startKVNode(c *cli.Context, s nodeSettings) (runningNode, error) {
	if err := refuseFlags(c, "kv", "shards"); err != nil {
		return nil, err
	}
	mode, err := kv.ParseReadMode(c.String("read-mode"))
	if err != nil {
		return nil, fmt.Errorf("--read-mode: %w", err)
	}
	var bugs kv.Bugs
	for _, bug := range c.StringSlice("bug") {
		if err := bugs.Plant(bug); err != nil {
			return nil, fmt.Errorf("--bug: %w", err)
		}
	}
	if bugs.LeaseReads {
		// The bug is read mode lease: it takes the mode unless the flag
		// asks for another, which kv refuses.
		if !c.IsSet("read-mode") {
			mode = ""
		} else if mode != kv.ReadLease {
			return nil, fmt.Errorf("--bug lease-reads is --read-mode %s; it cannot run with --read-mode %s", kv.ReadLease, mode)
		}
	}
	node, err := kv.Start(kv.Config{
		Name:            s.name,
		Peers:           s.peers,
		Cluster:         s.cluster,
		DataDir:         s.dataDir,
		Listen:          s.listen,
		ReadMode:        mode,
		Bugs:            bugs,
		LoseUnsynced:    s.loseUnsynced,
		TickInterval:    s.tick,
		ElectionTick:    s.electionTicks,
		SnapshotEntries: s.snapshotEntries,
		Logger:          s.logger,
	})
	if err != nil {
		return nil, err
	}
	return node, nil
}

// percolatorGCPercent is the Go collector's target (GOGC) of a percolator
// node, unless the environment sets GOGC. A transaction is a dozen small
// RPCs and Raft messages, all garbage soon after, and on a loaded node the
// collector competes with commits for CPU: at Go's default of 100 the
// nodes of BenchmarkTxn (system/percolator) spend 5-8% more CPU per
// transaction and commit about 5% fewer (docs/percolator.md). The price is
// a heap up to five times the live data, tens of megabytes for a node.
const percolatorGCPercent = 400

// defaultGCPercent sets the collector's target to percent, unless the
// environment's GOGC chose one.
func defaultGCPercent(percent int) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(percent)
	}
}

func startPercolatorNode(c *cli.Context, s nodeSettings) (runningNode, error) {
	if err := refuseFlags(c, "percolator", "read-mode"); err != nil {
		return nil, err
	}
	if c.Int("shards") < 1 {
		return nil, fmt.Errorf("--shards: %d must be at least 1", c.Int("shards"))
	}
	var bugs percolator.Bugs
	for _, bug := range c.StringSlice("bug") {
		if err := bugs.Plant(bug); err != nil {
			return nil, fmt.Errorf("--bug: %w", err)
		}
	}
	defaultGCPercent(percolatorGCPercent)
	node, err := percolator.Start(percolator.Config{
		Name:            s.name,
		Peers:           s.peers,
		Cluster:         s.cluster,
		DataDir:         s.dataDir,
		Listen:          s.listen,
		Shards:          c.Int("shards"),
		TickInterval:    s.tick,
		ElectionTick:    s.electionTicks,
		SnapshotEntries: s.snapshotEntries,
		Logger:          s.logger,
		Bugs:            bugs,
		LoseUnsynced:    s.loseUnsynced,
	})
	if err != nil {
		return nil, err
	}
	return node, nil
}
