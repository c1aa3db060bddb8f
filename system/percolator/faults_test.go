package percolator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/squall-chaos/squall/system/fault"
	"github.com/squall-chaos/squall/system/fault/faultpb"
	"github.com/squall-chaos/squall/system/raft"
	"github.com/squall-chaos/squall/system/raft/wal"
)

// The planted bug oracle-trusts-clock: after the oracle leader's clock
// jumps back, its timestamps go back with it. Without the bug they go on
// rising.
func TestOracleTrustsClockBugGoesBackwardsWithTheClock(t *testing.T) {
	for _, bug := range []bool{true, false} {
		t.Run(fmt.Sprintf("oracle-trusts-clock=%t", bug), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := newOracleClusterWith(t, 3, nil, OracleConfig{TrustClock: bug})
			var before, after uint64
			for {
				leader := c.waitLeader(ctx)
				_, oracle := leader.running()
				first, err1 := oracle.Allocate(ctx, 1)
				leader.clock.SetOffset(-time.Minute)
				second, err2 := oracle.Allocate(ctx, 1)
				leader.clock.SetOffset(0)
				if err1 == nil && err2 == nil {
					before, after = first, second
					break
				}
				// Leadership moved between the calls (a slow machine):
				// the test needs both from one leader.
				var nle *raft.NotLeaderError
				if !errors.As(err1, &nle) && !errors.As(err2, &nle) {
					t.Fatalf("allocations: %v, %v", err1, err2)
				}
			}
			if bug && after >= before {
				t.Errorf("with the bug, after the clock went back a minute the oracle handed out %d after %d; want a timestamp below", after, before)
			}
			if !bug && after <= before {
				t.Errorf("the oracle handed out %d after %d", after, before)
			}
		})
	}
}

// Each oracle failpoint, armed on the leader with crash or an error, fires
// when the leader must raise its high-water mark: a crash takes the leader
// down there (and it restarts), an error fails that one allocation.
// Timestamps keep rising across it all.
func TestOracleFailpointsKeepTimestampsRising(t *testing.T) {
	for _, point := range []string{FailOracleBeforePersist, FailOracleAfterPersist} {
		for _, action := range []string{"crash", "error(injected by the test)"} {
			t.Run(point+"/"+action, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				c := newOracleCluster(t, 3, nil)
				var crashes atomic.Int32
				for _, m := range c.members {
					// Allocate's caller reaches the point, not the node's
					// goroutine, so the member can be stopped at once.
					m.fps.SetCrash(func() { crashes.Add(1); c.crash(m) })
				}
				order := &realTimeOrder{t: t}
				for range 20 {
					floor := order.begin()
					order.end(floor, c.allocateRetrying(ctx, 3), 3)
				}
				var leader *oracleMember
				var floor uint64
				for {
					leader = c.waitLeader(ctx)
					if err := leader.fps.Arm(point, "1*"+action); err != nil {
						t.Fatal(err)
					}
					// An hour ahead, the next allocation is above the mark.
					leader.clock.SetOffset(time.Hour)
					floor = order.begin()
					_, oracle := leader.running()
					first, err := oracle.Allocate(ctx, 3)
					if errors.Is(err, fault.ErrInjected) {
						break
					}
					var nle *raft.NotLeaderError
					if !errors.As(err, &nle) {
						t.Fatalf("allocation at %s armed with %s = %d, %v; want the injected failure", point, action, first, err)
					}
					// Leadership moved first (a slow machine): again.
					leader.fps.Disarm(point)
					leader.clock.SetOffset(0)
				}
				if fired := fired(leader.fps, point); fired != 1 {
					t.Fatalf("%s fired %d times, want 1", point, fired)
				}
				if action == "crash" {
					if crashes.Load() != 1 {
						t.Fatalf("%d crashes, want 1", crashes.Load())
					}
					if node, _ := leader.running(); node != nil {
						t.Fatal("the crashed member still runs")
					}
				}
				order.end(floor, c.allocateRetrying(ctx, 1), 1)
				if action == "crash" {
					c.start(leader)
				}
				for range 20 {
					floor := order.begin()
					order.end(floor, c.allocateRetrying(ctx, 3), 3)
				}
			})
		}
	}
}

