package percolator

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/internal/datadir"
	"github.com/squall-chaos/squall/system/internal/member"
	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/grpctransport"
	"github.com/squall-chaos/squall/system/raft/wal"
)

// DefaultShards is the number of shards of a cluster that names none.
const DefaultShards = 2

// Config configures one Percolator node.
type Config struct {
	// Name is this node's name, one of Peers.
	Name string
	// Peers are all the cluster's members, this one included.
	Peers []member.Peer
	// Cluster identifies the cluster; a data directory created for another
	// cluster is refused.
	Cluster string
	// DataDir holds the node's identity and one directory per Raft group
	// (group-0 for the oracle, group-1.. for the shards).
	DataDir string
	// Listen is the address to serve on; default: this node's peer address.
	Listen string
	// Shards is the number of shard groups. Default DefaultShards. Every
	// node of a cluster must agree on it: it decides where keys live.
	Shards int
	// TickInterval and ElectionTick set Raft's timing. Defaults 100ms, 10.
	TickInterval time.Duration
	ElectionTick int
	// SnapshotEntries is how many applied entries trigger a snapshot,
	// once they also hold as many bytes as the last snapshot (see
	// raft.NodeConfig).
	SnapshotEntries uint64
	// Clock is the node's injectable clock; default a true SkewedClock.
	Clock *fault.SkewedClock
	// Failpoints is the node's registry; default a new one. The node
	// registers the Percolator server's and oracle's points,
	// raft.FailBeforeApply and the WAL's wal.FailBeforeSync and
	// wal.FailAfterSync in it (one point each for all of the node's
	// groups).
	Failpoints *fault.Failpoints
	Logger     *slog.Logger
	// Bugs plants bugs, for showing that the harness catches them. None
	// by default.
	Bugs Bugs
	// LoseUnsynced runs every group's WAL in its power-loss mode
	// (wal.Options.LoseUnsynced): what it writes and has not synced stays
	// in this process's memory, so killing the process loses it as a
	// power cut would.
	LoseUnsynced bool

	// tuneWAL, if not nil, adjusts every group's WAL options (tests).
	tuneWAL func(*wal.Options)
}

// Node is a running Percolator node: one replica of the oracle's group
// and of every shard's, each with its own WAL, sharing one Raft transport
// and one gRPC server with the Percolator, Raft, admin and health
// services.
type Node struct {
	cfg       Config
	storages  []*wal.Storage // by group
	rafts     []*raft.Node   // by group
	transport *grpctransport.Transport
	server    *grpc.Server
	listener  net.Listener

	done     chan struct{}
	failOnce sync.Once
	err      error // set before done is closed
}

// Start opens the data directory, recovers every group, and serves.
func Start(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ids := member.RaftIDs(cfg.Peers)
	names := make([]string, 0, len(cfg.Peers))
	addrs := make(map[uint64]string, len(cfg.Peers))
	byID := make(map[uint64]member.Peer, len(cfg.Peers))
	var self member.Peer
	for _, p := range cfg.Peers {
		names = append(names, p.Name)
		addrs[ids[p.Name]] = p.Addr
		byID[ids[p.Name]] = p
		if p.Name == cfg.Name {
			self = p
		}
	}
	if err := datadir.Claim(cfg.DataDir, datadir.Identity{Cluster: cfg.Cluster, Node: cfg.Name, Peers: names, System: "percolator"}); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			n.close()
		}
	}()

	listen := cfg.Listen
	if listen == "" {
		listen = self.Addr
	}
	n.listener, err = net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	n.transport, err = grpctransport.New(grpctransport.Config{Self: ids[cfg.Name], Peers: addrs, Logger: cfg.Logger, Clock: cfg.Clock})
	if err != nil {
		return nil, err
	}
	srv := &Server{self: ids[cfg.Name], peers: byID, fps: cfg.Failpoints}
	oracleState := NewOracleState()
	if srv.oracleNode, err = n.startGroup(OracleGroup, ids, oracleState); err != nil {
		return nil, err
	}
	srv.oracle = NewOracle(srv.oracleNode, oracleState, OracleConfig{
		Clock:      cfg.Clock,
		Logger:     cfg.Logger.With("group", OracleGroup),
		Failpoints: cfg.Failpoints,
		TrustClock: cfg.Bugs.OracleTrustsClock,
	})
	for g := uint32(1); g <= uint32(cfg.Shards); g++ {
		st := newShardState(cfg.Bugs)
		node, err := n.startGroup(g, ids, st)
		if err != nil {
			return nil, err
		}
		srv.shards = append(srv.shards, newShard(g, node, st))
	}

	n.server = grpc.NewServer(grpctransport.ServerOptions()...)
	n.transport.Register(n.server)
	srv.Register(n.server)
	fault.NewAdminServer(cfg.Clock, cfg.Failpoints).Register(n.server)
	// The standard health service answers SERVING from here on: the
	// harness's readiness probe, the same for every system.
	healthpb.RegisterHealthServer(n.server, health.NewServer())
	go n.server.Serve(n.listener)
	ok = true
	cfg.Logger.Info("percolator node serving", "id", cfg.Name, "addr", n.listener.Addr().String(),
		"shards", cfg.Shards, "lose_unsynced", cfg.LoseUnsynced, "bugs", cfg.Bugs)
	return n, nil
}

