package nemesis

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestKillNeverAMajority(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{3, 4, 5, 7} {
		for _, mode := range killModes {
			for _, rng := range seeds() {
				c := newFakeCluster(n)
				c.leader = "n2"
				k, err := NewKill(mode)
				if err != nil {
					t.Fatal(err)
				}
				desc, err := k.Start(ctx, c, rng)
				if err != nil {
					t.Fatalf("n=%d mode %s: %v", n, mode, err)
				}
				killed := desc.(KillEvent).Killed
				if got := c.down(); !slices.Equal(sorted(killed), got) {
					t.Fatalf("n=%d mode %s: described %v killed, down are %v", n, mode, killed, got)
				}
				if len(killed) < 1 || len(killed) > (n-1)/2 {
					t.Fatalf("n=%d mode %s: killed %v, want 1 to %d nodes", n, mode, killed, (n-1)/2)
				}
				if mode == KillOne && len(killed) != 1 || mode == KillLeader && !slices.Equal(killed, []string{"n2"}) {
					t.Fatalf("n=%d mode %s: killed %v", n, mode, killed)
				}
				desc, err = k.Stop(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				if got := desc.(KillEvent).Restarted; !slices.Equal(got, killed) {
					t.Fatalf("restarted %v, want %v", got, killed)
				}
				if down := c.down(); len(down) != 0 {
					t.Fatalf("still down after Stop: %v", down)
				}
			}
		}
	}
}

func TestKillMinoritySizesVary(t *testing.T) {
	sizes := make(map[int]bool)
	for _, rng := range seeds() {
		c := newFakeCluster(7)
		k, _ := NewKill(KillMinority)
		desc, err := k.Start(context.Background(), c, rng)
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(desc.(KillEvent).Killed)] = true
	}
	if len(sizes) < 2 {
		t.Errorf("20 seeds killed minorities of sizes %v only", sizes)
	}
}

func TestKillCountsNodesStillDown(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(5)
	k, _ := NewKill(KillOne)
	rng := rand.New(rand.NewPCG(3, 3))
	for range 2 {
		if _, err := k.Start(ctx, c, rng); err != nil {
			t.Fatal(err)
		}
	}
	// Two of five down: a third would leave no majority.
	if desc, err := k.Start(ctx, c, rng); err == nil {
		t.Fatalf("third kill of five nodes succeeded: %v", desc)
	}
	if got := c.maxDown; got != 2 {
		t.Errorf("at most %d nodes were down, want 2", got)
	}

	// A node that fails to restart stays on the list for the next Stop.
	down := c.down()
	c.startErr[down[0]] = errInjected
	desc, err := k.Stop(ctx, c)
	if err == nil || !strings.Contains(err.Error(), down[0]) {
		t.Fatalf("Stop with %s failing to start: error %v, want one naming it", down[0], err)
	}
	if got := desc.(KillEvent).Restarted; !slices.Equal(got, down[1:]) {
		t.Errorf("restarted %v, want %v", got, down[1:])
	}
	delete(c.startErr, down[0])
	if _, err := k.Stop(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := c.down(); len(got) != 0 {
		t.Errorf("still down: %v", got)
	}
}

func TestKillLeaderUnknown(t *testing.T) {
	c := newFakeCluster(5)
	k, _ := NewKill(KillLeader)
	desc, err := k.Start(context.Background(), c, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	ev := desc.(KillEvent)
	if len(ev.Killed) != 1 || !strings.Contains(ev.Note, "no leader") {
		t.Errorf("event %+v: want one node killed and a note that no leader was known", ev)
	}
}

func TestKillTooSmallCluster(t *testing.T) {
	c := newFakeCluster(2)
	k, _ := NewKill()
	if desc, err := k.Start(context.Background(), c, rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Errorf("killed %v of a 2-node cluster, which has no minority", desc)
	}
	if len(c.log) != 0 {
		t.Errorf("cluster saw %v", c.log)
	}
}

func TestNewKillRejectsUnknownMode(t *testing.T) {
	if _, err := NewKill("majority"); err == nil || !strings.Contains(err.Error(), "majority") {
		t.Errorf("NewKill(majority): error %v, want one naming the mode", err)
	}
}
