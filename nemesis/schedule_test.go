package nemesis

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/squall-chaos/squall/history"
)

// fakeFault records its calls; onStart, if set, runs after each start.
type fakeFault struct {
	name      string
	failFirst bool // the first Start fails
	onStart   func()

	mu       sync.Mutex
	starts   int
	applied  bool
	restarts []string
}

func (f *fakeFault) Name() string { return f.name }

func (f *fakeFault) Start(context.Context, Cluster, *rand.Rand) (any, error) {
	f.mu.Lock()
	f.starts++
	fail := f.failFirst && f.starts == 1
	f.applied = !fail
	f.mu.Unlock()
	if f.onStart != nil {
		f.onStart()
	}
	if fail {
		return map[string]string{"mode": "x"}, errInjected
	}
	return map[string]string{"mode": "x"}, nil
}

func (f *fakeFault) Stop(context.Context, Cluster) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = false
	return nil, nil
}

// restartedFault is a fakeFault that wants to know about restarts.
type restartedFault struct{ fakeFault }

func (f *restartedFault) NodeRestarted(_ context.Context, _ Cluster, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts = append(f.restarts, node)
	return nil
}

// runUntil runs s until its faults have started n times in all.
func runUntil(t *testing.T, s *Schedule, n int) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	starts := 0
	count := func() {
		mu.Lock()
		defer mu.Unlock()
		if starts++; starts == n {
			cancel()
		}
	}
	for _, f := range s.Faults {
		switch f := f.(type) {
		case *fakeFault:
			f.onStart = count
		case *restartedFault:
			f.onStart = count
		}
	}
	if s.Interval == 0 {
		s.Interval = time.Millisecond
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Minute): // a hang guard only
		t.Fatal("schedule did not end")
		return nil
	}
}

// checkPairs asserts every event is the nemesis's and every invoke is
// followed at once by its info, and returns the f of each pair.
func checkPairs(t *testing.T, h history.History) []string {
	t.Helper()
	var fs []string
	for i := 0; i < len(h); i += 2 {
		inv := h[i]
		if inv.Process != history.Nemesis || inv.Type != history.Invoke {
			t.Fatalf("event %d: %+v, want a nemesis invoke", i, inv)
		}
		if i+1 >= len(h) || h[i+1].Process != history.Nemesis || h[i+1].Type != history.Info || h[i+1].F != inv.F {
			t.Fatalf("event %d (%s) is not followed by its nemesis info", i, inv.F)
		}
		fs = append(fs, inv.F)
	}
	return fs
}

func TestScheduleAlternatesAndHeals(t *testing.T) {
	a, b := &fakeFault{name: "a"}, &fakeFault{name: "b"}
	rec := &memRecorder{}
	var changes []string
	s := &Schedule{Faults: []Fault{a, b}, Cluster: newFakeCluster(3), Recorder: rec,
		OnChange: func(inForce string) { changes = append(changes, inForce) }}
	if err := runUntil(t, s, 8); err != nil {
		t.Fatal(err)
	}
	fs := checkPairs(t, rec.history())
	// The run: start-X, stop-X, start-Y, stop-Y, ..., the last start; then
	// the final heal stops every family.
	run, heal := fs[:len(fs)-2], fs[len(fs)-2:]
	for i, f := range run {
		if i%2 == 0 && !strings.HasPrefix(f, "start-") || i%2 == 1 && f != "stop-"+strings.TrimPrefix(run[i-1], "start-") {
			t.Fatalf("pair %d is %s in %v, want starts and stops alternating", i, f, fs)
		}
	}
	if len(run) != 15 {
		t.Errorf("run has %d pairs, want 8 starts and 7 stops: %v", len(run), fs)
	}
	if !slices.Contains(run, "start-a") || !slices.Contains(run, "start-b") {
		t.Errorf("run %v did not start both families", run)
	}
	if !slices.Equal(sorted(heal), []string{"stop-a", "stop-b"}) {
		t.Errorf("final heal %v, want stop-a and stop-b", heal)
	}
	if a.applied || b.applied {
		t.Error("a fault is still applied after the run")
	}
	if len(changes) == 0 || changes[len(changes)-1] != "" {
		t.Errorf("OnChange saw %v, want it to end calm", changes)
	}
	for i, c := range changes {
		if want := i%2 == 1; (c == "") != want {
			t.Errorf("OnChange saw %v, want a fault and calm alternating", changes)
			break
		}
	}
}

