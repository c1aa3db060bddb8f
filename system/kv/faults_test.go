package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/fault/faultpb"
	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/wal"
)

// kill stops n at once, as SIGKILL would: it serves, replicates and
// writes nothing more, and its WAL is abandoned, so in lose-unsynced mode
// what it wrote and did not sync is lost, as a power cut would lose it.
func (n *Node) kill() {
	n.server.Stop()
	n.raft.Stop()
	n.transport.Close()
	n.storage.Abandon()
}

// faultCluster is an in-process cluster of nodes on real gRPC and WALs
// that a test kills and restarts on their data directories.
type faultCluster struct {
	t     *testing.T
	cfgs  []Config
	mu    sync.Mutex
	nodes []*Node // nil while down
}

// newFaultCluster starts n nodes; tune, if not nil, adjusts node i's
// configuration.
func newFaultCluster(t *testing.T, n int, tune func(i int, cfg *Config)) *faultCluster {
	c := &faultCluster{t: t}
	nodes, _ := startNodes(t, n, func(cfg *Config) {
		if tune != nil {
			tune(len(c.cfgs), cfg)
		}
		c.cfgs = append(c.cfgs, *cfg)
	})
	c.nodes = nodes
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, n := range c.nodes {
			if n != nil {
				n.kill()
				c.nodes[i] = nil
			}
		}
	})
	return c
}

