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
	if s.Rand == nil {
		s.Rand = rand.New(rand.NewPCG(1, 2))
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
	s := &Schedule{Faults: []Fault{a, b}, Cluster: newFakeCluster(3, nil), Recorder: rec,
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
	s := &Schedule{Faults: []Fault{f}, Cluster: newFakeCluster(3, nil), Recorder: rec}
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
	c := newFakeCluster(5, nil)
	c.leader = "n1"
	kill, _ := NewKill()
	rec := &memRecorder{}
	s := &Schedule{Faults: []Fault{kill}, Cluster: c, Recorder: rec}
	// Count starts through the history: Kill has no hook of its own.
	ctx, cancel := context.WithCancel(context.Background())
	s.Interval = time.Millisecond
	s.Rand = rand.New(rand.NewPCG(5, 5))
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
	c := newFakeCluster(5, nil)
	r := &restartedFault{fakeFault{name: "r"}}
	kill, _ := NewKill(KillMinority)
	rec := &memRecorder{}
	s := &Schedule{Faults: []Fault{kill, r}, Cluster: c, Recorder: rec, Rand: rand.New(rand.NewPCG(9, 9))}
	s.start(ctx, r)
	s.start(ctx, kill)
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
	s.start(ctx, kill)
	s.stop(ctx, kill)
	if len(r.restarts) != 0 {
		t.Errorf("healed fault re-applied on %v", r.restarts)
	}
}

// TestScheduleReappliesPartitionInNewNamespace is the real thing: a node
// killed during a partition comes back in a new network namespace, and
// the schedule's cluster puts the partition's rules there.
func TestScheduleReappliesPartitionInNewNamespace(t *testing.T) {
	ctx := context.Background()
	c := namespacedCluster(t, 5)
	p, _ := NewPartition(PartitionGrudgePrefix + "n1,n2|n3,n4,n5")
	kill, _ := NewKill(KillMinority)
	s := &Schedule{Faults: []Fault{p, kill}, Cluster: c, Recorder: &memRecorder{}, Rand: rand.New(rand.NewPCG(4, 4))}
	if !s.start(ctx, p) || !s.start(ctx, kill) {
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
	s := &Schedule{Cluster: newFakeCluster(3, nil), Recorder: &memRecorder{}, Rand: rand.New(rand.NewPCG(1, 1))}
	if err := s.Run(context.Background()); err == nil {
		t.Error("Run with no faults succeeded")
	}
}
