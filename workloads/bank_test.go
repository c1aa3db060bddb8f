package workloads

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/internal/loopback"
	"github.com/squall-chaos/squall/system/kv"
	"github.com/squall-chaos/squall/system/percolator"
)

// startKV starts a 3-node KV cluster in this process and returns its
// nodes.
func startKV(t *testing.T) []Node { return startCluster(t, "kv") }

// startCluster starts a 3-node cluster of system ("kv" or "percolator")
// in this process and returns its nodes.
func startCluster(t *testing.T, system string) []Node {
	t.Helper()
	var nodes []Node
	var peers []kv.Peer
	for i, addr := range loopback.Addrs(t, 3) {
		name := fmt.Sprintf("n%d", i+1)
		nodes = append(nodes, Node{Name: name, Addr: addr})
		peers = append(peers, kv.Peer{Name: name, Addr: addr})
	}
	dir := t.TempDir()
	for _, p := range peers {
		var stop func()
		var err error
		switch system {
		case "kv":
			var n *kv.Node
			n, err = kv.Start(kv.Config{Name: p.Name, Peers: peers, Cluster: "t", DataDir: filepath.Join(dir, p.Name), TickInterval: 20 * time.Millisecond})
			if n != nil {
				stop = n.Stop
			}
		case "percolator":
			var n *percolator.Node
			n, err = percolator.Start(percolator.Config{Name: p.Name, Peers: peers, Cluster: "t", DataDir: filepath.Join(dir, p.Name), TickInterval: 20 * time.Millisecond})
			if n != nil {
				stop = n.Stop
			}
		default:
			t.Fatalf("no system %q", system)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	return nodes
}

func TestBankGenerator(t *testing.T) {
	w := &Bank{Accounts: 4, MaxTransfer: 3}
	g := w.NewGenerator(2)
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	for range 1000 {
		op, ok := g.Next(rng)
		if !ok {
			t.Fatal("generator ended")
		}
		counts[op.F]++
		if op.F == "read" {
			continue
		}
		from, to, amount, err := bankOp(op)
		if err != nil {
			t.Fatal(err)
		}
		if amount < 1 || amount > 3 {
			t.Fatalf("amount %d outside 1..3", amount)
		}
		for _, a := range []string{from, to} {
			if a != "a0" && a != "a1" && a != "a2" && a != "a3" {
				t.Fatalf("transfer names account %s", a)
			}
		}
	}
	if counts["read"] < 300 || counts["transfer"] < 300 {
		t.Errorf("ops %v: want reads and transfers about half each", counts)
	}
	final := w.FinalGenerator()
	if op, ok := final.Next(rng); !ok || op.F != "read" {
		t.Fatalf("final op %+v, want a read", op)
	}
	if _, ok := final.Next(rng); ok {
		t.Fatal("more than one final read")
	}
}

// TestBankClient runs transfers and reads by hand on each system: the
// accounts are created once, a transfer moves money and an overdraft or
// a transfer to the same account fails.
func TestBankClient(t *testing.T) {
	for _, system := range []string{"kv", "percolator"} {
		t.Run(system, func(t *testing.T) { testBankClient(t, system) })
	}
}

func testBankClient(t *testing.T, system string) {
	nodes := startCluster(t, system)
	w := &Bank{Accounts: 3, Total: 30}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newClient := func() Client {
		c, err := w.NewClient(Target{System: system, Nodes: nodes, Home: "n2"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := newClient()
	invoke := func(c Client, f string, value any) history.Op {
		return c.Invoke(ctx, history.Op{Type: history.Invoke, Process: 1, F: f, Value: value})
	}
	transfer := func(from, to string, amount int64) map[string]any {
		return map[string]any{"from": from, "to": to, "amount": amount}
	}
	read := func(c Client) map[string]any {
		t.Helper()
		done := invoke(c, "read", nil)
		if done.Type != history.OK || done.StartTS == 0 {
			t.Fatalf("read: %+v", done)
		}
		return done.Value.(map[string]any)
	}

	if got := fmt.Sprint(read(c)); got != "map[a0:10 a1:10 a2:10]" {
		t.Fatalf("first read %s, want the initial balances", got)
	}
	done := invoke(c, "transfer", transfer("a0", "a2", 7))
	if done.Type != history.OK || done.CommitTS <= done.StartTS {
		t.Fatalf("transfer: %+v, want ok with start_ts < commit_ts", done)
	}
	if done := invoke(c, "transfer", transfer("a0", "a1", 4)); done.Type != history.Fail {
		t.Fatalf("overdrawing transfer: %+v, want fail", done)
	}
	// A second client does not create the accounts again.
	if got := fmt.Sprint(read(newClient())); got != "map[a0:3 a1:10 a2:17]" {
		t.Fatalf("read %s after the transfer", got)
	}
	if done := invoke(c, "transfer", map[string]any{"from": "a0", "to": "a0", "amount": 1}); done.Type != history.Fail {
		t.Fatalf("transfer to itself: %+v, want fail", done)
	}
}

// TestBankConcurrentOnKV runs concurrent transfers and reads and checks
// the history: the total holds, and every read is the replayed state at
// its timestamp.
// TestBankConcurrent runs the generator's transfers and reads with four
// concurrent clients on each system, and wants every checker's verdict
// valid, every read checked against the replay of the transfers.
func TestBankConcurrent(t *testing.T) {
	for _, system := range []string{"kv", "percolator"} {
		t.Run(system, func(t *testing.T) { testBankConcurrent(t, system) })
	}
}

func testBankConcurrent(t *testing.T, system string) {
	w := NewBank()
	h := run(t, w, system, startCluster(t, system), 4, 40)
	total, byF := checker.Tally(h)
	if byF["transfer"].OK == 0 || byF["read"].OK == 0 {
		t.Fatalf("ops %+v: want some ok transfers and reads", byF)
	}
	for _, c := range w.Checkers(CheckOptions{}) {
		res := c.Check(context.Background(), h)
		t.Logf("%s: %s", c.Name(), res.Summary)
		if res.Verdict != checker.Valid {
			t.Errorf("%s: %s: %s %v (%+v)", c.Name(), res.Verdict, res.Summary, res.Anomalies, total)
		}
		if replay, ok := res.Details["replay"].(string); ok && !strings.Contains(replay, ": 0 differ") {
			t.Errorf("replay %q: want every read checked against the replay", replay)
		}
	}
}

// run runs w's generator with `processes` concurrent clients on the
// cluster, each doing opsEach operations, and returns the history.
func run(t *testing.T, w Workload, system string, nodes []Node, processes, opsEach int) history.History {
	t.Helper()
	g := w.NewGenerator(processes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := history.NewRecorder(filepath.Join(t.TempDir(), "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	var wg sync.WaitGroup
	for p := range processes {
		c, err := w.NewClient(Target{System: system, Nodes: nodes, Home: nodes[p%len(nodes)].Name})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 9))
			for range opsEach {
				op, ok := g.Next(rng)
				if !ok {
					return
				}
				op.Type, op.Process = history.Invoke, history.Process(p)
				inv := rec.Record(op)
				done := c.Invoke(ctx, inv)
				done.Process, done.F = inv.Process, inv.F
				rec.Record(done)
			}
		}()
	}
	wg.Wait()
	return rec.History()
}