// startGroup opens group's WAL in its own directory and starts this
// member's Raft of it over the node's transport, recovering sm.
func (n *Node) startGroup(group uint32, ids map[string]uint64, sm raft.StateMachine) (*raft.Node, error) {
	cfg := n.cfg
	logger := cfg.Logger.With("group", group)
	dir := filepath.Join(cfg.DataDir, fmt.Sprintf("group-%d", group))
	peers := slices.Sorted(maps.Values(ids))
	walOpts := wal.Options{
		Logger:       logger,
		LoseUnsynced: cfg.LoseUnsynced,
		SkipFsync:    cfg.Bugs.SkipFsync,
		Clock:        cfg.Clock,
		Failpoints:   cfg.Failpoints,
	}
	if cfg.tuneWAL != nil {
		cfg.tuneWAL(&walOpts)
	}
	storage, err := wal.OpenWithOptions(dir, peers, walOpts)
	if err != nil {
		return nil, fmt.Errorf("group %d: %w", group, err)
	}
	n.storages = append(n.storages, storage)
	var node *raft.Node
	// Messages may arrive before StartNode returns the node to give them to.
	ready := make(chan struct{})
	transport := n.transport.AddGroup(uint64(group), func(m raft.Message) {
		<-ready
		if node != nil { // nil if StartNode failed
			node.Receive(m)
		}
	})
	node, err = raft.StartNode(raft.NodeConfig{
		Config:          raft.Config{ID: ids[cfg.Name], ElectionTick: cfg.ElectionTick},
		Storage:         storage,
		Transport:       transport,
		StateMachine:    sm,
		Clock:           cfg.Clock,
		TickInterval:    cfg.TickInterval,
		SnapshotEntries: cfg.SnapshotEntries,
		// A shard's snapshot encodes every version of every key, so its
		// cost grows with the history; paced by size, it stays in
		// proportion to what is written.
		SnapshotPacedBySize: true,
		Failpoints:          cfg.Failpoints,
		Logger:              logger,
	})
	close(ready)
	if err != nil {
		return nil, fmt.Errorf("group %d: %w", group, err)
	}
	n.rafts = append(n.rafts, node)
	go func() {
		<-node.Done()
		if err := node.Err(); err != nil {
			n.fail(fmt.Errorf("group %d: %w", group, err))
		}
	}()
	return node, nil
}

// fail records the first group that stopped on its own and closes done.
func (n *Node) fail(err error) {
	n.failOnce.Do(func() {
		n.err = err
		close(n.done)
	})
}

// withDefaults validates cfg, fills in its defaults and registers the
// Percolator failpoints.
func (cfg Config) withDefaults() (Config, error) {
	if err := member.Validate(cfg.Name, cfg.Peers); err != nil {
		return cfg, err
	}
	if cfg.Shards == 0 {
		cfg.Shards = DefaultShards
	}
	if cfg.Shards < 1 {
		return cfg, fmt.Errorf("shards: %d must be at least 1", cfg.Shards)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = fault.NewClock()
	}
	if cfg.Failpoints == nil {
		cfg.Failpoints = fault.NewFailpoints(cfg.Clock, cfg.Logger)
	}
	for _, fp := range []struct{ name, desc string }{
		{FailBeforePrewrite, "before a prewrite is proposed to raft"},
		{FailBeforeCommit, "before a commit is proposed to raft"},
		{FailAfterCommit, "after a commit is applied, before the client is answered"},
	} {
		cfg.Failpoints.Register(fp.name, fp.desc)
	}
	return cfg, nil
}

// Addr is the address the node serves on.
func (n *Node) Addr() string { return n.listener.Addr().String() }

// Done is closed if one of the node's Raft groups stops on its own (a
// storage failure); Err says which and why.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is the error that stopped one of the node's groups, if any.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

// Stop stops serving and closes everything, leaving the data directory
// consistent for the next start.
func (n *Node) Stop() {
	n.server.Stop()
	n.close()
}

func (n *Node) close() {
	for _, r := range n.rafts {
		r.Stop()
	}
	if n.transport != nil {
		n.transport.Close()
	}
	if n.listener != nil && n.server == nil {
		n.listener.Close()
	}
	var errs []error
	for _, s := range n.storages {
		errs = append(errs, s.Close())
	}
	if err := errors.Join(errs...); err != nil {
		n.cfg.Logger.Error("close storage", "err", err)
	}
}