func TestScheduleFailedStartIsRecordedAndHealed(t *testing.T) {
	f := &fakeFault{name: "f", failFirst: true}
	rec := &memRecorder{}
	s := &Schedule{Faults: []Fault{f}, Cluster: newFakeCluster(3), Recorder: rec}
	if err := runUntil(t, s, 3); err != nil {
		t.Fatal(err)
	}
	h := rec.history()
	if h[1].F != "start-f" || !strings.Contains(h[1].Error, errInjected.Error()) || h[1].Value == nil {
		t.Errorf("first start recorded as %+v, want its value and the error", h[1])
	}
	if h[2].F != "stop-f" {
		t.Errorf("after a failed start came %s, want stop-f at once", h[2].F)
	}
	if h[5].F != "start-f" || h[5].Error != "" {
		t.Errorf("second start recorded as %+v, want a success: the schedule goes on", h[5])
	}
}

func TestScheduleNeverKillsAMajority(t *testing.T) {
	c := newFakeCluster(5)
	c.leader = "n1"
	kill, _ := NewKill()
	rec := &memRecorder{}
	s := &Schedule{Faults: []Fault{kill}, Cluster: c, Recorder: rec}
	// Count starts through the history: Kill has no hook of its own.
	ctx, cancel := context.WithCancel(context.Background())
	s.Interval = time.Millisecond
	s.Seed = 5
	s.OnChange = func(inForce string) {
		if inForce != "" && len(rec.history()) >= 4*30 {
			cancel()
		}
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if c.maxDown < 1 || c.maxDown > 2 {
		t.Errorf("at most %d of 5 nodes were down at once, want 1 or 2", c.maxDown)
	}
	if down := c.down(); len(down) != 0 {
		t.Errorf("nodes %v still down after the run", down)
	}
	for _, op := range rec.history() {
		if op.Error != "" {
			t.Errorf("event %d %s failed: %s", op.Index, op.F, op.Error)
		}
	}
}

func TestScheduleReappliesAfterRestart(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(5)
	r := &restartedFault{fakeFault{name: "r"}}
	kill, _ := NewKill(KillMinority)
	rec := &memRecorder{}
	s := &Schedule{Faults: []Fault{kill, r}, Cluster: c, Recorder: rec}
	s.start(ctx, r, rng(9))
	s.start(ctx, kill, rng(9))
	killed := c.down()
	s.stop(ctx, kill)
	if !slices.Equal(sorted(r.restarts), killed) {
		t.Errorf("re-applied on %v, want the restarted %v", r.restarts, killed)
	}
	var reapplied []string
	for _, op := range rec.history() {
		if op.F == "reapply-r" {
			reapplied = append(reapplied, op.Value.(map[string]string)["node"])
		}
	}
	if !slices.Equal(sorted(reapplied), killed) {
		t.Errorf("history records re-applying on %v, want %v", reapplied, killed)
	}
	// Once r is stopped, restarts leave it alone.
	s.stop(ctx, r)
	r.restarts = nil
	s.start(ctx, kill, rng(10))
	s.stop(ctx, kill)
	if len(r.restarts) != 0 {
		t.Errorf("healed fault re-applied on %v", r.restarts)
	}
}

// TestScheduleReappliesPartitionAfterRestart: a node killed during a
// partition comes back in a new network namespace, and the schedule's
// cluster puts the partition's rules there.
func TestScheduleReappliesPartitionAfterRestart(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(5)
	p, _ := NewPartition(PartitionGrudgePrefix + "n1,n2|n3,n4,n5")
	kill, _ := NewKill(KillMinority)
	s := &Schedule{Faults: []Fault{p, kill}, Cluster: c, Recorder: &memRecorder{}}
	if !s.start(ctx, p, rng(4)) || !s.start(ctx, kill, rng(4)) {
		t.Fatal("faults failed to start")
	}
	if err := s.stop(ctx, kill); err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, c, Grudge{"n1": {"n3", "n4", "n5"}, "n2": {"n3", "n4", "n5"}, "n3": {"n1", "n2"}, "n4": {"n1", "n2"}, "n5": {"n1", "n2"}})
	if err := s.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, c, nil)
}

