package fault

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Settings are the faults a SkewedClock is running with. The zero strobe
// (StrobeDelta 0) means no strobe.
type Settings struct {
	// Offset is added to every reading.
	Offset time.Duration
	// Rate is how fast the clock runs against real time: at 2 a second
	// of real time advances the reading by two.
	Rate float64
	// StrobeDelta and StrobePeriod describe a strobe: the reading jumps by
	// StrobeDelta, and every StrobePeriod of real time after that it jumps
	// back or forth again, like Jepsen's clock strobe nemesis.
	StrobeDelta  time.Duration
	StrobePeriod time.Duration
}

// SkewedClock is a Clock on the host's clock whose faults can be changed
// while it runs. It starts true (offset 0, rate 1, no strobe); its reading
// is
//
//	anchor + (real time elapsed since anchor) × rate + offset + strobe
//
// where the anchor is the moment of the last rate change, so that a change
// of rate bends the reading without making it jump. Offset and strobe are
// jumps by design.
//
// Timers, tickers and Sleep measure durations in skewed time, at the rate
// read when they are armed: a timer of d at rate 2 fires after d/2 of real
// time, and a ticker of period d re-reads the rate at every tick, so a rate
// change reaches a ticker at its next tick and a pending timer not at all.
// Durations exclude offset and strobe: jumping the reading does not make a
// timer fire early or late, just as stepping the wall clock does not affect
// time.Timer.
//
// Readings carry no monotonic clock reading (see package time), so the
// difference of two readings is a difference of skewed time.
//
// A SkewedClock is safe for concurrent use; its timers and tickers hold no
// goroutine once stopped or fired.
type SkewedClock struct {
	// realNow reads the host's clock: time.Now, or a fake in tests of the
	// reading arithmetic. Timers and tickers always run on package time.
	realNow func() time.Time

	mu           sync.Mutex
	anchorReal   time.Time // real time of the last rate change
	anchorSkewed time.Time // reading, less offset and strobe, at anchorReal
	rate         float64
	offset       time.Duration
	strobe       strobe
}

var _ Clock = (*SkewedClock)(nil)

// NewClock returns a SkewedClock that reads true until told otherwise.
func NewClock() *SkewedClock { return newSkewedClock(time.Now) }

func newSkewedClock(realNow func() time.Time) *SkewedClock {
	c := &SkewedClock{realNow: realNow}
	c.Reset()
	return c
}

// Reset makes the clock true again: the reading returns to real time, the
// rate to 1, and offset and strobe are cleared.
func (c *SkewedClock) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.realNow()
	c.anchorReal = now
	c.anchorSkewed = now.Round(0) // strip the monotonic reading
	c.rate = 1
	c.offset = 0
	c.strobe = strobe{}
}

// SetOffset sets the amount added to every reading, replacing the previous
// offset; the reading jumps by the difference.
func (c *SkewedClock) SetOffset(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = d
}