// node returns node i, or nil if it is down.
func (c *faultCluster) node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// leader waits until a running node leads and returns its index.
func (c *faultCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		for i := range c.cfgs {
			if n := c.node(i); n != nil && n.raft.Status().Role == raft.Leader {
				return i
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return -1
}

// kill kills node i, if it runs; stop stops it cleanly.
func (c *faultCluster) kill(i int) { c.down(i, (*Node).kill) }
func (c *faultCluster) stop(i int) { c.down(i, (*Node).Stop) }

func (c *faultCluster) down(i int, how func(*Node)) {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n != nil {
		how(n)
	}
}

// restart starts node i again on its data directory, with cfg adjusted by
// tune, if not nil; its failpoints start off, as a new process's do.
func (c *faultCluster) restart(i int, tune func(*Config)) {
	c.t.Helper()
	cfg := c.cfgs[i]
	cfg.Clock, cfg.Failpoints = nil, nil
	if tune != nil {
		tune(&cfg)
	}
	var n *Node
	var err error
	// The port was just released; the test may still hold it briefly.
	for range 100 {
		if n, err = Start(cfg); err == nil || !strings.Contains(err.Error(), "listen") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("restart %s: %v", cfg.Name, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

func (c *faultCluster) peers() []Peer { return c.cfgs[0].Peers }

// TestAdminListsEveryFailpoint checks the whole catalog a KV node
// registers, each point with a description.
func TestAdminListsEveryFailpoint(t *testing.T) {
	_, admins, _ := adminCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	list, err := admins[0].ListFailpoints(ctx, &faultpb.ListFailpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fp := range list.Failpoints {
		names = append(names, fp.Name)
		if fp.Description == "" {
			t.Errorf("failpoint %s has no description", fp.Name)
		}
	}
	want := []string{FailAfterCommit, FailBeforePropose, FailBeforeRead, raft.FailBeforeApply, wal.FailAfterSync, wal.FailBeforeSync}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("ListFailpoints = %v, want %v", names, want)
	}
}

// Each storage and apply failpoint, armed on the leader with crash or an
// error, takes the leader down at that point in its write path (a crash
// kills it as SIGKILL would, in lose-unsynced mode; an error stops it, as
// squall node then exits), and the cluster recovers with every
// acknowledged write.
func TestCrashOrErrorAtStorageFailpointsLosesNothingAcknowledged(t *testing.T) {
	for _, point := range []string{wal.FailBeforeSync, wal.FailAfterSync, raft.FailBeforeApply} {
		for _, action := range []string{"crash", "error(injected by the test)"} {
			t.Run(point+"/"+action, func(t *testing.T) {
				crashed := make(chan int, 3)
				c := newFaultCluster(t, 3, func(i int, cfg *Config) {
					cfg.LoseUnsynced = true
					cfg.Failpoints = fault.NewFailpoints(fault.NewClock(), nil)
					// Called on the node's own goroutine, which Eval then
					// fails: kill the node from the test's.
					cfg.Failpoints.SetCrash(func() { crashed <- i })
				})
				client, err := NewClient(ClientConfig{Peers: c.peers(), AttemptTimeout: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer client.Close()
				ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
				defer cancel()

				var acked []string
				put := func(key string) {
					t.Helper()
					putCtx, putCancel := context.WithTimeout(ctx, 10*time.Second)
					defer putCancel()
					if _, err := client.Put(putCtx, key, []byte(key)); err == nil {
						acked = append(acked, key)
					} else if !errors.Is(err, ErrDefinite) && !errors.Is(err, ErrIndeterminate) {
						t.Fatalf("put %s: %v", key, err)
					}
				}
				for i := range 5 {
					put(fmt.Sprintf("before-%d", i))
				}
				var leader int
				for attempt := 0; ; attempt++ {
					leader = c.leader()
					fps := c.node(leader).cfg.Failpoints
					if err := fps.Arm(point, "1*"+action); err != nil {
						t.Fatal(err)
					}
					put(fmt.Sprintf("at-the-failpoint-%d", attempt))
					if firedAt(fps, point) > 0 {
						break
					}
					// Leadership moved before the put (a slow machine),
					// and the point was never reached: again.
					fps.Disarm(point)
				}
				select {
				case <-c.node(leader).Done():
				case <-ctx.Done():
					t.Fatalf("%s armed with %s on the leader did not take it down", point, action)
				}
				// A crash reports itself before the node's Raft stops.
				select {
				case i := <-crashed:
					c.kill(i)
				default:
					if action == "crash" {
						t.Fatalf("%s armed with crash stopped the leader without crashing it: %v", point, c.node(leader).Err())
					}
					c.stop(leader) // as squall node does when its Raft stops
				}
				for i := range 5 {
					put(fmt.Sprintf("while-down-%d", i))
				}
				c.restart(leader, nil)
				for i := range 5 {
					put(fmt.Sprintf("after-%d", i))
				}
				for _, key := range acked {
					got, err := client.Get(ctx, key)
					if err != nil || !got.Found {
						t.Errorf("acknowledged put of %s reads back %v, %v", key, got, err)
					}
				}
				if len(acked) < 10 {
					t.Errorf("only %d puts acknowledged: %v", len(acked), acked)
				}
			})
		}
	}
}

// The planted bug skip-fsync loses acknowledged writes when every node
// loses power (lose-unsynced mode, then a kill), and only with the bug.
// The WAL's background flush never runs here: its clock never moves.
func TestSkipFsyncBugLosesAcknowledgedWritesToAPowerCut(t *testing.T) {
	for _, bug := range []bool{true, false} {
		t.Run(fmt.Sprintf("skip-fsync=%t", bug), func(t *testing.T) {
			tune := func(cfg *Config) {
				cfg.LoseUnsynced = true
				cfg.Bugs.SkipFsync = bug
				cfg.tuneWAL = func(o *wal.Options) { o.Clock = fault.NewManualClock(time.Unix(0, 0)) }
			}
			c := newFaultCluster(t, 3, func(_ int, cfg *Config) { tune(cfg) })
			client, err := NewClient(ClientConfig{Peers: c.peers()})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			for i := range 5 {
				if _, err := client.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			for i := range c.cfgs {
				c.kill(i)
			}
			for i := range c.cfgs {
				c.restart(i, tune)
			}
			found := 0
			for i := range 5 {
				got, err := client.Get(ctx, fmt.Sprintf("k%d", i))
				if err != nil {
					t.Fatal(err)
				}
				if got.Found {
					found++
				}
			}
			if bug && found == 5 {
				t.Error("with skip-fsync every acknowledged put survived a power cut of every node")
			}
			if !bug && found != 5 {
				t.Errorf("without skip-fsync %d of 5 acknowledged puts survived a power cut of every node", found)
			}
		})
	}
}

// The planted bug duplicate-retries applies a retried write again. The
// first answer of a compare-and-set is lost (kv/after-commit armed with
// an error once), the client retries, and the retry meets the write's own
// effect: with the bug the client is told the cas failed, although its
// write is visible; without it the retry is answered from the session
// table, a success.
func TestDuplicateRetriesBugFailsARetriedCASThatTookEffect(t *testing.T) {
	for _, bug := range []bool{true, false} {
		t.Run(fmt.Sprintf("duplicate-retries=%t", bug), func(t *testing.T) {
			nodes, peers := startNodes(t, 3, func(cfg *Config) { cfg.Bugs.DuplicateRetries = bug })
			admins := adminClients(t, nodes)
			client, err := NewClient(ClientConfig{Peers: peers})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			if _, err := client.Put(ctx, "r", []byte("1")); err != nil {
				t.Fatal(err)
			}
			arm(t, ctx, admins, FailAfterCommit, "1*error(answer lost)")
			swapped, cur, err := client.CompareAndSet(ctx, "r", []byte("1"), []byte("2"))
			if err != nil {
				t.Fatalf("cas whose first answer was lost: %v", err)
			}
			got, err := client.Get(ctx, "r")
			if err != nil || string(got.GetKv().GetValue()) != "2" {
				t.Fatalf("get after the cas = %v, %v; want its write, 2", got, err)
			}
			if bug && (swapped || string(cur.GetKv().GetValue()) != "2") {
				t.Errorf("with the bug the retried cas reports swapped=%t finding %v; want a failure finding its own write", swapped, cur)
			}
			if !bug && !swapped {
				t.Errorf("without the bug the retried cas reports a failure finding %v; want success", cur)
			}
		})
	}
}

// A write slower than the client's AttemptTimeout but within its
// WriteAttemptTimeout is waited for, not sent again. The nodes have the
// duplicate-retries bug, under which a cas sent a second time fails
// against its own effect: the client is seen to retry by that failure.
// The leader sleeps 600 ms after applying the cas (kv/after-commit), past
// a 200 ms attempt whatever the machine's load.
func TestClientWaitsOutASlowWrite(t *testing.T) {
	for _, tc := range []struct {
		name         string
		writeAttempt time.Duration
		wantSwapped  bool
	}{
		{"write attempts of 10s", 10 * time.Second, true},
		{"write attempts as long as others", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, peers := startNodes(t, 3, func(cfg *Config) { cfg.Bugs.DuplicateRetries = true })
			admins := adminClients(t, nodes)
			client, err := NewClient(ClientConfig{Peers: peers, AttemptTimeout: 200 * time.Millisecond, WriteAttemptTimeout: tc.writeAttempt})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			if _, err := client.Put(ctx, "r", []byte("1")); err != nil {
				t.Fatal(err)
			}
			arm(t, ctx, admins, FailAfterCommit, "1*sleep(600ms)")
			swapped, cur, err := client.CompareAndSet(ctx, "r", []byte("1"), []byte("2"))
			if err != nil {
				t.Fatalf("cas: %v", err)
			}
			if swapped != tc.wantSwapped {
				t.Errorf("cas 1->2 answered after 600 ms reports swapped=%t finding %v; want swapped=%t", swapped, cur, tc.wantSwapped)
			}
		})
	}
}

// The planted bug timeout-is-failure answers a write whose proposal takes
// too long as a definite failure. Here the leader commits the write and
// then sleeps before applying it (raft/before-apply), longer than the
// client waits; the write becomes visible later. With the bug the client
// hears a definite failure; without it, an unknown outcome.
func TestTimeoutIsFailureBugReportsACommittedWriteAsFailed(t *testing.T) {
	for _, bug := range []bool{true, false} {
		t.Run(fmt.Sprintf("timeout-is-failure=%t", bug), func(t *testing.T) {
			nodes, peers := startNodes(t, 3, func(cfg *Config) { cfg.Bugs.TimeoutIsFailure = bug })
			client, err := NewClient(ClientConfig{Peers: peers, AttemptTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			if _, err := client.Put(ctx, "warm-up", []byte("x")); err != nil {
				t.Fatal(err)
			}
			// The apply of the next entry on the leader waits 6s; the
			// client gives up after 3s, and the buggy server after 1s.
			for attempt := 0; ; attempt++ {
				var leader *Node
				for _, n := range nodes {
					if n.raft.Status().Role == raft.Leader {
						leader = n // the last put was applied there
					}
				}
				if leader == nil {
					t.Fatal("no node leads after a put")
				}
				fps := leader.cfg.Failpoints
				if err := fps.Arm(raft.FailBeforeApply, "1*sleep(6s)"); err != nil {
					t.Fatal(err)
				}
				putCtx, putCancel := context.WithTimeout(ctx, 3*time.Second)
				_, err = client.Put(putCtx, "slow", []byte(fmt.Sprint(attempt)))
				putCancel()
				if firedAt(fps, raft.FailBeforeApply) > 0 {
					break
				}
				// Leadership moved before the put (a slow machine), which
				// went through: again.
				fps.Disarm(raft.FailBeforeApply)
			}
			if bug && (!errors.Is(err, ErrDefinite) || !strings.Contains(err.Error(), ErrTimedOut.Error())) {
				t.Errorf("with the bug a put whose apply was held up = %v, want a definite failure (timed out)", err)
			}
			if !bug && !errors.Is(err, ErrIndeterminate) {
				t.Errorf("without the bug a put whose apply was held up = %v, want an unknown outcome", err)
			}
			// A reader that gives up on the held-up leader quickly.
			reader, err := NewClient(ClientConfig{Peers: peers, AttemptTimeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer reader.Close()
			for {
				got, err := reader.Get(ctx, "slow")
				if err == nil && got.Found {
					break // the write took effect
				}
				if ctx.Err() != nil {
					t.Fatalf("the held-up put never became visible: %v, %v", got, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// The planted bug lease-reads is read mode lease: a leader whose clock
// runs slow keeps its lease after the others elected a new leader, and
// serves a stale value. Without the bug (ReadIndex) the same read is
// refused or current.
func TestLeaseReadsBugServesStaleReadsUnderASlowClock(t *testing.T) {
	for _, bug := range []bool{true, false} {
		t.Run(fmt.Sprintf("lease-reads=%t", bug), func(t *testing.T) {
			c := newMemCluster(t, 3, memClusterOptions{Tune: func(cfg *Config) { cfg.Bugs.LeaseReads = bug }})
			ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
			defer cancel()
			var old *memMember
			for old == nil {
				old = c.waitLeader(ctx)
				if _, err := c.client().Put(ctx, "r", []byte("v1")); err != nil {
					t.Fatal(err)
				}
				// With the bug, the leader holds its lease when its clock
				// all but stops (on a busy machine late acks may have
				// let it lapse); then it is cut off.
				for bug && ctx.Err() == nil {
					old.mu.Lock()
					_, held := old.raft.LeaseRead()
					old.mu.Unlock()
					if held {
						break
					}
					time.Sleep(time.Millisecond)
				}
				setRate(t, ctx, old, 0.0001)
				c.isolate(old)
				if st, ok := old.status(); !ok || st.Role != raft.Leader {
					// Leadership moved before the cut (a slow machine):
					// start over with whoever leads now.
					c.net.Heal()
					setRate(t, ctx, old, 1)
					old = nil
				}
			}
			majority := c.others(old)
			c.waitLeader(ctx, majority...)
			if _, err := c.client(majority...).Put(ctx, "r", []byte("v2")); err != nil {
				t.Fatal(err)
			}
			readCtx, cancelRead := context.WithTimeout(ctx, 2*time.Second)
			resp, err := c.client().GetFrom(readCtx, old.name, "r")
			cancelRead()
			stale := err == nil && string(resp.GetKv().GetValue()) == "v1"
			if bug && !stale {
				t.Errorf("with lease-reads the cut-off old leader with a slow clock answered %v, %v; want the stale v1", resp, err)
			}
			if !bug && stale {
				t.Errorf("without the bug the cut-off old leader served the stale v1")
			}
		})
	}
}

// firedAt is how often the point name of fps has fired since armed.
func firedAt(fps *fault.Failpoints, name string) uint64 {
	for _, st := range fps.List() {
		if st.Name == name {
			return st.Fired
		}
	}
	return 0
}

// setRate sets the rate of m's clock over its admin service.
func setRate(t *testing.T, ctx context.Context, m *memMember, rate float64) {
	t.Helper()
	conn, err := grpc.NewClient(m.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := faultpb.NewAdminClient(conn).SetClock(ctx, &faultpb.SetClockRequest{Rate: &rate}); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseReadsBugIsReadModeLease(t *testing.T) {
	peers := []Peer{{Name: "n1", Addr: "127.0.0.1:1"}}
	cfg, err := Config{Name: "n1", Peers: peers, Bugs: Bugs{LeaseReads: true}}.withDefaults()
	if err != nil || cfg.ReadMode != ReadLease {
		t.Errorf("lease-reads sets read mode %q (%v), want %q", cfg.ReadMode, err, ReadLease)
	}
	if _, err := (Config{Name: "n1", Peers: peers, ReadMode: ReadLog, Bugs: Bugs{LeaseReads: true}}).withDefaults(); err == nil {
		t.Error("lease-reads with read mode log was accepted")
	}
}

func TestPlantBugs(t *testing.T) {
	var b Bugs
	for _, bug := range PlantedBugs() {
		if bug.Description == "" {
			t.Errorf("bug %s has no description", bug.Name)
		}
		if err := b.Plant(bug.Name); err != nil {
			t.Errorf("plant %s: %v", bug.Name, err)
		}
	}
	if (b != Bugs{StaleReads: true, LeaseReads: true, DuplicateRetries: true, TimeoutIsFailure: true, SkipFsync: true}) {
		t.Errorf("planting every bug gives %+v", b)
	}
	err := b.Plant("lost-writes")
	if err == nil || !strings.Contains(err.Error(), `"lost-writes"`) || !strings.Contains(err.Error(), "skip-fsync") {
		t.Errorf("plant of an unknown bug: %v, want an error naming it and listing the bugs", err)
	}
}