func TestScheduleNeedsFaults(t *testing.T) {
	s := &Schedule{Cluster: newFakeCluster(3), Recorder: &memRecorder{}, Interval: time.Second}
	if err := s.Run(context.Background()); err == nil {
		t.Error("Run with no faults succeeded")
	}
}

// TestSkippedStartIsNoFailure: a kill that would leave no majority is
// recorded as a fail event (it did nothing), not a failure, and the
// schedule does not report it.
func TestSkippedStartIsNoFailure(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	c.Kill(ctx, "n1") // one of three down: no kill is allowed
	kill, _ := NewKill(KillOne)
	rec := &memRecorder{}
	var failures []string
	s := &Schedule{Faults: []Fault{kill}, Cluster: c, Recorder: rec, OnFailure: func(f string, _ error) { failures = append(failures, f) }}
	if s.start(ctx, kill, rng(1)) {
		t.Fatal("a kill of one of the two running nodes of three started")
	}
	h := rec.history()
	if got := h[len(h)-1]; got.Type != history.Fail || !strings.Contains(got.Error, "skipped") {
		t.Errorf("skipped start recorded as %+v, want a fail event saying it was skipped", got)
	}
	if len(failures) != 0 {
		t.Errorf("OnFailure saw %v for a skipped start", failures)
	}
}

// TestFailuresReported: a start that fails and a stop that fails each
// reach OnFailure as they happen.
func TestFailuresReported(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(3)
	c.netErr["n2"] = errInjected
	p, _ := NewPartition(PartitionHalves)
	var failures []string
	s := &Schedule{Faults: []Fault{p}, Cluster: c, Recorder: &memRecorder{}, OnFailure: func(f string, err error) {
		failures = append(failures, f+": "+err.Error())
	}}
	s.start(ctx, p, rng(1))
	s.stop(ctx, p)
	if len(failures) != 2 || !strings.HasPrefix(failures[0], "start-partition: ") || !strings.HasPrefix(failures[1], "stop-partition: ") ||
		!strings.Contains(failures[0], "n2") {
		t.Errorf("OnFailure saw %q, want the failed start and stop, naming n2", failures)
	}
}

// TestPlanReplays: the same seed, families and interval plan the same
// steps; another seed plans others.
func TestPlanReplays(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		plan := func(seed uint64) []Step {
			s := &Schedule{Faults: make([]Fault, 3), Interval: 10 * time.Second, Overlap: overlap, Seed: seed}
			return s.Plan(10 * time.Minute)
		}
		a, b, other := plan(7), plan(7), plan(8)
		if len(a) < 20 || !slices.Equal(a, b) {
			t.Errorf("overlap %v: seed 7 planned %d steps, then %d different ones", overlap, len(a), len(b))
		}
		if slices.Equal(a, other) {
			t.Errorf("overlap %v: seeds 7 and 8 planned the same steps", overlap)
		}
	}
}

