package etcd

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/sut/internal/localproc"
)

// Local is an etcd cluster of server processes on 127.0.0.1, told apart
// by port, at etcd's defaults (every write fsynced, 100 ms heartbeats,
// linearizable reads): the cluster `squall bench` measures.
type Local struct {
	*localproc.Group
	endpoints []string

	mu     sync.Mutex
	client *clientv3.Client // shared by every LocalClient; nil until the first
}

// StartLocal starts n members of the etcd server at binary with their
// data and logs under dir. The members may not have elected a leader yet.
func StartLocal(binary, dir string, n int) (*Local, error) {
	addrs, err := loopback.Reserve(2 * n)
	if err != nil {
		return nil, err
	}
	members := make([]member, n)
	c := &Local{}
	for i := range members {
		client, peer := netip.MustParseAddrPort(addrs[2*i]), netip.MustParseAddrPort(addrs[2*i+1])
		members[i] = member{name: fmt.Sprintf("m%d", i+1), client: client, peer: peer}
		c.endpoints = append(c.endpoints, client.String())
	}
	procs := make([]localproc.Member, n)
	for i, m := range members {
		procs[i] = localproc.Member{Name: m.name, Args: memberArgs(m.name, members, loopbackIP,
			filepath.Join(dir, m.name), "squall-bench", defaultTiming)}
	}
	if c.Group, err = localproc.Start(binary, dir, procs); err != nil {
		return nil, err
	}
	return c, nil
}

var loopbackIP = netip.MustParseAddr("127.0.0.1")

// NewClient returns a client of the cluster. All share one clientv3
// client, which multiplexes their requests over its connection, as the
// clients of one process share squall's connection pool.
func (c *Local) NewClient() (*LocalClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		client, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, Logger: zap.NewNop()})
		if err != nil {
			return nil, fmt.Errorf("etcd: connect to %v: %w", c.endpoints, err)
		}
		c.client = client
	}
	return &LocalClient{c.client}, nil
}

// Stop kills the members and closes the clients' connection.
func (c *Local) Stop() {
	c.Group.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		c.client.Close()
	}
}

// LocalClient puts and reads keys of a Local cluster.
type LocalClient struct{ client *clientv3.Client }

// Put writes value at key.
func (c *LocalClient) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.client.Put(ctx, key, string(value))
	return err
}

// Get reads key linearizably (etcd's default) and fails if it holds
// nothing.
func (c *LocalClient) Get(ctx context.Context, key string) error {
	resp, err := c.client.Get(ctx, key)
	if err == nil && len(resp.Kvs) == 0 {
		err = fmt.Errorf("etcd: get %q: not found", key)
	}
	return err
}

// Close does nothing: the connection is the cluster's, closed by Stop.
func (c *LocalClient) Close() error { return nil }
