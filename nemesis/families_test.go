package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/nemesis/netfault"
)

func TestPauseFreezesAndThaws(t *testing.T) {
	ctx := context.Background()
	for _, mode := range pauseModes {
		for seed := range uint64(10) {
			c := newFakeCluster(5)
			c.leader = "n3"
			p, _ := NewPause(mode)
			desc, err := p.Start(ctx, c, rng(seed))
			if err != nil {
				t.Fatal(err)
			}
			ev := desc.(PauseEvent)
			if got := c.pausedNodes(); !slices.Equal(got, sorted(ev.Paused)) {
				t.Fatalf("mode %s: described %v paused, cluster has %v", mode, ev.Paused, got)
			}
			if n := len(ev.Paused); n < 1 || n > 2 || mode == TargetOne && n != 1 || mode == TargetLeader && ev.Paused[0] != "n3" {
				t.Fatalf("mode %s: paused %v", mode, ev.Paused)
			}
			desc, err = p.Stop(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if got := desc.(PauseEvent).Resumed; !slices.Equal(got, ev.Paused) || len(c.pausedNodes()) != 0 {
				t.Fatalf("mode %s: resumed %v, still paused %v; want %v resumed", mode, got, c.pausedNodes(), ev.Paused)
			}
		}
	}
}

// TestPauseOfKilledNode: a paused node that another family killed (and
// restarted) has nothing left to thaw; Stop says so and does not fail.
func TestPauseOfKilledNode(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	p, _ := NewPause(TargetOne)
	desc, _ := p.Start(ctx, c, rng(1))
	node := desc.(PauseEvent).Paused[0]
	c.Kill(ctx, node)
	c.Start(ctx, node) // another family restarted it: a new process, not frozen
	desc, err := p.Stop(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.(PauseEvent).Gone; !slices.Equal(got, []string{node}) {
		t.Errorf("gone %v, want [%s]", got, node)
	}
}

func TestClockChangesAndResets(t *testing.T) {
	ctx := context.Background()
	for _, mode := range clockModes {
		for seed := range uint64(20) {
			c := newFakeCluster(5)
			c.leader = "n2"
			k, _ := NewClock(mode)
			desc, err := k.Start(ctx, c, rng(seed))
			if err != nil {
				t.Fatal(err)
			}
			ev := desc.(ClockEvent)
			if len(ev.Changes) == 0 || !slices.Equal(c.clockFaulty(), slices.Sorted(mapKeys(ev.Changes))) {
				t.Fatalf("mode %s: described %v, changed clocks of %v", mode, ev.Changes, c.clockFaulty())
			}
			for node, ch := range ev.Changes {
				checkClockChange(t, mode, node, ch)
			}
			if _, err := k.Stop(ctx, c); err != nil {
				t.Fatal(err)
			}
			if got := c.clockFaulty(); len(got) != 0 {
				t.Fatalf("mode %s: clocks of %v still changed after Stop", mode, got)
			}
		}
	}
}

func checkClockChange(t *testing.T, mode, node string, ch ClockChange) {
	t.Helper()
	abs := func(d time.Duration) time.Duration { return max(d, -d) }
	switch mode {
	case ClockBump:
		if ch.Offset == nil || abs(*ch.Offset) < minBump || abs(*ch.Offset) > maxBump {
			t.Fatalf("bump of %s: %+v, want an offset of %v to %v either way", node, ch, minBump, maxBump)
		}
	case ClockStrobe:
		if abs(ch.StrobeDelta) < minBump || abs(ch.StrobeDelta) > maxStrobe || ch.StrobePeriod < minStrobePeriod || ch.StrobePeriod > maxStrobePeriod {
			t.Fatalf("strobe of %s: %+v", node, ch)
		}
	case ClockSkew:
		if ch.Rate == nil || !(*ch.Rate >= 1/maxSkew-0.001 && *ch.Rate <= 1/minSkew+0.001 || *ch.Rate >= minSkew-0.001 && *ch.Rate <= maxSkew+0.001) {
			t.Fatalf("skew of %s: %+v, want a rate %v to %v fast or slow", node, ch, minSkew, maxSkew)
		}
	}
}

func TestClockReappliedAfterRestart(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	k, _ := NewClock(ClockBump)
	desc, _ := k.Start(ctx, c, rng(2))
	var node string
	for n := range desc.(ClockEvent).Changes {
		node = n
	}
	c.Kill(ctx, node)
	c.Start(ctx, node)
	if slices.Contains(c.clockFaulty(), node) {
		t.Fatal("a restarted node kept its clock change; the test proves nothing")
	}
	if err := k.NodeRestarted(ctx, c, node); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.clockFaulty(), node) {
		t.Errorf("node %s restarted without its clock change", node)
	}
}

func TestLossModes(t *testing.T) {
	ctx := context.Background()
	for _, mode := range lossModes {
		for seed := range uint64(10) {
			c := newFakeCluster(5)
			c.protected = []netip.Addr{c.ip("n5")}
			l, _ := NewLoss(mode)
			desc, err := l.Start(ctx, c, rng(seed))
			if err != nil {
				t.Fatal(err)
			}
			for node, ch := range desc.(LossEvent).Changes {
				if got := c.netState(node, "loss"); !changeEqual(got, ch) {
					t.Fatalf("node %s: described %+v, has %+v", node, ch, got)
				}
				switch mode {
				case LossDrop:
					for _, x := range ch.Loss {
						if x.Addr == c.ip(node) || x.Addr == c.ip("n5") || !slices.Contains(lossPercents, x.Percent) {
							t.Fatalf("node %s drops %+v: not itself, not the protected address, a listed share", node, x)
						}
					}
					if len(ch.Loss) < 3 {
						t.Fatalf("node %s drops packets of %d peers, want every unprotected other one", node, len(ch.Loss))
					}
				case LossBandwidth:
					if ch.Rate < minRate || ch.Rate > maxRate {
						t.Fatalf("node %s limited to %d bytes/s", node, ch.Rate)
					}
				case LossDelay:
					if ch.Delay < minDelay || ch.Delay > maxDelay || ch.Jitter > ch.Delay/jitterShare {
						t.Fatalf("node %s delayed %v ± %v", node, ch.Delay, ch.Jitter)
					}
				}
			}
			if _, err := l.Stop(ctx, c); err != nil {
				t.Fatal(err)
			}
			for _, n := range c.nodes {
				if got := c.netState(n.Name, "loss"); !changeEqual(got, netfault.Change{}) {
					t.Fatalf("node %s still has %+v after Stop", n.Name, got)
				}
			}
		}
	}
}

func changeEqual(a, b netfault.Change) bool {
	return slices.Equal(a.Drop, b.Drop) && slices.Equal(a.Loss, b.Loss) && a.Rate == b.Rate && a.Delay == b.Delay && a.Jitter == b.Jitter
}

// TestLossAndPartitionTogether: both in force, healing either leaves the
// other, since each family has its own state (its own nftables table).
func TestLossAndPartitionTogether(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	p, _ := NewPartition(PartitionGrudgePrefix + "n1|n2,n3")
	l, _ := NewLoss(LossDrop)
	if _, err := p.Start(ctx, c, rng(1)); err != nil {
		t.Fatal(err)
	}
	desc, err := l.Start(ctx, c, rng(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stop(ctx, c); err != nil {
		t.Fatal(err)
	}
	for node := range desc.(LossEvent).Changes {
		if len(c.netState(node, "loss").Loss) == 0 {
			t.Errorf("healing the partition healed the loss on %s", node)
		}
	}
	p.Start(ctx, c, rng(1))
	l.Stop(ctx, c)
	checkInstalled(t, c, Grudge{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}})
}

func TestFailpointArmsFromCatalog(t *testing.T) {
	ctx := context.Background()
	points := []string{"wal/before-sync", "kv/after-commit", "raft/before-apply"}
	seen := map[string]bool{}
	for seed := range uint64(30) {
		c := newFakeCluster(5)
		c.points = points
		c.leader = "n4"
		f, _ := NewFailpoint()
		desc, err := f.Start(ctx, c, rng(seed))
		if err != nil {
			t.Fatal(err)
		}
		ev := desc.(FailpointEvent)
		seen[ev.Point] = true
		armed := c.armedPoints()
		if len(armed) != len(ev.Nodes) {
			t.Fatalf("described %+v, armed %v", ev, armed)
		}
		crash := strings.HasSuffix(ev.Spec, "crash")
		if crash && len(ev.Nodes) != 1 || !crash && len(ev.Nodes) != 5 {
			t.Fatalf("%s armed on %v: want a crash on one node, an error or sleep on all", ev.Spec, ev.Nodes)
		}
		if crash {
			c.Kill(ctx, ev.Nodes[0]) // the node reaches the point
		}
		desc, err = f.Stop(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.armedPoints(); len(got) != 0 {
			t.Fatalf("still armed after Stop: %v", got)
		}
		if crash && !slices.Equal(desc.(FailpointEvent).Restarted, ev.Nodes) || len(c.down()) != 0 {
			t.Fatalf("after a crash on %v Stop restarted %v; down %v", ev.Nodes, desc.(FailpointEvent).Restarted, c.down())
		}
	}
	if len(seen) != len(points) {
		t.Errorf("30 seeds armed %v, want every point of the catalog", seen)
	}
}

func TestFailpointNamedPoint(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	c.points = []string{"kv/after-commit", "wal/before-sync"}
	f, err := NewFailpoint("kv/after-commit", FailError)
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(5) {
		desc, err := f.Start(ctx, c, rng(seed))
		if err != nil {
			t.Fatal(err)
		}
		if ev := desc.(FailpointEvent); ev.Point != "kv/after-commit" || !strings.Contains(ev.Spec, "error(") {
			t.Fatalf("armed %+v, want kv/after-commit with an error", ev)
		}
		f.Stop(ctx, c)
	}
	f, _ = NewFailpoint("kv/nowhere")
	if _, err := f.Start(ctx, c, rng(1)); err == nil || !strings.Contains(err.Error(), "kv/nowhere") {
		t.Errorf("a point the nodes lack: error %v, want one naming it", err)
	}
	if _, err := NewFailpoint("explode"); err == nil || !strings.Contains(err.Error(), "explode") {
		t.Errorf("NewFailpoint(explode): error %v, want one naming it", err)
	}
}

func TestPowerCutsAndRestores(t *testing.T) {
	ctx := context.Background()
	for _, mode := range powerModes {
		c := newFakeCluster(5)
		p, _ := NewPower(mode)
		desc, err := p.Start(ctx, c, rng(3))
		if err != nil {
			t.Fatal(err)
		}
		cut := desc.(PowerEvent).Cut
		want := map[string]int{TargetOne: 1, TargetMajority: 3, TargetAll: 5}[mode]
		if got := c.down(); !slices.Equal(got, sorted(cut)) || want > 0 && len(cut) != want || mode == TargetMinority && (len(cut) < 1 || len(cut) > 2) {
			t.Fatalf("mode %s: cut %v, down %v", mode, cut, got)
		}
		desc, err = p.Stop(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := desc.(PowerEvent).Restored; !slices.Equal(sorted(got), sorted(cut)) || len(c.down()) != 0 {
			t.Fatalf("mode %s: restored %v of %v; down %v", mode, got, cut, c.down())
		}
	}
}

func TestSplitList(t *testing.T) {
	for in, want := range map[string][]string{
		"partition,kill":                            {"partition", "kill"},
		" clock:strobe , pause:leader ":             {"clock:strobe", "pause:leader"},
		"partition:grudge:n1,n2|n3,n4,n5,kill":      {"partition:grudge:n1,n2|n3,n4,n5", "kill"},
		"failpoint:kv/after-commit,failpoint:crash": {"failpoint:kv/after-commit", "failpoint:crash"},
		"all": {"all"},
		"":    nil,
	} {
		if got := SplitList(in); !slices.Equal(got, want) {
			t.Errorf("SplitList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseChoices(t *testing.T) {
	got, err := ParseChoices([]string{"partition", "clock:strobe", "pause:leader", "clock:skew", "partition:halves"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Choice{{Family: "partition"}, {Family: "clock", Modes: []string{"strobe", "skew"}}, {Family: "pause", Modes: []string{"leader"}}}
	if !slices.EqualFunc(got, want, func(a, b Choice) bool { return a.Family == b.Family && slices.Equal(a.Modes, b.Modes) }) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	all, err := ParseChoices([]string{"all"})
	if err != nil || len(all) != len(families) {
		t.Errorf("all: %+v, %v; want every family", all, err)
	}
	for _, bad := range []struct{ item, names string }{
		{"partitions", "partitions"},
		{"clock:warp", "warp"},
		{"pause:majority", "majority"},
		{"clock:", "clock"},
		{"failpoint:explode", "explode"},
	} {
		_, err := ParseChoices([]string{bad.item})
		if err == nil || !strings.Contains(err.Error(), bad.names) {
			t.Errorf("ParseChoices(%q): error %v, want one naming %q", bad.item, err, bad.names)
		}
	}
}

// TestChoiceWithout: a family asked for without modes leaves out the modes
// the kernel cannot do; one asked for with such a mode is refused.
func TestChoiceWithout(t *testing.T) {
	noNetem := map[string]error{netfault.FeatureNetem: errors.New("no netem")}
	c, dropped, err := Choice{Family: "loss"}.Without(noNetem)
	if err != nil || !slices.Equal(c.Modes, []string{LossDrop, LossBandwidth}) || !slices.Equal(dropped, []string{LossDelay}) {
		t.Errorf("loss without netem: %+v, dropped %v, %v; want drop and bandwidth, delay dropped", c, dropped, err)
	}
	if _, _, err := (Choice{Family: "loss", Modes: []string{LossDelay}}).Without(noNetem); err == nil || !strings.Contains(err.Error(), "no netem") {
		t.Errorf("loss:delay without netem: error %v, want a refusal saying why", err)
	}
	if c, dropped, err := (Choice{Family: "clock"}).Without(noNetem); err != nil || len(dropped) != 0 || len(c.Modes) != 0 {
		t.Errorf("clock needs no netem: %+v %v %v", c, dropped, err)
	}
	noNft := map[string]error{netfault.FeatureNftables: errors.New("no nftables")}
	if _, _, err := (Choice{Family: "partition"}).Without(noNft); err == nil {
		t.Error("partition without nftables was not refused")
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestFrozenNodeHealedOnThaw: a clock fault healed while its node is
// frozen resets the clock when the node is thawed, through the
// schedule's cluster, and the history says so; a frozen node is never a
// clock fault's target.
func TestFrozenNodeHealedOnThaw(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	k, _ := NewClock(ClockBump)
	p, _ := NewPause(TargetOne)
	rec := &memRecorder{}
	s := &Schedule{Faults: []Fault{k, p}, Cluster: c, Recorder: rec}
	if !s.start(ctx, k, rng(1)) {
		t.Fatal("clock did not start")
	}
	changed := c.clockFaulty()
	// Freeze exactly the changed node.
	for !slices.Equal(c.pausedNodes(), changed) {
		s.stop(ctx, p)
		s.start(ctx, p, rng(uint64(len(rec.history()))))
	}
	if err := s.stop(ctx, k); err != nil {
		t.Fatalf("healing a clock on a frozen node: %v", err)
	}
	if got := c.clockFaulty(); !slices.Equal(got, changed) {
		t.Fatalf("clocks changed %v before the thaw, want still %v", got, changed)
	}
	if err := s.stop(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := c.clockFaulty(); len(got) != 0 {
		t.Errorf("clocks of %v still changed after the thaw", got)
	}
	h := rec.history()
	if last := h[len(h)-2]; last.F != "resume-clock" || last.Error != "" {
		t.Errorf("history ends %s, %s, %s; want the clock reset on thaw recorded", h[len(h)-3].F, h[len(h)-2].F, h[len(h)-1].F)
	}

	// With every node but one frozen, a clock fault picks that one.
	c.Pause(ctx, "n1")
	c.Pause(ctx, "n2")
	for seed := range uint64(10) {
		desc, err := k.Start(ctx, c, rng(seed))
		if err != nil {
			t.Fatal(err)
		}
		for node := range desc.(ClockEvent).Changes {
			if node != "n3" {
				t.Fatalf("clock fault on frozen node %s", node)
			}
		}
	}
}

// TestFailpointRestartsNodesAnErrorStopped: an error at a storage point
// stops the node (a failed fsync cannot be gone on from); Stop starts
// every armed node it finds down, not only those armed to crash.
func TestFailpointRestartsNodesAnErrorStopped(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	c.points = []string{"wal/before-sync"}
	f, _ := NewFailpoint(FailError)
	if _, err := f.Start(ctx, c, rng(1)); err != nil {
		t.Fatal(err)
	}
	c.Kill(ctx, "n2") // the node stops on the injected error
	desc, err := f.Stop(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.(FailpointEvent).Restarted; !slices.Equal(got, []string{"n2"}) || len(c.down()) != 0 {
		t.Errorf("restarted %v, down %v; want n2 restarted", got, c.down())
	}
}

// TestTargetModes: a clock or loss fault can be aimed (clock:leader), and
// a choice of targets alone keeps every kind, the kernel permitting.
func TestTargetModes(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(5)
	c.leader = "n4"
	k, err := NewClock(ClockStrobe, TargetLeader)
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(10) {
		desc, err := k.Start(ctx, c, rng(seed))
		if err != nil {
			t.Fatal(err)
		}
		ev := desc.(ClockEvent)
		if ev.Mode != ClockStrobe || ev.Target != TargetLeader || len(ev.Changes) != 1 || ev.Changes["n4"].StrobePeriod == 0 {
			t.Fatalf("clock:strobe,clock:leader did %+v", ev)
		}
		k.Stop(ctx, c)
	}
	if _, err := NewClock("sideways"); err == nil || !strings.Contains(err.Error(), "leader") {
		t.Errorf("a bad clock mode: %v, want an error listing kinds and targets", err)
	}
	noNetem := map[string]error{netfault.FeatureNetem: errors.New("no netem")}
	got, dropped, err := Choice{Family: "loss", Modes: []string{TargetLeader}}.Without(noNetem)
	if err != nil || !slices.Equal(got.Modes, []string{LossDrop, LossBandwidth, TargetLeader}) || !slices.Equal(dropped, []string{LossDelay}) {
		t.Errorf("loss:leader without netem: %+v, dropped %v, %v", got, dropped, err)
	}
}

// TestOnEachLeavesOutNodesThatWentDown: a target that went down or was
// frozen between its pick and the act is listed, not a failure; if all
// were, the start is skipped.
func TestOnEachLeavesOutNodesThatWentDown(t *testing.T) {
	act := func(node string) error {
		switch node {
		case "n2":
			return fmt.Errorf("arm: %w", ErrNodeDown)
		case "n3":
			return errInjected
		case "n4":
			return fmt.Errorf("arm: %w", ErrNodePaused)
		}
		return nil
	}
	done, down, frozen, err := onEach([]string{"n1", "n2", "n3", "n4"}, act)
	if !slices.Equal(done, []string{"n1"}) || !slices.Equal(down, []string{"n2"}) || !slices.Equal(frozen, []string{"n4"}) ||
		!errors.Is(err, errInjected) || !strings.Contains(err.Error(), "n3") {
		t.Errorf("done %v down %v frozen %v err %v; want n1 done, n2 down, n4 frozen, n3's failure", done, down, frozen, err)
	}
	if _, _, _, err := onEach([]string{"n2", "n4"}, act); !errors.Is(err, ErrSkipped) {
		t.Errorf("every target down or frozen: %v, want a skip", err)
	}
}

// TestLossListsANodeThatWentDown: a node another family killed since the
// pick is listed as down, and gets its change when it starts again.
func TestLossListsANodeThatWentDown(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	c.netErr["n1"] = fmt.Errorf("sidecar: %w", ErrNodeDown)
	l, err := NewLoss(LossDrop, TargetAll)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := l.Start(ctx, c, rng(1))
	if err != nil {
		t.Fatal(err)
	}
	ev := desc.(LossEvent)
	if !slices.Equal(ev.Down, []string{"n1"}) || len(ev.Changes) != 2 {
		t.Fatalf("event %+v: want n1 down and the others changed", ev)
	}
	delete(c.netErr, "n1")
	if err := l.NodeRestarted(ctx, c, "n1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.net["n1"][l.Name()]; !ok {
		t.Errorf("n1 restarted without the loss in force: %v", c.net["n1"])
	}
}

// downWhenAsked is a cluster whose node victim goes down as it is asked
// for its failpoints, as when another family kills it at that moment.
type downWhenAsked struct {
	*fakeCluster
	victim string
}

func (c downWhenAsked) Failpoints(ctx context.Context, node string) ([]string, error) {
	if node == c.victim {
		c.Kill(ctx, node)
		return nil, fmt.Errorf("node %s: %w", node, ErrNodeDown)
	}
	return c.fakeCluster.Failpoints(ctx, node)
}

// TestFailpointAsksTheNextNodeWhenOneGoesDown: a node that goes down
// between the listing of the nodes up and the ask for its catalog is
// listed as down, and the next node's catalog is used.
func TestFailpointAsksTheNextNodeWhenOneGoesDown(t *testing.T) {
	c := newFakeCluster(3)
	c.points = []string{"kv/after-commit"}
	f, _ := NewFailpoint(FailError)
	desc, err := f.Start(context.Background(), downWhenAsked{c, "n1"}, rng(1))
	if err != nil {
		t.Fatal(err)
	}
	ev := desc.(FailpointEvent)
	if !slices.Equal(ev.Down, []string{"n1"}) || !slices.Equal(ev.Nodes, []string{"n2", "n3"}) {
		t.Fatalf("event %+v: want n1 down and the point armed on n2 and n3", ev)
	}
}

// killedAtThaw is a cluster whose node victim is killed and restarted by
// another family just as the pause family thaws it.
type killedAtThaw struct {
	*fakeCluster
	victim string
}

func (c killedAtThaw) Unpause(ctx context.Context, node string) error {
	if node == c.victim {
		c.Kill(ctx, node)
		c.Start(ctx, node)
	}
	return c.fakeCluster.Unpause(ctx, node)
}

// TestPauseOfNodeKilledAtThaw: a frozen node another family kills and
// restarts between the pause's look at it and its thaw is gone, not a
// failure to thaw.
func TestPauseOfNodeKilledAtThaw(t *testing.T) {
	ctx := context.Background()
	fake := newFakeCluster(3)
	c := killedAtThaw{fake, "n1"}
	p, _ := NewPause(TargetOne)
	desc, err := p.Start(ctx, c, rng(1))
	if err != nil {
		t.Fatal(err)
	}
	c.victim = desc.(PauseEvent).Paused[0]
	desc, err = p.Stop(ctx, c)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	if ev := desc.(PauseEvent); !slices.Equal(ev.Gone, []string{c.victim}) || len(ev.Resumed) != 0 {
		t.Fatalf("stop %+v: want %s gone", ev, c.victim)
	}
}

// TestClockOfARestartedNodeFrozenBeforeItsChange: a restarted node that
// another family froze before the clock fault could give it its change
// again gets the change when it is thawed, and neither step fails.
func TestClockOfARestartedNodeFrozenBeforeItsChange(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	k, err := NewClock(TargetOne)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := k.Start(ctx, c, rng(2))
	if err != nil {
		t.Fatal(err)
	}
	var node string
	for n := range desc.(ClockEvent).Changes {
		node = n
	}
	c.Kill(ctx, node)
	c.Start(ctx, node) // a new process: a true clock
	c.Pause(ctx, node)
	if err := k.NodeRestarted(ctx, c, node); err != nil {
		t.Fatalf("re-apply to a frozen node: %v, want it put off", err)
	}
	c.Unpause(ctx, node)
	if done, err := k.NodeResumed(ctx, c, node); !done || err != nil {
		t.Fatalf("thaw: %v, %v; want the change applied", done, err)
	}
	if got := c.clocks[node]; len(got) != 1 {
		t.Fatalf("clock changes of %s since its restart: %v, want the fault's one", node, got)
	}
}
