package kv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/internal/member"
	"github.com/squall-chaos/squall/system/internal/rpcerr"
	"github.com/squall-chaos/squall/system/kv/kvpb"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Peers are the cluster's nodes; the client finds the leader among them.
	Peers []Peer
	// AttemptTimeout bounds one RPC attempt; the caller's context bounds
	// the whole operation, retries included. Default 1s.
	AttemptTimeout time.Duration
	// WriteAttemptTimeout bounds one attempt of a write. Default
	// AttemptTimeout. A write that is merely slow (a commit on a loaded
	// cluster) is better waited for than sent again: a retry proposes a
	// second copy of it, adding to the load that slowed the first, and
	// leans on the session to apply it once.
	WriteAttemptTimeout time.Duration
	// MaxBackoff caps the pause between attempts. Default 200ms.
	MaxBackoff time.Duration
	// Clock times the pauses between attempts. Default: the system clock.
	Clock fault.Clock
	// Pool is where the client's connections come from; several clients
	// may share one. Default: a pool of the client's own, closed with it.
	Pool *member.ConnPool
	// ReadFrom names a node that reads go to first, as a Jepsen client is
	// bound to its node; any node serves linearizable reads (followers ask
	// the leader for a read index). A read waits for that node up to half
	// the time the caller's context has left (at least AttemptTimeout), as
	// a client bound to a node waits for it, so that a node that is slow,
	// or frozen and thawed, answers what was asked of it; if it cannot
	// answer, the read goes to the leader in the time left. Empty: reads
	// go to the leader.
	ReadFrom string
}

// ConnPool holds one connection per node, shared by the clients given it:
// the clients of one process then multiplex their calls over those
// connections, as one gRPC client would, rather than each paying for its
// own. Close it after its clients.
type ConnPool = member.ConnPool

// NewConnPool returns an empty pool for ClientConfig.Pool.
func NewConnPool() *ConnPool { return member.NewConnPool() }

// Client talks to a KV cluster: it finds the leader (from NotLeader hints,
// else by trying each node), retries within the caller's deadline, and
// reuses one connection per node.
//
// Writes carry an exactly-once session: a write is retried with the same
// sequence number until it gets an answer, and the state machine applies
// it once. One Client runs one write at a time (writes queue on a lock);
// use several Clients for concurrent writes. Reads run concurrently.
//
// Every error wraps ErrDefinite (the operation certainly had no effect) or
// ErrIndeterminate (it may have). A write that ends indeterminate may still
// take effect later, until the Client's next write is applied.
type Client struct {
	cfg ClientConfig

	ownPool bool

	mu     sync.Mutex
	leader string

	// writeMu serialises writes. clientID changes only under both locks,
	// as pick reads it under mu; seq only under writeMu.
	writeMu  sync.Mutex
	clientID uint64
	seq      uint64
}

// NewClient returns a client of the cluster; it connects lazily.
func NewClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.Peers) == 0 {
		return nil, errors.New("kv client: no peers")
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = time.Second
	}
	if cfg.WriteAttemptTimeout <= 0 {
		cfg.WriteAttemptTimeout = cfg.AttemptTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = fault.SystemClock()
	}
	ownPool := cfg.Pool == nil
	if ownPool {
		cfg.Pool = member.NewConnPool()
	}
	return &Client{cfg: cfg, ownPool: ownPool, clientID: newClientID()}, nil
}

func newClientID() uint64 { return rand.Uint64()>>1 | 1 }

// Close closes the client's connections, unless they come from a shared
// pool (whose owner closes it).
func (c *Client) Close() error {
	if c.ownPool {
		return c.cfg.Pool.Close()
	}
	return nil
}

// Get reads key; found is false if it does not exist.
func (c *Client) Get(ctx context.Context, key string) (*kvpb.GetResponse, error) {
	if c.cfg.ReadFrom != "" {
		wait := c.cfg.AttemptTimeout
		if deadline, ok := ctx.Deadline(); ok {
			wait = max(wait, -c.cfg.Clock.Since(deadline)/2)
		}
		actx, cancel := context.WithTimeout(ctx, wait)
		resp, err := c.GetFrom(actx, c.cfg.ReadFrom, key)
		cancel()
		if err == nil {
			return resp, nil
		}
	}
	var resp *kvpb.GetResponse
	err := c.do(ctx, c.cfg.AttemptTimeout, func(ctx context.Context, kc kvpb.KVClient) (err error) {
		resp, err = kc.Get(ctx, &kvpb.GetRequest{Key: key})
		return err
	})
	return resp, err
}

// GetFrom reads key from one named node, with no retry or redirection: for
// tests that look at what a particular node serves.
func (c *Client) GetFrom(ctx context.Context, node, key string) (*kvpb.GetResponse, error) {
	conn, err := c.conn(node)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDefinite, err)
	}
	resp, err := kvpb.NewKVClient(conn).Get(ctx, &kvpb.GetRequest{Key: key})
	if err != nil {
		return nil, classify(err, true)
	}
	return resp, nil
}

// Put sets key to value and returns the write's version.
func (c *Client) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	resp, err := c.Txn(ctx, &kvpb.TxnRequest{Success: []*kvpb.Op{{Op: &kvpb.Op_Put{Put: &kvpb.PutRequest{Key: key, Value: value}}}}})
	if err != nil {
		return 0, err
	}
	return resp.Results[0].GetPut().Version, nil
}

// Append appends value to key's value and returns the new whole value.
func (c *Client) Append(ctx context.Context, key string, value []byte) ([]byte, error) {
	resp, err := c.Txn(ctx, &kvpb.TxnRequest{Success: []*kvpb.Op{{Op: &kvpb.Op_Append{Append: &kvpb.AppendRequest{Key: key, Value: value}}}}})
	if err != nil {
		return nil, err
	}
	return resp.Results[0].GetAppend().Value, nil
}