// SetRate sets how fast the clock runs against real time. The reading does
// not jump: it continues from its current value at the new rate.
func (c *SkewedClock) SetRate(r float64) error {
	if !(r > 0) || math.IsInf(r, 1) {
		return fmt.Errorf("fault: clock rate %v: must be positive and finite", r)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.realNow()
	c.anchorSkewed = c.unjumpedLocked(now)
	c.anchorReal = now
	c.rate = r
	return nil
}

// SetStrobe starts a strobe: the reading jumps by delta now, back after
// period of real time, by delta again after another period, and so on.
// A zero delta stops the strobe.
func (c *SkewedClock) SetStrobe(delta, period time.Duration) error {
	if period < 0 || (delta != 0 && period == 0) {
		return fmt.Errorf("fault: clock strobe period %v (delta %v): must be positive", period, delta)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if delta == 0 {
		c.strobe = strobe{}
		return nil
	}
	c.strobe = strobe{delta: delta, period: period, start: c.realNow()}
	return nil
}

// Skew returns the clock's current settings.
func (c *SkewedClock) Skew() Settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settingsLocked()
}

func (c *SkewedClock) settingsLocked() Settings {
	return Settings{
		Offset:       c.offset,
		Rate:         c.rate,
		StrobeDelta:  c.strobe.delta,
		StrobePeriod: c.strobe.period,
	}
}

// Now returns the skewed reading.
func (c *SkewedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readingLocked(c.realNow())
}

// State returns, at one instant, the skewed reading, the host's reading it
// was made from, and the settings that made it, so that a concurrent
// change of settings cannot make the three disagree.
func (c *SkewedClock) State() (skewed, host time.Time, s Settings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	host = c.realNow()
	return c.readingLocked(host), host, c.settingsLocked()
}

// readingLocked is the skewed reading at the host's reading now.
func (c *SkewedClock) readingLocked(now time.Time) time.Time {
	return c.unjumpedLocked(now).Add(c.offset + c.strobe.shift(now))
}

// Since returns the skewed time elapsed since t.
func (c *SkewedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Sleep blocks until d of skewed time has elapsed at the current rate.
func (c *SkewedClock) Sleep(d time.Duration) { time.Sleep(c.realDuration(d)) }

// NewTimer returns a timer that fires once d of skewed time has elapsed at
// the current rate.
func (c *SkewedClock) NewTimer(d time.Duration) Timer {
	t := &skewedTimer{clock: c, c: make(chan time.Time, 1)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armLocked(d)
	return t
}

// NewTicker returns a ticker that fires every period d of skewed time,
// reading the rate afresh for each period.
func (c *SkewedClock) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("fault: non-positive interval for NewTicker")
	}
	t := &skewedTicker{clock: c, period: d, c: make(chan time.Time, 1)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next = time.Now()
	t.scheduleLocked()
	return t
}

// unjumpedLocked is the reading at real time now without offset and
// strobe: the part that only ever moves continuously.
func (c *SkewedClock) unjumpedLocked(now time.Time) time.Time {
	return c.anchorSkewed.Add(scale(now.Sub(c.anchorReal), c.rate))
}

// realDuration is the real time that d of skewed time takes at the current
// rate.
func (c *SkewedClock) realDuration(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return scale(d, 1/c.rate)
}

// scale returns d×f, saturating rather than overflowing.
func scale(d time.Duration, f float64) time.Duration {
	x := float64(d) * f
	switch {
	case x >= math.MaxInt64:
		return math.MaxInt64
	case x <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(x)
}

type strobe struct {
	delta, period time.Duration
	start         time.Time // real time the strobe began
}

// shift is the strobe's contribution to the reading at real time now:
// delta during the first period and every second one after it, else zero.
func (s strobe) shift(now time.Time) time.Duration {
	if s.delta == 0 || (now.Sub(s.start)/s.period)%2 != 0 {
		return 0
	}
	return s.delta
}

type skewedTimer struct {
	clock *SkewedClock
	c     chan time.Time

	mu     sync.Mutex
	real   *time.Timer // runs fire once the skewed duration has passed
	armed  uint64      // counts armings, so a callback of an earlier one can tell it is stale
	active bool
}

func (t *skewedTimer) C() <-chan time.Time { return t.c }

func (t *skewedTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.disarmLocked()
}

func (t *skewedTimer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	wasActive := t.disarmLocked()
	t.armLocked(d)
	return wasActive
}

func (t *skewedTimer) armLocked(d time.Duration) {
	t.armed++
	arming := t.armed
	t.active = true
	t.real = time.AfterFunc(t.clock.realDuration(d), func() { t.fire(arming) })
}

// disarmLocked stops the timer and empties its channel, so that nothing
// from before a Stop or Reset can be received after it.
func (t *skewedTimer) disarmLocked() bool {
	wasActive := t.active
	t.active = false
	t.real.Stop()
	drain(t.c)
	return wasActive
}

func (t *skewedTimer) fire(arming uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active || arming != t.armed {
		return // stopped or reset after this callback was scheduled
	}
	t.active = false
	select {
	case t.c <- t.clock.Now():
	default: // unreachable: each arming drains the channel and fires once
	}
}

type skewedTicker struct {
	clock  *SkewedClock
	period time.Duration // in skewed time
	c      chan time.Time

	mu      sync.Mutex
	real    *time.Timer // runs tick when the next tick is due
	next    time.Time   // real time the next tick is due
	stopped bool
}

func (t *skewedTicker) C() <-chan time.Time { return t.c }

func (t *skewedTicker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.real.Stop()
	drain(t.c)
}

func (t *skewedTicker) tick() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return // Stop ran after this callback was scheduled
	}
	select {
	case t.c <- t.clock.Now():
	default: // the receiver has not taken the last tick: drop this one
	}
	t.scheduleLocked()
}

// scheduleLocked arms the real timer for the tick one period, at the current
// rate, after the one due at t.next. Periods are counted from when ticks
// were due rather than when they ran, so callback latency does not
// accumulate.
func (t *skewedTicker) scheduleLocked() {
	now := time.Now()
	t.next = t.next.Add(t.clock.realDuration(t.period))
	if t.next.Before(now) {
		// Ticks were missed (the process was paused, or the rate rose a
		// lot): resume from now instead of firing them in a burst.
		t.next = now
	}
	t.real = time.AfterFunc(t.next.Sub(now), t.tick)
}

// drain empties a channel of capacity one without blocking.
func drain(c chan time.Time) {
	select {
	case <-c:
	default:
	}
}
