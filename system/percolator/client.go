package percolator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/internal/member"
	"github.com/squall-chaos/squall/system/internal/rpcerr"
	pb "github.com/squall-chaos/squall/system/percolator/percolatorpb"
	"google.golang.org/grpc"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Peers are the cluster's nodes; the client finds each group's leader
	// among them.
	Peers []member.Peer
	// Shards is the cluster's number of shards, which decides where each
	// key lives (ShardOf). Default DefaultShards, the nodes' default.
	Shards int
	// AttemptTimeout bounds one RPC attempt; the caller's context bounds
	// the whole operation, retries included. Default 1s. An attempt that
	// runs out of time doubles the next one's, up to 16 times this.
	AttemptTimeout time.Duration
	// MaxBackoff caps the pause between attempts, and between looks at a
	// lock that blocks a read. Default 100ms.
	MaxBackoff time.Duration
	// LockTTL is how long a transaction's locks protect it from being
	// rolled back by others: a client that dies mid-commit blocks the keys
	// it locked for this long. Default 3s.
	LockTTL time.Duration
	// Clock times the pauses between attempts. Default: the system clock.
	Clock fault.Clock
	// Pool is where the client's connections come from; several clients
	// may share one. Default: a pool of the client's own, closed with it.
	Pool *member.ConnPool

	// hooks stop a commit part way, for tests; nil in production.
	hooks *clientHooks
}

// clientHooks let tests stop a commit where a crash of the client or a
// lost message would.
type clientHooks struct {
	// afterPrewrite runs once every key is prewritten, before the commit
	// timestamp is taken; an error ends the commit there, leaving the
	// locks behind as a client that crashed would.
	afterPrewrite func() error
	// skipSecondaryCommits ends a commit once the primary is committed,
	// leaving the other shards' locks for readers to roll forward.
	skipSecondaryCommits bool
}

// Client runs Percolator transactions against a cluster. It finds the
// leader of each Raft group (from NotLeader hints, else by trying each
// node), retries within the caller's deadline, and reuses one connection
// per node. A Client is safe for concurrent use; each Txn belongs to one
// goroutine.
type Client struct {
	cfg     ClientConfig
	ownPool bool
	addrs   map[string]string // node name -> address

	mu sync.Mutex
	// leaders holds the last known leader of each group, by group id (0
	// the oracle, 1..Shards the shards); "" when unknown.
	leaders []string

	// batchers holds each node's batchClient, by address, with the
	// connection it streams on.
	batchers map[string]*batchClient

	tso tsoQueue
	// background counts the secondaries' commits still running after
	// their transactions' Commit returned; Close waits for them. closed
	// (under mu) stops new ones from starting once Close waits, as a
	// WaitGroup requires.
	background sync.WaitGroup
	closed     bool
}

// NewClient returns a client of the cluster; it connects lazily.
func NewClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.Peers) == 0 {
		return nil, errors.New("percolator client: no peers")
	}
	if cfg.Shards <= 0 {
		cfg.Shards = DefaultShards
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 100 * time.Millisecond
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 3 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = fault.SystemClock()
	}
	ownPool := cfg.Pool == nil
	if ownPool {
		cfg.Pool = member.NewConnPool()
	}
	addrs := make(map[string]string, len(cfg.Peers))
	for _, p := range cfg.Peers {
		addrs[p.Name] = p.Addr
	}
	return &Client{cfg: cfg, ownPool: ownPool, addrs: addrs, leaders: make([]string, cfg.Shards+1),
		batchers: make(map[string]*batchClient)}, nil
}

// Close waits for the secondaries' commits still running, then closes
// the client's connections, unless they come from a shared pool (whose
// owner closes it). Calls still out on the client fail, as indeterminate
// if they may have reached a node; later calls fail at once, as definite.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.background.Wait()
	c.mu.Lock()
	batchers := c.batchers
	c.batchers = make(map[string]*batchClient)
	c.mu.Unlock()
	for _, b := range batchers {
		b.close() // may wait for a call opening a stream: not under mu
	}
	if c.ownPool {
		return c.cfg.Pool.Close()
	}
	return nil
}

