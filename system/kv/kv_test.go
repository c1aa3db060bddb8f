package kv

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/system/kv/kvpb"
)

// startNodes starts an n-node cluster in this process with real gRPC, WAL
// and fsync.
func startNodes(t testing.TB, n int, tune func(*Config)) ([]*Node, []Peer) {
	addrs := loopback.Addrs(t, n)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{Name: fmt.Sprintf("n%d", i+1), Addr: a})
	}
	dir := t.TempDir()
	var nodes []*Node
	for _, p := range peers {
		cfg := Config{Name: p.Name, Peers: peers, Cluster: "test", DataDir: filepath.Join(dir, p.Name),
			TickInterval: 20 * time.Millisecond}
		if tune != nil {
			tune(&cfg)
		}
		node, err := Start(cfg)
		if err != nil {
			t.Fatalf("start %s: %v", p.Name, err)
		}
		nodes = append(nodes, node)
		t.Cleanup(node.Stop)
	}
	return nodes, peers
}

func TestKVOperations(t *testing.T) {
	_, peers := startNodes(t, 3, nil)
	c, err := NewClient(ClientConfig{Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	v1, err := c.Put(ctx, "a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "a")
	if err != nil || !got.Found || string(got.Kv.Value) != "1" || got.Kv.Version != v1 {
		t.Fatalf("get a = %v, %v; want 1 at version %d", got, err, v1)
	}
	if val, err := c.Append(ctx, "a", []byte("2")); err != nil || string(val) != "12" {
		t.Fatalf("append = %q, %v", val, err)
	}
	if ok, cur, err := c.CompareAndSet(ctx, "a", []byte("1"), []byte("x")); err != nil || ok || string(cur.Kv.Value) != "12" {
		t.Fatalf("cas with wrong expectation = %v, %v, %v", ok, cur, err)
	}
	if ok, _, err := c.CompareAndSet(ctx, "a", []byte("12"), []byte("3")); err != nil || !ok {
		t.Fatalf("cas = %v, %v", ok, err)
	}
	if ok, _, err := c.CompareAndSet(ctx, "new", nil, []byte("n")); err != nil || !ok {
		t.Fatalf("cas on absent key = %v, %v", ok, err)
	}
	if ok, _, err := c.CompareAndSet(ctx, "new", nil, []byte("n2")); err != nil || ok {
		t.Fatalf("second cas on absent key = %v, %v; want refused", ok, err)
	}
	// A multi-key transaction that compares versions, as the bank
	// workload's transfers do.
	a, _ := c.Get(ctx, "a")
	resp, err := c.Txn(ctx, &kvpb.TxnRequest{
		Compares: []*kvpb.Compare{{Key: "a", Target: kvpb.Compare_VERSION, Version: a.Kv.Version}, {Key: "b", Target: kvpb.Compare_VERSION, Version: 0}},
		Success: []*kvpb.Op{{Op: &kvpb.Op_Put{Put: &kvpb.PutRequest{Key: "a", Value: []byte("moved")}}},
			{Op: &kvpb.Op_Put{Put: &kvpb.PutRequest{Key: "b", Value: []byte("here")}}}},
	})
	if err != nil || !resp.Succeeded {
		t.Fatalf("txn = %v, %v", resp, err)
	}
	for k, want := range map[string]string{"a": "moved", "b": "here"} {
		if got, err := c.Get(ctx, k); err != nil || string(got.Kv.Value) != want {
			t.Fatalf("after txn get %s = %v, %v; want %s", k, got, err, want)
		}
	}
	if ok, err := c.Delete(ctx, "b"); err != nil || !ok {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	if got, err := c.Get(ctx, "b"); err != nil || got.Found {
		t.Fatalf("get deleted = %v, %v", got, err)
	}
}
