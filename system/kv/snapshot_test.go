package kv

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// writeKeys puts key i = value i for i in [from, to), from several
// clients at once.
func writeKeys(ctx context.Context, t *testing.T, clients []*Client, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for ci, c := range clients {
		wg.Go(func() {
			for i := from + ci; i < to; i += len(clients) {
				if _, err := c.Put(ctx, snapKey(i), []byte(snapValue(i))); err != nil {
					errs <- fmt.Errorf("put %s: %w", snapKey(i), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func snapKey(i int) string   { return fmt.Sprintf("key%04d", i) }
func snapValue(i int) string { return fmt.Sprintf("value-%d", i) }

// checkKeys reads keys [from, to) from node through its read mode.
func checkKeys(ctx context.Context, t *testing.T, c *Client, node string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		resp, err := c.GetFrom(ctx, node, snapKey(i))
		if err != nil {
			t.Fatalf("get %s from %s: %v", snapKey(i), node, err)
		}
		if !resp.Found || string(resp.Kv.Value) != snapValue(i) {
			t.Fatalf("get %s from %s = %v; want %s", snapKey(i), node, resp, snapValue(i))
		}
	}
}

// TestSnapshotSurvivesRestart takes snapshots on disk through the WAL and
// restarts a node from one.
func TestSnapshotSurvivesRestart(t *testing.T) {
	nodes, peers := startNodes(t, 3, func(cfg *Config) { cfg.SnapshotEntries = 20 })
	c, err := NewClient(ClientConfig{Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	writeKeys(ctx, t, []*Client{c}, 0, 100)

	var commit uint64
	for _, n := range nodes {
		commit = max(commit, n.raft.Status().Commit)
	}
	node := nodes[1]
	// Wait for the node to apply (and so snapshot) everything written.
	waitApplied(ctx, t, c, peers[1].Name, commit)
	snap, err := node.storage.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.IsEmpty() {
		t.Fatalf("%s took no snapshot after 100 writes with SnapshotEntries 20", peers[1].Name)
	}
	files, err := filepath.Glob(filepath.Join(node.cfg.DataDir, "snap", "*.snap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no snapshot file in %s: %v", node.cfg.DataDir, err)
	}

	node.Stop()
	restarted, err := Start(node.cfg)
	if err != nil {
		t.Fatalf("restart %s: %v", peers[1].Name, err)
	}
	t.Cleanup(restarted.Stop)
	if got := restarted.raft.Status().Applied; got < snap.Meta.Index {
		t.Fatalf("%s restarted with applied %d; want at least its snapshot's %d", peers[1].Name, got, snap.Meta.Index)
	}
	waitApplied(ctx, t, c, peers[1].Name, 0) // and hears from a leader
	checkKeys(ctx, t, c, peers[1].Name, 0, 100)
}

// waitApplied waits until node knows a leader and has applied index.
func waitApplied(ctx context.Context, t *testing.T, c *Client, node string, index uint64) {
	t.Helper()
	for {
		st, err := c.Status(ctx, node)
		if err == nil && st.Leader != "" && st.Applied >= index {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not apply index %d: %v (last status %v, %v)", node, index, ctx.Err(), st, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestFarBehindFollowerCatchesUpBySnapshot stops a follower, writes until
// every other member's log is compacted past the follower's, and restarts
// it: the log it needs is gone, so only InstallSnapshot can bring it up to
// date.
func TestFarBehindFollowerCatchesUpBySnapshot(t *testing.T) {
	c := newMemCluster(t, 3, memClusterOptions{
		Retain: 10,
		Tune:   func(cfg *Config) { cfg.SnapshotEntries = 50 },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lead := c.waitLeader(ctx)
	var clients []*Client
	for range 4 {
		clients = append(clients, c.client())
	}
	writeKeys(ctx, t, clients, 0, 20)

	var follower *memMember
	for _, m := range c.members {
		if m != lead {
			follower = m
			break
		}
	}
	c.crash(follower)
	behind, err := follower.storage.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the first keys too, so the snapshot, not a leftover of the
	// follower's own log, must carry their values.
	writeKeys(ctx, t, clients, 0, 300)
	for _, m := range c.members {
		if m == follower {
			continue
		}
		first, err := m.storage.FirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		if first <= behind+1 {
			t.Fatalf("%s still holds entries from %d; the test needs its log compacted past %d, the follower's last", m.name, first, behind)
		}
	}
	snapsBefore := follower.snapsReceived.Load()

	c.restart(follower)
	lead = c.waitLeader(ctx)
	st, _ := lead.status()
	waitApplied(ctx, t, clients[0], follower.name, st.Commit)
	if follower.snapsReceived.Load() == snapsBefore {
		t.Fatalf("%s caught up without receiving a snapshot", follower.name)
	}
	snap, err := follower.storage.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Meta.Index <= behind {
		t.Fatalf("%s holds a snapshot at %d; want one past its old last index %d", follower.name, snap.Meta.Index, behind)
	}
	checkKeys(ctx, t, clients[0], follower.name, 0, 300)
}