// Begin starts a transaction: it takes a start timestamp from the oracle,
// the snapshot every read of the transaction sees.
func (c *Client) Begin(ctx context.Context) (*Txn, error) {
	ts, err := c.timestamp(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &Txn{c: c, startTS: ts, writes: make(map[string]*pb.Mutation)}, nil
}

// timestamp takes one timestamp from the oracle, allocated after the call
// began. Concurrent callers share requests: while one request is out, new
// callers queue for the next, which asks for as many timestamps as there
// are callers, so that each still gets one allocated after its call
// began. Errors are definite: a timestamp handed out and never heard of
// is simply unused.
func (c *Client) timestamp(ctx context.Context) (uint64, error) {
	pause := time.Millisecond
	for {
		ch := make(chan tsoResult, 1)
		c.tso.mu.Lock()
		c.tso.waiting = append(c.tso.waiting, ch)
		if !c.tso.running {
			c.tso.running = true
			go c.fetchTimestamps()
		}
		c.tso.mu.Unlock()
		var r tsoResult
		select {
		case r = <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: timestamp: %v", ErrDefinite, ctx.Err())
		}
		if r.err == nil {
			return r.ts, nil
		}
		if c.isClosed() {
			return 0, fmt.Errorf("%w: timestamp: %v", ErrDefinite, errClientClosed)
		}
		if c.sleep(ctx, pause) != nil {
			return 0, fmt.Errorf("%w: timestamp: %v", ErrDefinite, r.err)
		}
		pause = min(2*pause, c.cfg.MaxBackoff)
	}
}

// tsoQueue holds the callers waiting for a timestamp.
type tsoQueue struct {
	mu      sync.Mutex
	waiting []chan tsoResult
	running bool // a fetchTimestamps goroutine serves the queue
}

type tsoResult struct {
	ts  uint64
	err error
}

// fetchTimestamps serves the queue of callers, one request for all the
// callers waiting at a time, until the queue is empty. A request that
// fails fails all its callers, who retry within their own deadlines.
func (c *Client) fetchTimestamps() {
	for {
		c.tso.mu.Lock()
		batch := c.tso.waiting
		c.tso.waiting = nil
		if len(batch) == 0 {
			c.tso.running = false
			c.tso.mu.Unlock()
			return
		}
		c.tso.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.AttemptTimeout)
		var resp *pb.TsoResponse
		err := c.call(ctx, OracleGroup, func(ctx context.Context, pc pb.PercolatorClient) (err error) {
			resp, err = pc.Tso(ctx, &pb.TsoRequest{Count: uint32(len(batch))})
			return err
		})
		cancel()
		for i, ch := range batch {
			if err != nil {
				ch <- tsoResult{err: err}
			} else {
				ch <- tsoResult{ts: resp.First + uint64(i)}
			}
		}
	}
}

// shardOf is the shard that holds key in this client's cluster.
func (c *Client) shardOf(key []byte) uint32 { return ShardOf(key, c.cfg.Shards) }

// call runs rpc against the leader of group, retrying until it gets an
// answer, a refusal a retry cannot fix, or ctx ends. Its error wraps
// ErrIndeterminate if some attempt may have reached a node and taken
// effect, else ErrDefinite.
func (c *Client) call(ctx context.Context, group uint32, rpc func(context.Context, pb.PercolatorClient) error) error {
	sent := false
	var lastErr error
	pause := time.Millisecond
	patience := c.cfg.AttemptTimeout
	for attempt := 0; ; attempt++ {
		if c.isClosed() {
			return classifyLast(fmt.Errorf("group %d: %w", group, errClientClosed), sent)
		}
		target := c.pick(group, attempt)
		conn, err := c.cfg.Pool.Conn(c.addrs[target])
		if err != nil {
			return classifyLast(err, sent)
		}
		actx, cancel := context.WithTimeout(ctx, patience)
		err = rpc(actx, c.batcher(conn))
		timedOut := actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err == nil {
			c.setLeader(group, target)
			return nil
		}
		lastErr = fmt.Errorf("group %d at %s: %w", group, target, err)
		if isFinal(err) {
			return classifyLast(lastErr, sent)
		}
		sent = sent || maySent(err)
		if hint, notLeader := rpcerr.LeaderHint(err); notLeader && hint != target {
			c.setLeader(group, hint)
		} else {
			c.setLeader(group, "")
		}
		if timedOut {
			// The attempt may still be at work (a large request on a busy
			// cluster): the next one waits twice as long, so that a request
			// slower than one attempt is not proposed again every attempt,
			// each copy adding to the load that made it slow.
			patience = min(2*patience, maxPatience*c.cfg.AttemptTimeout)
		}
		if c.sleep(ctx, pause) != nil {
			return classifyLast(lastErr, sent)
		}
		pause = min(2*pause, c.cfg.MaxBackoff)
	}
}

