package fault

import "time"

// Clock is a source of time: readings, timers and tickers. Implementations
// are safe for concurrent use.
type Clock interface {
	// Now returns the current reading.
	Now() time.Time
	// Since returns the time elapsed since t by this clock's reading,
	// Now().Sub(t).
	Since(t time.Time) time.Duration
	// NewTimer returns a timer that delivers the clock's reading on its
	// channel once d has elapsed.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that delivers the clock's reading on its
	// channel every period d. It panics if d <= 0, as time.NewTicker does.
	NewTicker(d time.Duration) Ticker
	// Sleep blocks until d has elapsed.
	Sleep(d time.Duration)
}

// Timer is the Clock counterpart of time.Timer. As with time.Timer since Go
// 1.23, no stale value can be received from C after Stop or Reset returns.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer, false if it had already fired or been stopped.
	Stop() bool
	// Reset makes the timer fire once d has elapsed from now. It reports
	// whether the timer was active before the call.
	Reset(d time.Duration) bool
}

// Ticker is the Clock counterpart of time.Ticker. Like time.Ticker, it drops
// ticks a slow receiver has not taken.
type Ticker interface {
	C() <-chan time.Time
	// Stop turns the ticker off; no tick is received from C afterwards.
	Stop()
}

// SystemClock returns the host's clock, unskewed: a thin wrapper over the
// time package for callers that want no faults.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time                  { return time.Now() }
func (systemClock) Since(t time.Time) time.Duration { return time.Since(t) }
func (systemClock) Sleep(d time.Duration)           { time.Sleep(d) }

func (systemClock) NewTimer(d time.Duration) Timer {
	return systemTimer{time.NewTimer(d)}
}

func (systemClock) NewTicker(d time.Duration) Ticker {
	return systemTicker{time.NewTicker(d)}
}

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time        { return t.t.C }
func (t systemTimer) Stop() bool                 { return t.t.Stop() }
func (t systemTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }
