package fault

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	for _, tt := range []struct {
		spec string
		want term
		// canonical is the spec's canonical form, if not the spec itself.
		canonical string
	}{
		{spec: "off", want: term{action: actionOff}},
		{spec: "crash", want: term{percent: 100, action: actionCrash}},
		{spec: "error(disk full)", want: term{percent: 100, action: actionError, message: "disk full"}},
		{spec: "error()", want: term{percent: 100, action: actionError}},
		{spec: "error(50% (of it) gone)", want: term{percent: 100, action: actionError, message: "50% (of it) gone"}},
		{spec: "sleep(100ms)", want: term{percent: 100, action: actionSleep, sleep: 100 * time.Millisecond}},
		{spec: "sleep(1m30s)", want: term{percent: 100, action: actionSleep, sleep: 90 * time.Second}, canonical: "sleep(1m30s)"},
		{spec: "sleep(2h)", want: term{percent: 100, action: actionSleep, sleep: 2 * time.Hour}, canonical: "sleep(2h0m0s)"},
		{spec: "50%error(x)", want: term{percent: 50, action: actionError, message: "x"}},
		{spec: "0.5%crash", want: term{percent: 0.5, action: actionCrash}},
		{spec: "100%crash", want: term{percent: 100, action: actionCrash}, canonical: "crash"},
		{spec: "3*sleep(100ms)", want: term{percent: 100, count: 3, action: actionSleep, sleep: 100 * time.Millisecond}},
		{spec: "10%1*crash", want: term{percent: 10, count: 1, action: actionCrash}},
	} {
		got, err := parseSpec(tt.spec)
		if err != nil {
			t.Errorf("parseSpec(%q): %v", tt.spec, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseSpec(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
		canonical := tt.canonical
		if canonical == "" {
			canonical = tt.spec
		}
		if s := got.String(); s != canonical {
			t.Errorf("parseSpec(%q).String() = %q, want %q", tt.spec, s, canonical)
		}
		if again, err := parseSpec(got.String()); err != nil || again != got {
			t.Errorf("canonical form %q of %q parses to %+v, %v; want %+v", got.String(), tt.spec, again, err, got)
		}
	}
}

func TestParseSpecRejectsMalformed(t *testing.T) {
	for _, tt := range []struct {
		spec string
		want string // in the error, after the quoted spec
	}{
		{spec: "", want: "no action; want off, sleep(duration), error(message) or crash"},
		{spec: "explode", want: `unknown action "explode"; want off`},
		{spec: "Crash", want: `unknown action "Crash"`},
		{spec: " crash", want: `unknown action " crash"`},
		{spec: "crash()", want: "crash: want no argument"},
		{spec: "off()", want: "off: want no probability"},
		{spec: "3*off", want: "off: want no probability"},
		{spec: "sleep", want: "sleep: want a positive duration in parentheses"},
		{spec: "sleep()", want: "sleep: want a positive duration"},
		{spec: "sleep(soon)", want: "sleep: want a positive duration"},
		{spec: "sleep(-1s)", want: "sleep: want a positive duration"},
		{spec: "sleep(0s)", want: "sleep: want a positive duration"},
		{spec: "sleep(1s", want: "sleep(: want a closing parenthesis at the end"},
		{spec: "error", want: "error: want a message in parentheses"},
		{spec: "error(x) ", want: "error(: want a closing parenthesis"},
		{spec: "0%error(x)", want: "probability 0%: want a number greater than 0 and at most 100"},
		{spec: "101%error(x)", want: "probability 101%"},
		{spec: "1.2.3%error(x)", want: "probability 1.2.3%"},
		{spec: "0*error(x)", want: "count 0*: want a positive integer"},
		{spec: "99999999999999999999*crash", want: "count 99999999999999999999*"},
		{spec: "3*50%crash", want: `unknown action "50%crash"`},
		{spec: "50%", want: "no action"},
	} {
		_, err := parseSpec(tt.spec)
		if err == nil {
			t.Errorf("parseSpec(%q) succeeded, want an error", tt.spec)
			continue
		}
		prefix := "failpoint spec \"" + tt.spec + "\": "
		if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tt.want) {
			t.Errorf("parseSpec(%q) error = %q, want %q followed by %q", tt.spec, msg, prefix, tt.want)
		}
	}
}

// newTestFailpoints returns a registry on clock whose crash action only
// counts, with a fixed seed, and with the points names registered.
func newTestFailpoints(clock Clock, names ...string) (*Failpoints, *atomic.Int32) {
	f := NewFailpoints(clock, nil)
	var crashes atomic.Int32
	f.SetCrash(func() { crashes.Add(1) })
	f.seeds = rand.New(rand.NewPCG(1, 2))
	for _, name := range names {
		f.Register(name, "test point "+name)
	}
	return f, &crashes
}

func mustArm(t *testing.T, f *Failpoints, name, spec string) {
	t.Helper()
	if err := f.Arm(name, spec); err != nil {
		t.Fatalf("Arm(%q, %q): %v", name, spec, err)
	}
}

func statusOf(t *testing.T, f *Failpoints, name string) FailpointStatus {
	t.Helper()
	for _, s := range f.List() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("List has no point %q", name)
	return FailpointStatus{}
}

func TestEvalOfUnarmedPointDoesNothing(t *testing.T) {
	f, crashes := newTestFailpoints(SystemClock(), "kv/apply", "wal/sync")
	ctx := context.Background()
	for _, name := range []string{"kv/apply", "never/registered"} {
		if err := f.Eval(ctx, name); err != nil {
			t.Errorf("Eval(%q) with nothing armed = %v, want nil", name, err)
		}
	}
	mustArm(t, f, "wal/sync", "crash")
	if err := f.Eval(ctx, "kv/apply"); err != nil {
		t.Errorf("Eval of an unarmed point while another is armed = %v, want nil", err)
	}
	if n := crashes.Load(); n != 0 {
		t.Errorf("%d crashes from unarmed points, want 0", n)
	}
}

func TestArmAndDisarmRejectUnknownPoints(t *testing.T) {
	f, _ := newTestFailpoints(SystemClock(), "kv/apply")
	if err := f.Arm("kv/aply", "crash"); !errors.Is(err, ErrUnknownFailpoint) || !strings.Contains(err.Error(), "kv/aply") {
		t.Errorf("Arm of an unregistered point = %v, want ErrUnknownFailpoint naming it", err)
	}
	if err := f.Disarm("kv/aply"); !errors.Is(err, ErrUnknownFailpoint) {
		t.Errorf("Disarm of an unregistered point = %v, want ErrUnknownFailpoint", err)
	}
	err := f.Arm("kv/apply", "explode")
	if err == nil || errors.Is(err, ErrUnknownFailpoint) || !strings.Contains(err.Error(), `"explode"`) {
		t.Errorf("Arm with a bad spec = %v, want a parse error naming the spec", err)
	}
	if s := statusOf(t, f, "kv/apply"); s.Spec != "off" {
		t.Errorf("spec after a failed Arm = %q, want off", s.Spec)
	}
}

func TestRegisterKeepsTheFirstDescription(t *testing.T) {
	f, _ := newTestFailpoints(SystemClock())
	f.Register("raft/send", "before a message is sent")
	f.Register("kv/apply", "before an entry is applied")
	f.Register("raft/send", "registered again by a second group")
	want := []FailpointStatus{
		{Name: "kv/apply", Description: "before an entry is applied", Spec: "off"},
		{Name: "raft/send", Description: "before a message is sent", Spec: "off"},
	}
	got := f.List()
	if len(got) != len(want) {
		t.Fatalf("List = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("List()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestEvalReturnsInjectedError(t *testing.T) {
	f, _ := newTestFailpoints(SystemClock(), "kv/apply", "wal/sync")
	ctx := context.Background()
	mustArm(t, f, "kv/apply", "error(disk full)")
	mustArm(t, f, "wal/sync", "error()")

	err := f.Eval(ctx, "kv/apply")
	if !errors.Is(err, ErrInjected) {
		t.Fatalf("Eval = %v, want an error wrapping ErrInjected", err)
	}
	if got, want := err.Error(), "failpoint kv/apply: injected failure: disk full"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if got, want := f.Eval(ctx, "wal/sync").Error(), "failpoint wal/sync: injected failure"; got != want {
		t.Errorf("error without a message = %q, want %q", got, want)
	}
	f.Eval(ctx, "kv/apply")
	if got, want := statusOf(t, f, "kv/apply"), (FailpointStatus{
		Name: "kv/apply", Description: "test point kv/apply", Spec: "error(disk full)", Fired: 2,
	}); got != want {
		t.Errorf("status = %+v, want %+v", got, want)
	}
}

func TestDisarmStopsThePointAndKeepsItsCount(t *testing.T) {
	f, _ := newTestFailpoints(SystemClock(), "kv/apply")
	ctx := context.Background()
	mustArm(t, f, "kv/apply", "error(x)")
	f.Eval(ctx, "kv/apply")
	if err := f.Disarm("kv/apply"); err != nil {
		t.Fatalf("Disarm: %v", err)
	}
	if err := f.Eval(ctx, "kv/apply"); err != nil {
		t.Errorf("Eval after Disarm = %v, want nil", err)
	}
	if s := statusOf(t, f, "kv/apply"); s.Spec != "off" || s.Fired != 1 {
		t.Errorf("status after Disarm = %+v, want spec off, fired 1", s)
	}
	if err := f.Disarm("kv/apply"); err != nil {
		t.Errorf("second Disarm = %v, want nil", err)
	}

	// Arming again restarts the count; arming "off" disarms.
	mustArm(t, f, "kv/apply", "error(y)")
	if s := statusOf(t, f, "kv/apply"); s.Spec != "error(y)" || s.Fired != 0 {
		t.Errorf("status after re-arming = %+v, want spec error(y), fired 0", s)
	}
	mustArm(t, f, "kv/apply", "off")
	if err := f.Eval(ctx, "kv/apply"); err != nil {
		t.Errorf("Eval after Arm(off) = %v, want nil", err)
	}
}

func TestEvalSleepsOnTheClock(t *testing.T) {
	clock := NewManualClock(epoch)
	f, _ := newTestFailpoints(clock, "raft/send")
	mustArm(t, f, "raft/send", "sleep(100ms)")

	done := make(chan error, 1)
	go func() { done <- f.Eval(context.Background(), "raft/send") }()
	waitUntil(t, func() bool { return clock.Pending() == 1 }, "sleeping Eval armed its timer")
	clock.Advance(99 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Eval returned %v after 99ms of a 100ms sleep", err)
	default:
	}
	clock.Advance(time.Millisecond)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Eval after the sleep = %v, want nil", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("Eval still sleeping after the clock advanced 100ms")
	}
}

func TestEvalSleepEndsWithTheContext(t *testing.T) {
	clock := NewManualClock(epoch)
	f, _ := newTestFailpoints(clock, "raft/send")
	mustArm(t, f, "raft/send", "sleep(1h)")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Eval(ctx, "raft/send") }()
	waitUntil(t, func() bool { return clock.Pending() == 1 }, "sleeping Eval armed its timer")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "raft/send") {
			t.Errorf("Eval cut short = %v, want context.Canceled naming the point", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("Eval still sleeping after its context was cancelled")
	}
	if n := clock.Pending(); n != 0 {
		t.Errorf("Pending = %d after the sleep was cut short, want its timer stopped", n)
	}
}

func TestEvalCrashCallsTheCrashFunction(t *testing.T) {
	f, crashes := newTestFailpoints(SystemClock(), "wal/sync")
	mustArm(t, f, "wal/sync", "crash")
	err := f.Eval(context.Background(), "wal/sync")
	if n := crashes.Load(); n != 1 {
		t.Errorf("crash function called %d times, want 1", n)
	}
	if !errors.Is(err, ErrInjected) {
		t.Errorf("Eval after a crash function that returned = %v, want ErrInjected", err)
	}
}

func TestCountLimitsHowOftenAPointActs(t *testing.T) {
	f, crashes := newTestFailpoints(SystemClock(), "wal/sync")
	mustArm(t, f, "wal/sync", "2*crash")
	for range 5 {
		f.Eval(context.Background(), "wal/sync")
	}
	if n := crashes.Load(); n != 2 {
		t.Errorf("2*crash crashed %d times in 5 Evals, want 2", n)
	}
	if s := statusOf(t, f, "wal/sync"); s.Spec != "2*crash" || s.Fired != 2 {
		t.Errorf("status = %+v, want spec 2*crash (still armed), fired 2", s)
	}
}

// fires evaluates name n times and returns which evaluations acted.
func fires(f *Failpoints, name string, n int) []bool {
	acted := make([]bool, n)
	for i := range acted {
		acted[i] = f.Eval(context.Background(), name) != nil
	}
	return acted
}

func TestProbabilityActsOnAShareOfEvals(t *testing.T) {
	const evals = 4000
	f, _ := newTestFailpoints(SystemClock(), "kv/apply")
	mustArm(t, f, "kv/apply", "25%error(x)")
	acted := fires(f, "kv/apply", evals)
	n := 0
	for _, a := range acted {
		if a {
			n++
		}
	}
	// The seed is fixed, so this cannot flake; the bounds (±5 standard
	// deviations) say the rate is about right for any reasonable seed.
	if n < evals/4-140 || n > evals/4+140 {
		t.Errorf("25%% point acted %d times in %d Evals, want about %d", n, evals, evals/4)
	}
	if s := statusOf(t, f, "kv/apply"); s.Fired != uint64(n) {
		t.Errorf("Fired = %d, want %d", s.Fired, n)
	}

	// The same seed replays the same choices.
	g, _ := newTestFailpoints(SystemClock(), "kv/apply")
	mustArm(t, g, "kv/apply", "25%error(x)")
	replayed := fires(g, "kv/apply", evals)
	for i := range acted {
		if acted[i] != replayed[i] {
			t.Fatalf("Eval %d acted %v, but %v with the same seed", i, acted[i], replayed[i])
		}
	}

	// Probability and count combine: the count caps the acts.
	mustArm(t, f, "kv/apply", "50%3*error(x)")
	fires(f, "kv/apply", 100)
	if s := statusOf(t, f, "kv/apply"); s.Fired != 3 {
		t.Errorf("50%%3* point acted %d times in 100 Evals, want 3", s.Fired)
	}
}

func TestConcurrentEvalArmAndList(t *testing.T) {
	const workers, evals = 8, 500
	f, _ := newTestFailpoints(SystemClock(), "kv/apply", "raft/send")
	mustArm(t, f, "kv/apply", "5*error(x)")

	var injected atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range evals {
				if errors.Is(f.Eval(context.Background(), "kv/apply"), ErrInjected) {
					injected.Add(1)
				}
				f.Eval(context.Background(), "raft/send")
			}
		})
	}
	// Meanwhile another point is armed, disarmed and listed over and over.
	wg.Go(func() {
		for i := range evals {
			var err error
			if i%2 == 0 {
				err = f.Arm("raft/send", "50%error(y)")
			} else {
				err = f.Disarm("raft/send")
			}
			if err != nil {
				t.Errorf("arming or disarming raft/send: %v", err)
			}
			f.List()
		}
	})
	wg.Wait()
	if n := injected.Load(); n != 5 {
		t.Errorf("5*error point acted %d times across %d workers, want exactly 5", n, workers)
	}
}

// BenchmarkEval measures the cost of marking a point in hot code, with
// nothing armed and with another point armed.
func BenchmarkEval(b *testing.B) {
	f, _ := newTestFailpoints(SystemClock(), "kv/apply", "wal/sync")
	ctx := context.Background()
	b.Run("nothing armed", func(b *testing.B) {
		for b.Loop() {
			f.Eval(ctx, "kv/apply")
		}
	})
	if err := f.Arm("wal/sync", "crash"); err != nil {
		b.Fatal(err)
	}
	b.Run("another armed", func(b *testing.B) {
		for b.Loop() {
			f.Eval(ctx, "kv/apply")
		}
	})
}