// Delete removes key and reports whether it existed.
func (c *Client) Delete(ctx context.Context, key string) (bool, error) {
	resp, err := c.Txn(ctx, &kvpb.TxnRequest{Success: []*kvpb.Op{{Op: &kvpb.Op_Delete{Delete: &kvpb.DeleteRequest{Key: key}}}}})
	if err != nil {
		return false, err
	}
	return resp.Results[0].GetDelete().Deleted, nil
}

// CompareAndSet sets key to value if its value is expected (or, if
// expected is nil, if key is absent). It reports whether it did, and the
// value it found.
func (c *Client) CompareAndSet(ctx context.Context, key string, expected, value []byte) (bool, *kvpb.GetResponse, error) {
	req := &kvpb.CompareAndSetRequest{Key: key, Expected: expected, ExpectAbsent: expected == nil, Value: value}
	var resp *kvpb.CompareAndSetResponse
	err := c.write(ctx, func(ctx context.Context, kc kvpb.KVClient, s *kvpb.Session) (err error) {
		req.Session = s
		resp, err = kc.CompareAndSet(ctx, req)
		return err
	})
	if err != nil {
		return false, nil, err
	}
	return resp.Succeeded, resp.Current, nil
}

// Txn runs a transaction exactly once.
func (c *Client) Txn(ctx context.Context, req *kvpb.TxnRequest) (*kvpb.TxnResponse, error) {
	var resp *kvpb.TxnResponse
	err := c.write(ctx, func(ctx context.Context, kc kvpb.KVClient, s *kvpb.Session) (err error) {
		req.Session = s
		resp, err = kc.Txn(ctx, req)
		return err
	})
	return resp, err
}

// Status asks one named node for its status. It reads and changes
// nothing, so its errors are gRPC's as they are, outside the taxonomy of
// ErrDefinite and ErrIndeterminate.
func (c *Client) Status(ctx context.Context, node string) (*kvpb.StatusResponse, error) {
	conn, err := c.conn(node)
	if err != nil {
		return nil, err
	}
	return kvpb.NewKVClient(conn).Status(ctx, &kvpb.StatusRequest{})
}

// write runs call under the client's session with the next sequence number.
func (c *Client) write(ctx context.Context, call func(context.Context, kvpb.KVClient, *kvpb.Session) error) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.seq++
	session := &kvpb.Session{ClientId: c.clientID, Seq: c.seq}
	err := c.do(ctx, c.cfg.WriteAttemptTimeout, func(ctx context.Context, kc kvpb.KVClient) error {
		return call(ctx, kc, session)
	})
	if err != nil && strings.Contains(err.Error(), ErrSessionExpired.Error()) {
		c.mu.Lock()
		c.clientID, c.seq = newClientID(), 0
		c.mu.Unlock()
	}
	return err
}

// do runs call against the leader, each attempt bounded by attempt,
// retrying until it succeeds, fails definitely, or ctx ends.
func (c *Client) do(ctx context.Context, attempt time.Duration, call func(context.Context, kvpb.KVClient) error) error {
	sent := false
	var lastErr error
	pause := 5 * time.Millisecond
	for n := 0; ; n++ {
		target := c.pick(n)
		conn, err := c.conn(target)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrDefinite, err)
		}
		actx, cancel := context.WithTimeout(ctx, attempt)
		err = call(actx, kvpb.NewKVClient(conn))
		cancel()
		if err == nil {
			c.setLeader(target)
			return nil
		}
		lastErr = err
		if hint, notLeader := rpcerr.LeaderHint(err); notLeader {
			c.setLeader(hint)
		} else {
			switch status.Code(err) {
			case codes.InvalidArgument:
				return classifyLast(err, sent)
			case codes.Aborted:
				if isFinal(err) {
					return classifyLast(err, sent)
				}
			default:
				if maySent(err) {
					sent = true
				}
			}
			c.setLeader("")
		}
		if ctx.Err() != nil {
			return classifyLast(lastErr, sent)
		}
		timer := c.cfg.Clock.NewTimer(pause/2 + rand.N(pause))
		select {
		case <-ctx.Done():
			timer.Stop()
			return classifyLast(lastErr, sent)
		case <-timer.C():
		}
		pause = min(2*pause, c.cfg.MaxBackoff)
	}
}

// isFinal reports whether an Aborted error is one a retry cannot fix.
func isFinal(err error) bool {
	msg := status.Convert(err).Message()
	return strings.Contains(msg, ErrStaleRequest.Error()) || strings.Contains(msg, ErrSessionExpired.Error()) ||
		strings.Contains(msg, ErrTimedOut.Error()) || strings.Contains(msg, "injected")
}

// maySent reports whether a failed RPC may have reached the server. gRPC
// fails an RPC with "connection error" when it never had a connection to
// send it on.
func maySent(err error) bool {
	st := status.Convert(err)
	return !(st.Code() == codes.Unavailable && strings.HasPrefix(st.Message(), "connection error"))
}

// pick returns the node to try: the known leader, else the next in turn.
func (c *Client) pick(attempt int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != "" {
		return c.leader
	}
	return c.cfg.Peers[(attempt+int(c.clientID%uint64(len(c.cfg.Peers))))%len(c.cfg.Peers)].Name
}

func (c *Client) setLeader(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leader = name
}

func (c *Client) conn(name string) (*grpc.ClientConn, error) {
	for _, p := range c.cfg.Peers {
		if p.Name == name {
			return c.cfg.Pool.Conn(p.Addr)
		}
	}
	return nil, fmt.Errorf("kv client: unknown node %q", name)
}
