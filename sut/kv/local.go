package kv

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/sut/internal/localproc"
	"github.com/squall-chaos/squall/system/kv"
)

// Local is a KV cluster of `squall node` processes on loopback, each at
// the node's defaults (WAL fsynced, 100 ms ticks, a snapshot every 10,000
// entries, ReadIndex reads): the cluster `squall bench` measures.
type Local struct {
	*localproc.Group
	peers []kv.Peer
	pool  *kv.ConnPool
}

// StartLocal starts n nodes of squall (the binary at squall) with their
// data and logs under dir. The nodes may not have elected a leader yet.
func StartLocal(squall, dir string, n int) (*Local, error) {
	addrs, err := loopback.Reserve(n)
	if err != nil {
		return nil, err
	}
	c := &Local{pool: kv.NewConnPool()}
	peerList := make([]string, n)
	for i, addr := range addrs {
		c.peers = append(c.peers, kv.Peer{Name: fmt.Sprintf("n%d", i+1), Addr: addr})
		peerList[i] = c.peers[i].Name + "=" + addr
	}
	members := make([]localproc.Member, n)
	for i, p := range c.peers {
		members[i] = localproc.Member{Name: p.Name, Args: []string{"node", "--system", "kv", "--id", p.Name,
			"--peers", strings.Join(peerList, ","), "--data", filepath.Join(dir, p.Name), "--cluster", "bench"}}
	}
	if c.Group, err = localproc.Start(squall, dir, members); err != nil {
		c.pool.Close()
		return nil, err
	}
	return c, nil
}

// NewClient returns a client that writes concurrently with the others:
// each client runs one write at a time, and all share one connection per
// node.
func (c *Local) NewClient() (*LocalClient, error) {
	client, err := kv.NewClient(kv.ClientConfig{Peers: c.peers, Pool: c.pool})
	if err != nil {
		return nil, err
	}
	return &LocalClient{client}, nil
}

// Stop kills the nodes and closes the clients' connections.
func (c *Local) Stop() {
	c.Group.Stop()
	c.pool.Close()
}

// LocalClient puts and reads keys of a Local cluster.
type LocalClient struct{ client *kv.Client }

// Put writes value at key.
func (c *LocalClient) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.client.Put(ctx, key, value)
	return err
}

// Get reads key linearizably and fails if it holds nothing.
func (c *LocalClient) Get(ctx context.Context, key string) error {
	resp, err := c.client.Get(ctx, key)
	if err == nil && !resp.Found {
		err = fmt.Errorf("kv: get %q: not found", key)
	}
	return err
}

// Close ends the client; the pool's connections stay for the others.
func (c *LocalClient) Close() error { return c.client.Close() }
