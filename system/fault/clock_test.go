package fault

import (
	"testing"
	"time"
)

// hangGuard bounds waits for events that should come promptly. It only
// catches hangs; no test depends on the machine being fast.
const hangGuard = 30 * time.Second

// receive returns the next value from c, failing the test if none comes
// before the hang guard.
func receive(t *testing.T, c <-chan time.Time, what string) time.Time {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("%s: nothing received after %v", what, hangGuard)
		return time.Time{}
	}
}

// expectNothing fails the test if c delivers a value within wait.
func expectNothing(t *testing.T, c <-chan time.Time, wait time.Duration, what string) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("%s: received %v, want nothing", what, v)
	case <-time.After(wait):
	}
}

// waitUntil polls cond until it holds, failing the test at the hang guard.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v", what, hangGuard)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSystemClockTimerTickerAndStop(t *testing.T) {
	c := SystemClock()
	start := c.Now()
	receive(t, c.NewTimer(time.Millisecond).C(), "timer")
	if got := c.Since(start); got < time.Millisecond {
		t.Errorf("Since after a 1ms timer = %v, want at least 1ms", got)
	}

	tk := c.NewTicker(time.Millisecond)
	receive(t, tk.C(), "first tick")
	receive(t, tk.C(), "second tick")
	tk.Stop()
	expectNothing(t, tk.C(), 20*time.Millisecond, "ticker after Stop")

	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Error("Stop of a pending timer = false, want true")
	}
	if tm.Stop() {
		t.Error("second Stop = true, want false")
	}
}
