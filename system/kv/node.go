package kv

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
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

// Config configures one KV node.
type Config struct {
	// Name is this node's name, one of Peers.
	Name string
	// Peers are all the cluster's members, this one included.
	Peers []Peer
	// Cluster identifies the cluster; a data directory created for another
	// cluster is refused.
	Cluster string
	// DataDir holds the node's identity, WAL and snapshots.
	DataDir string
	// Listen is the address to serve on; default: this node's peer address.
	Listen string
	// ReadMode is how reads are made linearizable. Default ReadIndex.
	ReadMode ReadMode
	// Bugs plants bugs, for showing that the harness catches them. None
	// by default.
	Bugs Bugs
	// LoseUnsynced runs the WAL in its power-loss mode
	// (wal.Options.LoseUnsynced): what it writes and has not synced stays
	// in this process's memory, so killing the process loses it as a
	// power cut would.
	LoseUnsynced bool
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
	// registers the KV server's points, raft.FailBeforeApply and the
	// WAL's wal.FailBeforeSync and wal.FailAfterSync in it.
	Failpoints *fault.Failpoints
	Logger     *slog.Logger

	// tuneWAL, if not nil, adjusts the WAL's options (tests).
	tuneWAL func(*wal.Options)
}

// Node is a running KV node: Raft over gRPC with a WAL, the KV service,
// the Raft transport and the admin service on one gRPC server.
type Node struct {
	cfg       Config
	raft      *raft.Node
	storage   *wal.Storage
	transport *grpctransport.Transport
	server    *grpc.Server
	listener  net.Listener
}

// Start opens the data directory, recovers, and serves.
func Start(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ids := member.RaftIDs(cfg.Peers)
	names := make([]string, 0, len(cfg.Peers))
	addrs := make(map[uint64]string, len(cfg.Peers))
	var self Peer
	for _, p := range cfg.Peers {
		names = append(names, p.Name)
		addrs[ids[p.Name]] = p.Addr
		if p.Name == cfg.Name {
			self = p
		}
	}
	if err := datadir.Claim(cfg.DataDir, datadir.Identity{Cluster: cfg.Cluster, Node: cfg.Name, Peers: names, System: "kv"}); err != nil {
		return nil, err
	}
	walOpts := wal.Options{
		Logger:       cfg.Logger,
		LoseUnsynced: cfg.LoseUnsynced,
		SkipFsync:    cfg.Bugs.SkipFsync,
		Clock:        cfg.Clock,
		Failpoints:   cfg.Failpoints,
	}
	if cfg.tuneWAL != nil {
		cfg.tuneWAL(&walOpts)
	}
	storage, err := wal.OpenWithOptions(cfg.DataDir, slices.Sorted(maps.Keys(addrs)), walOpts)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, storage: storage}
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
	node, kvs, err := startReplica(cfg, storage, func(deliver func(raft.Message)) raft.Transport {
		return n.transport.AddGroup(1, deliver)
	})
	if err != nil {
		return nil, err
	}
	n.raft = node

	n.server = grpc.NewServer(grpctransport.ServerOptions()...)
	n.transport.Register(n.server)
	kvs.Register(n.server)
	fault.NewAdminServer(cfg.Clock, cfg.Failpoints).Register(n.server)
	// The standard health service answers SERVING from here on: the
	// harness's readiness probe, the same for every system.
	healthpb.RegisterHealthServer(n.server, health.NewServer())
	go n.server.Serve(n.listener) // returns when Stop stops the server
	ok = true
	cfg.Logger.Info("kv node serving", "id", cfg.Name, "addr", n.listener.Addr().String(),
		"read_mode", string(cfg.ReadMode), "lose_unsynced", cfg.LoseUnsynced, "bugs", cfg.Bugs)
	return n, nil
}

// withDefaults validates cfg, fills in its defaults and registers the KV
// failpoints.
func (cfg Config) withDefaults() (Config, error) {
	if err := member.Validate(cfg.Name, cfg.Peers); err != nil {
		return cfg, err
	}
	if cfg.Bugs.LeaseReads {
		if cfg.ReadMode != "" && cfg.ReadMode != ReadLease {
			return cfg, fmt.Errorf("the lease-reads bug is read mode %s, not %s", ReadLease, cfg.ReadMode)
		}
		cfg.ReadMode = ReadLease
	}
	if cfg.ReadMode == "" {
		cfg.ReadMode = ReadIndex
	}
	if _, err := ParseReadMode(string(cfg.ReadMode)); err != nil {
		return cfg, err
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
		{FailBeforePropose, "before a write is proposed to raft"},
		{FailAfterCommit, "after a write is applied, before the client is answered"},
		{FailBeforeRead, "before a read is served"},
	} {
		cfg.Failpoints.Register(fp.name, fp.desc)
	}
	return cfg, nil
}

// startReplica starts this member's Raft on storage, recovering the state
// machine from it, and returns it with the KV service over it. connect
// attaches the member to whatever carries its messages and is given the
// function that delivers inbound ones. Start runs a replica over gRPC and
// a WAL; the package's tests run several in one process over an in-memory
// network and storage.
func startReplica(cfg Config, storage raft.DurableStorage, connect func(deliver func(raft.Message)) raft.Transport) (*raft.Node, *Server, error) {
	ids := member.RaftIDs(cfg.Peers)
	byID := make(map[uint64]Peer, len(cfg.Peers))
	for _, p := range cfg.Peers {
		byID[ids[p.Name]] = p
	}
	st := newState(0)
	var node *raft.Node
	// Messages may arrive before StartNode returns the node to give them to.
	ready := make(chan struct{})
	transport := connect(func(m raft.Message) {
		<-ready
		if node != nil { // nil if StartNode failed
			node.Receive(m)
		}
	})
	rcfg := raft.NodeConfig{
		Config:          raft.Config{ID: ids[cfg.Name], ElectionTick: cfg.ElectionTick},
		Storage:         storage,
		Transport:       transport,
		StateMachine:    st,
		Clock:           cfg.Clock,
		TickInterval:    cfg.TickInterval,
		SnapshotEntries: cfg.SnapshotEntries,
		// Encoding the state costs in proportion to it: pace it by what
		// is written, so a large store does not re-encode itself every
		// SnapshotEntries writes.
		SnapshotPacedBySize: true,
		Failpoints:          cfg.Failpoints,
		Logger:              cfg.Logger,
	}
	if cfg.ReadMode == ReadLease {
		rcfg.ReadOnly = raft.ReadOnlyLeaseBased
	}
	node, err := raft.StartNode(rcfg)
	close(ready)
	if err != nil {
		return nil, nil, err
	}
	return node, newServer(node, st, ids[cfg.Name], byID, cfg), nil
}

// Addr is the address the node serves on.
func (n *Node) Addr() string { return n.listener.Addr().String() }

// Done is closed if the node's Raft stops on its own (a storage failure).
func (n *Node) Done() <-chan struct{} { return n.raft.Done() }

// Err is the error that stopped the node's Raft, if any.
func (n *Node) Err() error { return n.raft.Err() }

// Stop stops serving and closes everything, leaving the data directory
// consistent for the next start.
func (n *Node) Stop() {
	n.server.Stop()
	n.close()
}

func (n *Node) close() {
	if n.raft != nil {
		n.raft.Stop()
	}
	if n.transport != nil {
		n.transport.Close()
	}
	if n.listener != nil && n.server == nil {
		n.listener.Close()
	}
	if n.storage != nil {
		n.storage.Close()
	}
}

// Validate checks a peer list and that name is in it.
func Validate(name string, peers []Peer) error { return member.Validate(name, peers) }
