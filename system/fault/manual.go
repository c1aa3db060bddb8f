package fault

import (
	"sync"
	"time"
)

// ManualClock is a Clock that moves only when told to, for deterministic
// tests. Advance moves time forward and fires, in deadline order, the timers
// and tickers that come due; Set jumps the reading without firing anything,
// the counterpart of a SkewedClock offset. Fired values are sent on each
// channel's one-slot buffer and dropped if the slot is full, as
// time.Ticker drops ticks.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
	// elapsed is the total of all Advances. Deadlines are measured on it,
	// not on the reading, so that Set does not make timers fire early or
	// late.
	elapsed time.Duration
	// waiters are the pending timers and tickers in the order they were
	// armed, which breaks ties between equal deadlines.
	waiters []*manualWaiter
}

var _ Clock = (*ManualClock)(nil)

// NewManualClock returns a ManualClock that reads start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the current reading.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since returns Now().Sub(t).
func (c *ManualClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Set makes the reading t. Pending timers and tickers keep their remaining
// durations.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d, firing every timer and ticker that
// comes due on the way, in deadline order, each with the reading at its
// deadline. A ticker fires once per period passed (though its receiver
// only sees the ticks it had room for). Advance panics if d < 0; use Set to
// move the reading backwards.
func (c *ManualClock) Advance(d time.Duration) {
	if d < 0 {
		panic("fault: ManualClock.Advance with negative duration")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.elapsed + d
	for {
		w := c.earliestLocked()
		if w == nil || w.deadline > target {
			break
		}
		c.moveLocked(w.deadline)
		c.fireLocked(w)
	}
	c.moveLocked(target)
}

// Pending returns the number of timers and tickers waiting to fire, so that
// a test can wait for a goroutine to arm its timer (or Sleep) before it
// advances the clock.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// Sleep blocks until the clock has been advanced by d.
func (c *ManualClock) Sleep(d time.Duration) {
	<-c.NewTimer(d).C()
}

// NewTimer returns a timer that fires once the clock has been advanced by d.
// If d <= 0 it has fired already.
func (c *ManualClock) NewTimer(d time.Duration) Timer {
	t := &manualTimer{w: &manualWaiter{c: make(chan time.Time, 1)}, clock: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked(t.w, d)
	return t
}

// NewTicker returns a ticker that fires each time the clock has been
// advanced by another d. It panics if d <= 0.
func (c *ManualClock) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("fault: non-positive interval for NewTicker")
	}
	t := &manualTicker{w: &manualWaiter{c: make(chan time.Time, 1), period: d}, clock: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked(t.w, d)
	return t
}

// manualWaiter is a pending timer (period 0) or ticker.
type manualWaiter struct {
	c        chan time.Time
	deadline time.Duration // on ManualClock.elapsed
	period   time.Duration
}

func (c *ManualClock) moveLocked(elapsed time.Duration) {
	c.now = c.now.Add(elapsed - c.elapsed)
	c.elapsed = elapsed
}

func (c *ManualClock) armLocked(w *manualWaiter, d time.Duration) {
	if d <= 0 {
		c.fireLocked(w)
		return
	}
	w.deadline = c.elapsed + d
	c.waiters = append(c.waiters, w)
}

// fireLocked delivers the reading to w and either re-arms it (a ticker) or
// forgets it (a timer).
func (c *ManualClock) fireLocked(w *manualWaiter) {
	select {
	case w.c <- c.now:
	default:
	}
	if w.period > 0 {
		w.deadline += w.period
		return
	}
	c.removeLocked(w)
}

// removeLocked forgets w and reports whether it was pending.
func (c *ManualClock) removeLocked(w *manualWaiter) bool {
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// earliestLocked returns the waiter with the earliest deadline, the first
// armed among equals, or nil. Tests hold few timers, so a scan will do.
func (c *ManualClock) earliestLocked() *manualWaiter {
	var first *manualWaiter
	for _, w := range c.waiters {
		if first == nil || w.deadline < first.deadline {
			first = w
		}
	}
	return first
}

type manualTimer struct {
	w     *manualWaiter
	clock *ManualClock
}

func (t *manualTimer) C() <-chan time.Time { return t.w.c }

func (t *manualTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	drain(t.w.c)
	return t.clock.removeLocked(t.w)
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	drain(t.w.c)
	wasActive := t.clock.removeLocked(t.w)
	t.clock.armLocked(t.w, d)
	return wasActive
}

type manualTicker struct {
	w     *manualWaiter
	clock *ManualClock
}

func (t *manualTicker) C() <-chan time.Time { return t.w.c }

func (t *manualTicker) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	drain(t.w.c)
	t.clock.removeLocked(t.w)
}