// TestPlanOverlap: without Overlap one fault is in force at a time and
// faults and calm last an interval each; with it, each family alternates
// on a timeline of its own, and faults of different families overlap.
func TestPlanOverlap(t *testing.T) {
	const interval = 10 * time.Second
	for _, overlap := range []bool{false, true} {
		s := &Schedule{Faults: make([]Fault, 3), Interval: interval, Overlap: overlap, Seed: 3}
		inForce := map[int]bool{}
		overlapped := false
		last := map[int]time.Duration{}
		for _, step := range s.Plan(time.Hour) {
			if inForce[step.Family] == !step.Stop {
				t.Fatalf("overlap %v: family %d %s twice in a row", overlap, step.Family, map[bool]string{false: "starts", true: "stops"}[step.Stop])
			}
			inForce[step.Family] = !step.Stop
			if n := len(slices.Collect(func(yield func(int) bool) {
				for f, on := range inForce {
					if on && !yield(f) {
						return
					}
				}
			})); n > 1 {
				overlapped = true
			}
			spell := step.At - last[step.Family]
			if !overlap && last[step.Family] > 0 && step.Stop && spell != interval {
				t.Fatalf("fault lasted %v, want %v", spell, interval)
			}
			if overlap && last[step.Family] > 0 && (spell < interval/2 || spell > 3*interval/2) {
				t.Fatalf("overlap: a spell of %v, want %v to %v", spell, interval/2, 3*interval/2)
			}
			last[step.Family] = step.At
		}
		if overlapped != overlap {
			t.Errorf("Overlap %v: faults overlapped: %v", overlap, overlapped)
		}
	}
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// TestOverlapSlowFamilyDelaysOnlyItself: with Overlap, a family whose start
// hangs does not hold back the others' timelines.
func TestOverlapSlowFamilyDelaysOnlyItself(t *testing.T) {
	release, hanging := make(chan struct{}), make(chan struct{}, 1)
	quickStarts := make(chan struct{}, 100)
	slow := &fakeFault{name: "slow", onStart: func() {
		hanging <- struct{}{}
		<-release
	}}
	quick := &fakeFault{name: "quick", onStart: func() {
		select {
		case quickStarts <- struct{}{}:
		default:
		}
	}}
	s := &Schedule{Faults: []Fault{slow, quick}, Cluster: newFakeCluster(3), Recorder: &memRecorder{},
		Interval: time.Millisecond, Overlap: true, Seed: 1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Once the slow family's first start hangs, the quick family must
	// still start five times.
	<-hanging
	for len(quickStarts) > 0 {
		<-quickStarts
	}
	for range 5 {
		select {
		case <-quickStarts:
		case <-time.After(5 * time.Minute): // a hang guard only
			t.Fatal("the quick family stopped starting while the slow one hung")
		}
	}
	slow.mu.Lock()
	slowStarts := slow.starts
	slow.mu.Unlock()
	if slowStarts != 1 {
		t.Errorf("the slow family started %d times, want once (hung in its first start)", slowStarts)
	}
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// slowStart is a cluster whose Start of a node returns only when released,
// as a container start waits for the node to serve.
type slowStart struct {
	*fakeCluster
	starting chan struct{}
	release  chan struct{}
}

func (c slowStart) Start(ctx context.Context, node string) error {
	c.starting <- struct{}{}
	<-c.release
	return c.fakeCluster.Start(ctx, node)
}

// TestFaultsSeeANodeOneActAtATime: a fault's call on a node that another
// fault is restarting waits for the restart, and so finds the node up,
// not a container that runs with nothing listening yet.
func TestFaultsSeeANodeOneActAtATime(t *testing.T) {
	ctx := context.Background()
	fake := newFakeCluster(3)
	c := slowStart{fake, make(chan struct{}), make(chan struct{})}
	s := &Schedule{Cluster: c, Recorder: &memRecorder{}}
	cluster := s.cluster()
	if err := cluster.Kill(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- cluster.Start(ctx, "n2") }()
	<-c.starting
	set := make(chan error, 1)
	go func() { set <- cluster.SetClock(ctx, "n2", ClockChange{Reset: true}) }()
	select {
	case err := <-set:
		t.Fatalf("SetClock returned (%v) while n2's start was under way", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(c.release)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	if err := <-set; err != nil {
		t.Fatalf("SetClock after the restart: %v, want it to reach the node", err)
	}
}
