package fault

import (
	"testing"
	"time"
)

// pending returns what c holds without waiting: ManualClock sends
// synchronously, so anything due has been sent by the time Advance returns.
func pending(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func expectFired(t *testing.T, c <-chan time.Time, want time.Time, what string) {
	t.Helper()
	got, ok := pending(c)
	if !ok {
		t.Fatalf("%s: did not fire, want a value of %v", what, want)
	}
	if !got.Equal(want) {
		t.Fatalf("%s: fired %v, want %v", what, got, want)
	}
}

func expectNotFired(t *testing.T, c <-chan time.Time, what string) {
	t.Helper()
	if v, ok := pending(c); ok {
		t.Fatalf("%s: fired %v, want nothing", what, v)
	}
}

func TestManualClockFiresTimersInDeadlineOrder(t *testing.T) {
	c := NewManualClock(epoch)
	var timers []Timer
	for _, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		timers = append(timers, c.NewTimer(d))
	}
	c.Advance(time.Second)
	expectFired(t, timers[1].C(), epoch.Add(time.Second), "1s timer")
	expectNotFired(t, timers[2].C(), "2s timer after 1s")
	expectNotFired(t, timers[0].C(), "3s timer after 1s")

	// One Advance past both remaining deadlines fires each with the
	// reading at its own deadline.
	c.Advance(5 * time.Second)
	expectFired(t, timers[2].C(), epoch.Add(2*time.Second), "2s timer")
	expectFired(t, timers[0].C(), epoch.Add(3*time.Second), "3s timer")
	if got, want := c.Now(), epoch.Add(6*time.Second); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	if n := c.Pending(); n != 0 {
		t.Errorf("Pending = %d after every timer fired, want 0", n)
	}
}

func TestManualClockTickerDropsTicksLikeTimeTicker(t *testing.T) {
	c := NewManualClock(epoch)
	tk := c.NewTicker(time.Second)
	c.Advance(time.Second)
	expectFired(t, tk.C(), epoch.Add(time.Second), "first tick")

	// Three periods pass with nobody receiving: the first tick waits in
	// the channel and the other two are dropped.
	c.Advance(3 * time.Second)
	expectFired(t, tk.C(), epoch.Add(2*time.Second), "tick kept for a slow receiver")
	expectNotFired(t, tk.C(), "dropped ticks")

	c.Advance(time.Second)
	expectFired(t, tk.C(), epoch.Add(5*time.Second), "tick after catching up")

	tk.Stop()
	c.Advance(10 * time.Second)
	expectNotFired(t, tk.C(), "stopped ticker")
	if n := c.Pending(); n != 0 {
		t.Errorf("Pending = %d after Stop, want 0", n)
	}
}

func TestManualClockSetJumpsWithoutFiring(t *testing.T) {
	c := NewManualClock(epoch)
	tm := c.NewTimer(10 * time.Second)
	jumped := epoch.Add(time.Hour)
	c.Set(jumped)
	expectNotFired(t, tm.C(), "10s timer after a 1h jump")
	if got := c.Now(); !got.Equal(jumped) {
		t.Errorf("Now after Set = %v, want %v", got, jumped)
	}

	c.Set(epoch.Add(-time.Hour))
	c.Advance(10 * time.Second)
	expectFired(t, tm.C(), epoch.Add(-time.Hour+10*time.Second), "10s timer after a jump back")
}

func TestManualTimerStopAndReset(t *testing.T) {
	c := NewManualClock(epoch)
	tm := c.NewTimer(time.Second)
	if !tm.Stop() {
		t.Error("Stop of a pending timer = false, want true")
	}
	c.Advance(time.Minute)
	expectNotFired(t, tm.C(), "stopped timer")
	if tm.Stop() {
		t.Error("second Stop = true, want false")
	}

	if tm.Reset(time.Second) {
		t.Error("Reset of a stopped timer = true, want false")
	}
	c.Advance(time.Second)
	// The fired value is left unreceived; Reset must discard it.
	if tm.Reset(2 * time.Second) {
		t.Error("Reset of a fired timer = true, want false")
	}
	expectNotFired(t, tm.C(), "timer reset after firing")
	if !tm.Reset(3 * time.Second) {
		t.Error("Reset of a pending timer = false, want true")
	}
	c.Advance(2 * time.Second)
	expectNotFired(t, tm.C(), "timer 2s into a 3s reset")
	c.Advance(time.Second)
	expectFired(t, tm.C(), epoch.Add(time.Minute+4*time.Second), "reset timer")
}

func TestManualTimerOfZeroFiresAtOnce(t *testing.T) {
	c := NewManualClock(epoch)
	expectFired(t, c.NewTimer(0).C(), epoch, "0s timer")
	expectFired(t, c.NewTimer(-time.Second).C(), epoch, "negative timer")
}

func TestManualClockSleepWaitsForAdvance(t *testing.T) {
	c := NewManualClock(epoch)
	woke := make(chan struct{})
	go func() {
		c.Sleep(5 * time.Second)
		close(woke)
	}()
	waitUntil(t, func() bool { return c.Pending() == 1 }, "sleeper armed its timer")
	c.Advance(4 * time.Second)
	select {
	case <-woke:
		t.Fatal("Sleep(5s) returned after 4s")
	default:
	}
	c.Advance(time.Second)
	select {
	case <-woke:
	case <-time.After(hangGuard):
		t.Fatalf("Sleep(5s) still sleeping after 5s were advanced")
	}
}

func TestManualClockPanicsOnNonsense(t *testing.T) {
	c := NewManualClock(epoch)
	for name, f := range map[string]func(){
		"Advance(-1s)":  func() { c.Advance(-time.Second) },
		"NewTicker(0)":  func() { c.NewTicker(0) },
		"NewTicker(-1)": func() { c.NewTicker(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
