// Package suttest checks a system's clients against a running cluster of
// it: what each workload's operations must do, step by step, and whole
// concurrent runs judged by the workload's checkers. Every system under
// sut/ runs these in its tests, against a real cluster, so that a fourth
// system is held to what the first three are.
package suttest

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
	"github.com/squall-chaos/squall/sut"
	"github.com/squall-chaos/squall/workloads"
)

// newClient makes a client of w bound to home, closed when the test ends.
func newClient(t *testing.T, sys sut.System, w workloads.Workload, nodes []workloads.Node, home string) workloads.Client {
	t.Helper()
	c, err := sys.NewClient(w, workloads.Target{Nodes: nodes, Home: home}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// invoke performs one operation as process 1.
func invoke(ctx context.Context, c workloads.Client, f string, value any) history.Op {
	return c.Invoke(ctx, history.Op{Type: history.Invoke, Process: 1, F: f, Value: value})
}

// Register checks reads, writes and compare-and-sets one at a time: a
// read of an absent key is null, a cas from the value it holds succeeds
// and from another fails, and a malformed write fails.
func Register(t *testing.T, sys sut.System, nodes []workloads.Node) {
	c := newClient(t, sys, workloads.NewRegister(), nodes, nodes[len(nodes)/2].Name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, step := range []struct {
		f     string
		value any
		want  history.Type
		got   any
	}{
		{"read", []any{"r1", nil}, history.OK, []any{"r1", nil}},
		{"write", []any{"r1", int64(1)}, history.OK, []any{"r1", int64(1)}},
		{"read", []any{"r1", nil}, history.OK, []any{"r1", int64(1)}},
		{"cas", []any{"r1", []any{int64(1), int64(2)}}, history.OK, nil},
		{"cas", []any{"r1", []any{int64(1), int64(3)}}, history.Fail, nil},
		{"read", []any{"r1", nil}, history.OK, []any{"r1", int64(2)}},
		{"cas", []any{"r9", []any{int64(1), int64(2)}}, history.Fail, nil},
		{"write", []any{"r1", "x"}, history.Fail, nil},
	} {
		done := invoke(ctx, c, step.f, step.value)
		if done.Type != step.want || done.Process != 1 || done.F != step.f {
			t.Fatalf("%s %v: completion %+v, want type %s", step.f, step.value, done, step.want)
		}
		if step.got != nil && fmt.Sprint(done.Value) != fmt.Sprint(step.got) {
			t.Fatalf("%s %v: value %v, want %v", step.f, step.value, done.Value, step.got)
		}
	}
}

// Bank checks transfers and reads one at a time: the accounts are created
// once, a transfer moves money, and an overdraft or a transfer to the same
// account fails. Reads carry start_ts and transfers commit_ts after it,
// for the checker's replay.
func Bank(t *testing.T, sys sut.System, nodes []workloads.Node) {
	w := &workloads.Bank{Accounts: 3, Total: 30}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient(t, sys, w, nodes, nodes[1%len(nodes)].Name)
	transfer := func(from, to string, amount int64) map[string]any {
		return map[string]any{"from": from, "to": to, "amount": amount}
	}
	read := func(c workloads.Client) map[string]any {
		t.Helper()
		done := invoke(ctx, c, "read", nil)
		if done.Type != history.OK || done.StartTS == 0 {
			t.Fatalf("read: %+v, want ok with a start_ts", done)
		}
		return done.Value.(map[string]any)
	}
	if got := fmt.Sprint(read(c)); got != "map[a0:10 a1:10 a2:10]" {
		t.Fatalf("first read %s, want the initial balances", got)
	}
	done := invoke(ctx, c, "transfer", transfer("a0", "a2", 7))
	if done.Type != history.OK || done.CommitTS <= done.StartTS {
		t.Fatalf("transfer: %+v, want ok with start_ts < commit_ts", done)
	}
	if done := invoke(ctx, c, "transfer", transfer("a0", "a1", 4)); done.Type != history.Fail {
		t.Fatalf("overdrawing transfer: %+v, want fail", done)
	}
	// A second client does not create the accounts again.
	if got := fmt.Sprint(read(newClient(t, sys, w, nodes, nodes[0].Name))); got != "map[a0:3 a1:10 a2:17]" {
		t.Fatalf("read %s after the transfer", got)
	}
	if done := invoke(ctx, c, "transfer", transfer("a0", "a0", 1)); done.Type != history.Fail {
		t.Fatalf("transfer to itself: %+v, want fail", done)
	}
}

// Append checks list-append transactions one at a time: reads see the
// appends before them, in the same transaction too, and a malformed
// transaction fails.
func Append(t *testing.T, sys sut.System, nodes []workloads.Node) {
	c := newClient(t, sys, workloads.NewAppend(), nodes, nodes[len(nodes)-1].Name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, step := range []struct {
		txn  []any
		want history.Type
		got  string
	}{
		{[]any{[]any{"r", "k1", nil}}, history.OK, "[[r k1 []]]"},
		{[]any{[]any{"append", "k1", int64(1)}, []any{"r", "k1", nil}}, history.OK, "[[append k1 1] [r k1 [1]]]"},
		{[]any{[]any{"r", "k2", nil}, []any{"append", "k1", int64(2)}, []any{"append", "k2", int64(1)}, []any{"r", "k1", nil}},
			history.OK, "[[r k2 []] [append k1 2] [append k2 1] [r k1 [1 2]]]"},
		{[]any{[]any{"r", "k1", nil}, []any{"r", "k2", nil}}, history.OK, "[[r k1 [1 2]] [r k2 [1]]]"},
		{[]any{[]any{"put", "k1", int64(3)}}, history.Fail, ""},
		{[]any{}, history.Fail, ""},
	} {
		done := invoke(ctx, c, "txn", step.txn)
		if done.Type != step.want || done.Process != 1 || done.F != "txn" {
			t.Fatalf("txn %v: completion %+v, want type %s", step.txn, done, step.want)
		}
		if step.got != "" && fmt.Sprint(done.Value) != step.got {
			t.Fatalf("txn %v: value %v, want %s", step.txn, done.Value, step.got)
		}
	}
}

// Concurrent runs w's generator with four concurrent clients, each bound
// to another node, for opsEach operations each, and wants every checker of
// w valid (consistency as --consistency takes it, "" for the default).
// It returns the history.
func Concurrent(t *testing.T, sys sut.System, w workloads.Workload, nodes []workloads.Node, opsEach int, consistency string) history.History {
	t.Helper()
	h := run(t, sys, w, nodes, 4, opsEach)
	total, byF := checker.Tally(h)
	if total.OK == 0 {
		t.Fatalf("ops %+v: none ok", byF)
	}
	for _, c := range w.Checkers(workloads.CheckOptions{Consistency: consistency, Timeout: time.Minute}) {
		res := c.Check(context.Background(), h)
		t.Logf("%s: %s", c.Name(), res.Summary)
		if res.Verdict != checker.Valid {
			t.Errorf("%s: %s: %s %v (%+v)", c.Name(), res.Verdict, res.Summary, res.Anomalies, byF)
		}
		if replay, ok := res.Details["replay"].(string); ok && !strings.Contains(replay, ": 0 differ") {
			t.Errorf("replay %q: want every read checked against the replay", replay)
		}
	}
	return h
}

// run runs w's generator with `processes` concurrent clients, each doing
// opsEach operations, and returns the history.
func run(t *testing.T, sys sut.System, w workloads.Workload, nodes []workloads.Node, processes, opsEach int) history.History {
	t.Helper()
	g := w.NewGenerator(processes)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rec, err := history.NewRecorder(filepath.Join(t.TempDir(), "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	var wg sync.WaitGroup
	for p := range processes {
		home := nodes[p%len(nodes)].Name
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 9))
			process := history.Process(p)
			c := newClient(t, sys, w, nodes, home)
			for range opsEach {
				op, ok := g.Next(rng)
				if !ok {
					return
				}
				op.Type, op.Process = history.Invoke, process
				inv := rec.Record(op)
				done := c.Invoke(ctx, inv)
				done.Process, done.F = inv.Process, inv.F
				rec.Record(done)
				if done.Type == history.Info {
					// Its operation may still be in flight: the logical
					// process goes on as a new one, with a new client, as
					// the harness's workers do.
					process += history.Process(processes)
					c = newClient(t, sys, w, nodes, home)
				}
			}
		})
	}
	wg.Wait()
	return rec.History()
}