// TestAdminListsEveryPercolatorFailpoint checks the whole catalog a
// Percolator node registers, each point with a description.
func TestAdminListsEveryPercolatorFailpoint(t *testing.T) {
	c := startCluster(t, 1, nil)
	conn, err := grpc.NewClient(c.peers[0].Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := faultpb.NewAdminClient(conn).ListFailpoints(ctx, &faultpb.ListFailpointsRequest{})
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
	want := []string{FailAfterCommit, FailBeforeCommit, FailBeforePrewrite, FailOracleAfterPersist, FailOracleBeforePersist,
		raft.FailBeforeApply, wal.FailAfterSync, wal.FailBeforeSync}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("ListFailpoints = %v, want %v", names, want)
	}
}

// kill stops n at once, as SIGKILL would: it serves, replicates and
// writes nothing more, and its WALs are abandoned, so in lose-unsynced
// mode what they wrote and did not sync is lost, as a power cut would
// lose it.
func (n *Node) kill() {
	n.server.Stop()
	for _, r := range n.rafts {
		r.Stop()
	}
	n.transport.Close()
	for _, s := range n.storages {
		s.Abandon()
	}
}

// The planted bug skip-fsync loses committed transactions when every node
// loses power (lose-unsynced mode, then a kill), and only with the bug.
// The WALs' background flush never runs here: its clock never moves.
func TestSkipFsyncBugLosesCommittedTransactionsToAPowerCut(t *testing.T) {
	for _, bug := range []bool{true, false} {
		t.Run(fmt.Sprintf("skip-fsync=%t", bug), func(t *testing.T) {
			c := startCluster(t, 3, func(cfg *Config) {
				cfg.LoseUnsynced = true
				cfg.Bugs.SkipFsync = bug
				cfg.tuneWAL = func(o *wal.Options) { o.Clock = fault.NewManualClock(time.Unix(0, 0)) }
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			client := newTestClient(t, c.peers, nil)
			for i := range 5 {
				tx := begin(t, client)
				tx.Set([]byte(fmt.Sprintf("k%d", i)), []byte("v"))
				if err := tx.Commit(ctx); err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
			}
			for i, n := range c.nodes {
				n.kill()
				c.nodes[i] = nil
			}
			for i := range c.nodes {
				c.restart(i)
			}
			reader := newTestClient(t, c.peers, nil)
			tx := begin(t, reader)
			found := 0
			for i := range 5 {
				_, ok, err := tx.Get(ctx, []byte(fmt.Sprintf("k%d", i)))
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					found++
				}
			}
			if bug && found == 5 {
				t.Error("with skip-fsync every committed transaction survived a power cut of every node")
			}
			if !bug && found != 5 {
				t.Errorf("without skip-fsync %d of 5 committed transactions survived a power cut of every node", found)
			}
		})
	}
}

func TestPlantPercolatorBugs(t *testing.T) {
	var b Bugs
	for _, bug := range PlantedBugs() {
		if bug.Description == "" {
			t.Errorf("bug %s has no description", bug.Name)
		}
		if err := b.Plant(bug.Name); err != nil {
			t.Errorf("plant %s: %v", bug.Name, err)
		}
	}
	if (b != Bugs{SkipWriteConflictCheck: true, GetIgnoresLocks: true, SkipFsync: true, OracleTrustsClock: true}) {
		t.Errorf("planting every bug gives %+v", b)
	}
	err := b.Plant("stale-reads")
	if err == nil || !strings.Contains(err.Error(), `"stale-reads"`) || !strings.Contains(err.Error(), "oracle-trusts-clock") {
		t.Errorf("plant of a bug of another system: %v, want an error naming it and listing percolator's", err)
	}
}
