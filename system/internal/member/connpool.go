package member

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// ConnPool holds one gRPC connection per node address for any number of
// Clients. Clients that share a pool multiplex their requests over the
// same HTTP/2 connections, so the server writes many responses in one
// system call instead of one each. A Client without a pool has its own.
type ConnPool struct {
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// ErrPoolClosed is returned by Conn once the pool is closed: a connection
// made then would outlive its owner.
var ErrPoolClosed = errors.New("kv client: connection pool closed")

// NewConnPool returns an empty pool; connections are made on first use.
func NewConnPool() *ConnPool { return &ConnPool{conns: make(map[string]*grpc.ClientConn)} }

// Conn returns the connection to addr, creating it if needed. Other
// systems' clients (Percolator's) share the pool's dial settings this way.
func (p *ConnPool) Conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPoolClosed
	}
	if conn := p.conns[addr]; conn != nil {
		return conn, nil
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect promptly once a node is back: gRPC's default backoff
			// grows to two minutes.
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		return nil, fmt.Errorf("kv client: connect to %s: %w", addr, err)
	}
	p.conns[addr] = conn
	return conn, nil
}

// Close closes every connection of the pool; Conn fails from then on.
func (p *ConnPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for _, conn := range p.conns {
		errs = append(errs, conn.Close())
	}
	p.conns = make(map[string]*grpc.ClientConn)
	return errors.Join(errs...)
}
