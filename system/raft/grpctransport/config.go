package grpctransport

import (
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/squall-chaos/squall/system/fault"
)

// Config configures a Transport. Zero durations and sizes take the defaults
// named beside them.
type Config struct {
	// Self is this node's Raft id.
	Self uint64
	// Peers maps every node's id to its "host:port". An entry for Self may
	// be present and is ignored.
	Peers map[uint64]string
	// QueueSize bounds the messages waiting for each peer (default 4096).
	// Send drops what does not fit.
	QueueSize int
	// DialTimeout bounds one attempt to connect to a peer (default 2s). A
	// peer behind a firewall that drops packets costs this long per attempt.
	DialTimeout time.Duration
	// SendTimeout bounds how long a send on a peer's stream may go without
	// the peer taking any data (default 2s). A stalled peer holds up its
	// own queue this long, and never any other peer's; a slow one taking a
	// large envelope is not cut off.
	SendTimeout time.Duration
	// SnapshotSendTimeout bounds the call that carries a snapshot (default
	// 2m): snapshots run to hundreds of megabytes.
	SnapshotSendTimeout time.Duration
	// MaxReconnectDelay caps the pause between attempts to reconnect to a
	// peer (default 1s), so a healed partition is noticed within about
	// this long rather than gRPC's default of up to two minutes.
	MaxReconnectDelay time.Duration
	// Logger receives connection state changes (default slog.Default()).
	Logger *slog.Logger
	// Clock times the send watchdog (see SendTimeout); a node passes its
	// injectable clock, so that clock faults reach the watchdog as they
	// reach its Raft. Default fault.SystemClock().
	Clock fault.Clock
}

const (
	defaultQueueSize           = 4096
	defaultDialTimeout         = 2 * time.Second
	defaultSendTimeout         = 2 * time.Second
	defaultSnapshotSendTimeout = 2 * time.Minute
	defaultMaxReconnectDelay   = time.Second

	// MaxMessageSize is the largest envelope a node accepts, big enough
	// for a snapshot. ServerOptions sets it as the receive limit.
	MaxMessageSize = 512 << 20

	// maxEnvelopeBytes splits what a peer has queued into several envelopes
	// when it adds up to more than this, so a backlog of large MsgApps
	// never exceeds MaxMessageSize. A single larger message (a snapshot)
	// still goes in one envelope of its own.
	maxEnvelopeBytes = 32 << 20

	// Keepalive. Each side pings a connection every keepaliveTime (gRPC's
	// floor for clients; it raises anything lower) and drops it when no
	// answer comes within keepaliveTimeout, so a peer that vanished without
	// closing its sockets (SIGKILLed container, dropped packets) is noticed
	// even with no traffic. gRPC also sets keepaliveTimeout as the socket's
	// TCP_USER_TIMEOUT, and that matters more: with Raft's steady heartbeats
	// there is always data in flight, so a connection whose data goes
	// unacknowledged (a partition) is torn down within keepaliveTimeout and
	// redialled, instead of waiting out TCP's retransmission backoff when
	// the partition heals. The server must allow the client's pings, or it
	// would close the connection for "too many pings".
	keepaliveTime       = 10 * time.Second
	keepaliveTimeout    = 2 * time.Second
	keepaliveMinAllowed = keepaliveTime / 2
)

// withDefaults returns cfg with zero fields set to their defaults, or an
// error naming the first field that cannot be used.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Self == 0 {
		return cfg, fmt.Errorf("grpctransport: Config.Self is 0; Raft ids start at 1")
	}
	for id, addr := range cfg.Peers {
		if id == 0 {
			return cfg, fmt.Errorf("grpctransport: Config.Peers has id 0 (address %q); Raft ids start at 1", addr)
		}
		if addr == "" && id != cfg.Self {
			return cfg, fmt.Errorf("grpctransport: Config.Peers[%d] has an empty address", id)
		}
	}
	if cfg.QueueSize < 0 {
		return cfg, fmt.Errorf("grpctransport: Config.QueueSize is %d; want > 0 (or 0 for the default)", cfg.QueueSize)
	}
	setDefault(&cfg.QueueSize, defaultQueueSize)
	setDefault(&cfg.DialTimeout, defaultDialTimeout)
	setDefault(&cfg.SendTimeout, defaultSendTimeout)
	setDefault(&cfg.SnapshotSendTimeout, defaultSnapshotSendTimeout)
	setDefault(&cfg.MaxReconnectDelay, defaultMaxReconnectDelay)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = fault.SystemClock()
	}
	return cfg, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// dialOptions are the client side of a connection to one peer.
func (cfg Config) dialOptions() []grpc.DialOption {
	bo := backoff.DefaultConfig
	bo.BaseDelay = min(100*time.Millisecond, cfg.MaxReconnectDelay)
	bo.MaxDelay = cfg.MaxReconnectDelay
	return []grpc.DialOption{
		// Nodes talk over a private container network.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           bo,
			MinConnectTimeout: cfg.DialTimeout,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                keepaliveTime,
			Timeout:             keepaliveTimeout,
			PermitWithoutStream: true,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(MaxMessageSize)),
	}
}

// ServerOptions returns the options the server that a Transport is
// registered on must be created with: a receive limit that admits
// snapshots, and a keepalive policy that admits the transport's pings and
// drops clients that stop answering its own.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinAllowed,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    keepaliveTime,
			Timeout: keepaliveTimeout,
		}),
	}
}
