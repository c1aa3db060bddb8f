package crashtest

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("crashtest.seed", 0, "seed of the crash schedule (0: pick one and log it)")

// acksPerPhase is the progress the controller waits for before each kill,
// while victims are down, and after they restart: commits must flow
// through every phase, and the final count of acks cannot be vacuous.
const acksPerPhase = 50

func TestKillAndRestartKeepsAcknowledgedEntries(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", size), func(t *testing.T) {
			if size > 3 && testing.Short() {
				t.Skip("the five-node cluster is skipped in -short mode")
			}
			rounds := 8
			if testing.Short() {
				rounds = 3
			}
			runCrashTest(t, size, rounds)
		})
	}
}

// runCrashTest runs size nodes through rounds of kill -9 and restart while
// they commit, then checks what every node applied.
func runCrashTest(t *testing.T, size, rounds int) {
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("crash schedule seed %d (rerun with -crashtest.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	c := newCluster(t, size)
	c.waitAcks(acksPerPhase)
	for round := range rounds {
		lead := c.leader()
		victims := pickVictims(rng, c.ids, lead, round)
		t.Logf("round %d: leader %d; kill -9 %v after %d acks", round, lead, victims, c.ackCount())
		for _, id := range victims {
			c.kill(id)
		}
		// A majority is still up: commits must go on without the victims.
		c.waitAcks(acksPerPhase)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		for _, id := range victims {
			c.start(id)
		}
		c.waitAcks(acksPerPhase)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	}

	c.quiesce()
	marker := c.commitMarker()
	c.waitApplied(marker)
	logs := map[uint64][]string{}
	for _, id := range c.ids {
		logs[id] = c.stop(id)
	}

	c.mu.Lock()
	acked, snapshots, restores, installs := c.acked, c.snapshots, c.restores, c.installs
	c.mu.Unlock()
	t.Logf("%d values acknowledged, %d applied by each node; %d snapshots taken, %d restored at start, %d installed from a leader",
		len(acked), len(logs[c.ids[0]]), snapshots, restores, installs)
	for _, p := range checkLogs(logs, acked, marker) {
		t.Error(p)
	}
	if need := acksPerPhase * (2*rounds + 1); len(acked) < need {
		t.Errorf("only %d values acknowledged; the test needs at least %d to mean anything", len(acked), need)
	}
	// Coverage, not correctness: without these the test would not test
	// recovery from snapshots.
	if snapshots == 0 {
		t.Errorf("no node took a snapshot; lower snapshotEntries or commit more")
	}
	if restores == 0 {
		t.Errorf("no node restored a snapshot; restarts did not exercise snapshot recovery")
	}
	for _, id := range c.ids {
		if stderr := c.stderrTail(id, 1<<30); strings.Contains(stderr, "WARNING: DATA RACE") {
			t.Errorf("node %d reported a data race; see %s", id, filepath.Join(c.nodeDir(id), stderrFile))
		}
	}
}

// pickVictims chooses the nodes to kill in a round: the leader in two
// rounds of three (when the controller knows it), followers otherwise,
// and in clusters of five or more two nodes every other round. A majority
// always survives.
func pickVictims(rng *rand.Rand, ids []uint64, lead uint64, round int) []uint64 {
	count := 1
	if len(ids) >= 5 && round%2 == 1 {
		count = 2
	}
	var victims []uint64
	if lead != 0 && round%3 != 1 {
		victims = append(victims, lead)
	}
	followers := slices.DeleteFunc(slices.Clone(ids), func(id uint64) bool { return id == lead })
	rng.Shuffle(len(followers), func(i, j int) { followers[i], followers[j] = followers[j], followers[i] })
	return append(victims, followers[:count-len(victims)]...)
}