// maxPatience caps how many AttemptTimeouts an attempt may wait after
// earlier attempts ran out of time.
const maxPatience = 16

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// inBackground runs do on a goroutine that Close waits for, unless the
// client is closing.
func (c *Client) inBackground(do func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.background.Go(do)
	}
}

// batcher returns the batchClient that streams on conn; once the client
// is closed, one that refuses every call.
func (c *Client) batcher(conn *grpc.ClientConn) *batchClient {
	c.mu.Lock()
	b := c.batchers[conn.Target()]
	var stale *batchClient // its connection is gone from the pool
	if b == nil || b.conn != conn {
		stale, b = b, newBatchClient(conn, c.cfg.Clock)
		if c.closed {
			b.closed = true
		} else {
			c.batchers[conn.Target()] = b
		}
	}
	c.mu.Unlock()
	if stale != nil {
		stale.close() // may wait for a call opening a stream: not under mu
	}
	return b
}

// sleep pauses for about d (with jitter, so that clients that failed
// together do not retry together), or until ctx ends.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := c.cfg.Clock.NewTimer(d/2 + rand.N(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// pick returns the node to try for group: its known leader, else the next
// node in turn.
func (c *Client) pick(group uint32, attempt int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.leaders[group]; l != "" {
		return l
	}
	return c.cfg.Peers[(attempt+int(group))%len(c.cfg.Peers)].Name
}

// setLeader records name (or "" for unknown) as group's leader; names the
// client does not know are taken as unknown.
func (c *Client) setLeader(group uint32, name string) {
	if _, ok := c.addrs[name]; !ok {
		name = ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaders[group] = name
}

// resolveLock settles a lock left by another transaction: it asks the
// lock's primary for that transaction's fate (which rolls the transaction
// back if its lock expired) and rolls the lock forward or back to match.
// It reports false if the transaction is still alive: its lock stands.
func (c *Client) resolveLock(ctx context.Context, lock *pb.LockInfo) (bool, error) {
	now, err := c.timestamp(ctx)
	if err != nil {
		return false, err
	}
	var st *pb.CheckTxnStatusResponse
	err = c.call(ctx, c.shardOf(lock.Primary), func(ctx context.Context, pc pb.PercolatorClient) (err error) {
		st, err = pc.CheckTxnStatus(ctx, &pb.CheckTxnStatusRequest{
			Shard: c.shardOf(lock.Primary), PrimaryKey: lock.Primary, LockTs: lock.StartTs, CurrentTs: now})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("check status of transaction %d at primary %q: %w", lock.StartTs, lock.Primary, err)
	}
	if st.Error != nil {
		return false, fmt.Errorf("check status of transaction %d at primary %q: %s", lock.StartTs, lock.Primary, keyErrorText(st.Error))
	}
	var commitTS uint64
	switch st.Status {
	case pb.CheckTxnStatusResponse_LOCKED:
		return false, nil
	case pb.CheckTxnStatusResponse_COMMITTED:
		commitTS = st.CommitTs
	case pb.CheckTxnStatusResponse_ROLLED_BACK:
		commitTS = 0
	}
	shard := c.shardOf(lock.Key)
	var resp *pb.ResolveLockResponse
	err = c.call(ctx, shard, func(ctx context.Context, pc pb.PercolatorClient) (err error) {
		resp, err = pc.ResolveLock(ctx, &pb.ResolveLockRequest{
			Shard: shard, StartTs: lock.StartTs, CommitTs: commitTS, Keys: [][]byte{lock.Key}})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("resolve lock of transaction %d on %q: %w", lock.StartTs, lock.Key, err)
	}
	if resp.Error != nil {
		return false, fmt.Errorf("resolve lock of transaction %d on %q: %s", lock.StartTs, lock.Key, keyErrorText(resp.Error))
	}
	return true, nil
}
