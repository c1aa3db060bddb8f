package fault

import (
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeReal stands in for the host's clock in tests of a SkewedClock's
// reading arithmetic.
type fakeReal struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeReal) read() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeReal) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newFakeSkewedClock() (*SkewedClock, *fakeReal) {
	host := &fakeReal{now: epoch}
	return newSkewedClock(host.read), host
}

func TestSkewedClockStartsTrue(t *testing.T) {
	c, host := newFakeSkewedClock()
	host.advance(5 * time.Second)
	if got, want := c.Now(), epoch.Add(5*time.Second); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	if got, want := c.Skew(), (Settings{Rate: 1}); got != want {
		t.Errorf("Skew = %+v, want %+v", got, want)
	}
}

func TestSkewedClockRateScalesElapsedTime(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		want time.Duration
	}{
		{rate: 2, want: 2 * time.Second},
		{rate: 0.5, want: 500 * time.Millisecond},
		{rate: 10, want: 10 * time.Second},
	} {
		c, host := newFakeSkewedClock()
		if err := c.SetRate(tt.rate); err != nil {
			t.Fatalf("SetRate(%v): %v", tt.rate, err)
		}
		start := c.Now()
		host.advance(time.Second)
		if got := c.Since(start); got != tt.want {
			t.Errorf("rate %v: Since after 1s of real time = %v, want %v", tt.rate, got, tt.want)
		}
	}
}

func TestSkewedClockSetRateDoesNotJump(t *testing.T) {
	c, host := newFakeSkewedClock()
	host.advance(10 * time.Second)
	for _, rate := range []float64{3, 0.25, 1, 100} {
		before := c.Now()
		if err := c.SetRate(rate); err != nil {
			t.Fatalf("SetRate(%v): %v", rate, err)
		}
		if after := c.Now(); !after.Equal(before) {
			t.Fatalf("SetRate(%v) moved the reading from %v to %v", rate, before, after)
		}
		host.advance(time.Second)
		want := before.Add(scale(time.Second, rate))
		if got := c.Now(); !got.Equal(want) {
			t.Fatalf("1s after SetRate(%v): Now = %v, want %v", rate, got, want)
		}
	}
}

func TestSkewedClockOffsetReplacesAndJumps(t *testing.T) {
	c, host := newFakeSkewedClock()
	c.SetOffset(time.Hour)
	if got, want := c.Now(), epoch.Add(time.Hour); !got.Equal(want) {
		t.Errorf("after SetOffset(1h): Now = %v, want %v", got, want)
	}
	c.SetOffset(-5 * time.Minute)
	if got, want := c.Now(), epoch.Add(-5*time.Minute); !got.Equal(want) {
		t.Errorf("after SetOffset(-5m): Now = %v, want %v (offsets replace, not add)", got, want)
	}
	start := c.Now()
	host.advance(time.Second)
	if got := c.Since(start); got != time.Second {
		t.Errorf("Since with an offset = %v, want 1s", got)
	}
}

func TestSkewedClockStrobeAlternates(t *testing.T) {
	c, host := newFakeSkewedClock()
	if err := c.SetStrobe(time.Minute, 100*time.Millisecond); err != nil {
		t.Fatalf("SetStrobe: %v", err)
	}
	if got, want := c.Skew(), (Settings{Rate: 1, StrobeDelta: time.Minute, StrobePeriod: 100 * time.Millisecond}); got != want {
		t.Errorf("Skew = %+v, want %+v", got, want)
	}
	// Sample the middle of each period: the reading is a minute ahead in
	// even periods and true in odd ones.
	host.advance(50 * time.Millisecond)
	for period := 0; period < 6; period++ {
		shift := time.Duration(0)
		if period%2 == 0 {
			shift = time.Minute
		}
		if got, want := c.Now(), host.read().Add(shift); !got.Equal(want) {
			t.Errorf("period %d: Now = %v, want %v", period, got, want)
		}
		host.advance(100 * time.Millisecond)
	}

	if err := c.SetStrobe(0, 0); err != nil {
		t.Fatalf("SetStrobe(0, 0): %v", err)
	}
	for i := 0; i < 3; i++ {
		if got, want := c.Now(), host.read(); !got.Equal(want) {
			t.Errorf("strobe off: Now = %v, want %v", got, want)
		}
		host.advance(100 * time.Millisecond)
	}
}

func TestSkewedClockRejectsBadSettings(t *testing.T) {
	c, _ := newFakeSkewedClock()
	c.SetOffset(time.Second)
	before := c.Skew()
	for _, r := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		if err := c.SetRate(r); err == nil {
			t.Errorf("SetRate(%v) succeeded, want an error", r)
		}
	}
	for _, s := range []struct{ delta, period time.Duration }{
		{time.Second, 0},
		{time.Second, -time.Millisecond},
		{0, -time.Millisecond},
	} {
		if err := c.SetStrobe(s.delta, s.period); err == nil {
			t.Errorf("SetStrobe(%v, %v) succeeded, want an error", s.delta, s.period)
		}
	}
	if got := c.Skew(); got != before {
		t.Errorf("rejected settings changed the clock: Skew = %+v, want %+v", got, before)
	}
}

func TestSkewedClockResetMakesItTrue(t *testing.T) {
	c, host := newFakeSkewedClock()
	c.SetOffset(time.Hour)
	if err := c.SetRate(7); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStrobe(time.Second, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	host.advance(time.Minute)
	c.Reset()
	if got, want := c.Now(), host.read(); !got.Equal(want) {
		t.Errorf("after Reset: Now = %v, want %v", got, want)
	}
	if got, want := c.Skew(), (Settings{Rate: 1}); got != want {
		t.Errorf("after Reset: Skew = %+v, want %+v", got, want)
	}
}

// The tests below run on real time. They bound durations from below only
// (a timer never fires early), or wait for events that a wrong
// implementation would delay by hours.

func TestSkewedTimerRunsAtTheClockRate(t *testing.T) {
	c := NewClock()
	if err := c.SetRate(0.5); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	receive(t, c.NewTimer(20*time.Millisecond).C(), "20ms timer at rate 0.5")
	if elapsed := time.Since(start); elapsed < 40*time.Millisecond {
		t.Errorf("20ms timer at rate 0.5 fired after %v of real time, want at least 40ms", elapsed)
	}

	if err := c.SetRate(3.6e6); err != nil { // an hour takes a millisecond
		t.Fatal(err)
	}
	receive(t, c.NewTimer(time.Hour).C(), "1h timer at rate 3.6e6")
	slept := make(chan struct{})
	go func() {
		c.Sleep(time.Hour)
		close(slept)
	}()
	select {
	case <-slept:
	case <-time.After(hangGuard):
		t.Fatalf("Sleep(1h) at rate 3.6e6 still sleeping after %v", hangGuard)
	}
}

func TestSkewedTimerIgnoresOffset(t *testing.T) {
	c := NewClock()
	late := c.NewTimer(time.Hour)
	c.SetOffset(2 * time.Hour)
	expectNothing(t, late.C(), 50*time.Millisecond, "1h timer after a 2h jump forward")
	late.Stop()

	soon := c.NewTimer(10 * time.Millisecond)
	c.SetOffset(-time.Hour)
	v := receive(t, soon.C(), "10ms timer after a 3h jump back")
	if lo := time.Now().Add(-time.Hour - time.Minute); v.Before(lo) {
		t.Errorf("timer delivered %v, want the offset reading (after %v)", v, lo)
	}
}

func TestSkewedTimerStopAndReset(t *testing.T) {
	c := NewClock()
	tm := c.NewTimer(5 * time.Millisecond)
	if !tm.Stop() {
		t.Error("Stop of a pending timer = false, want true")
	}
	expectNothing(t, tm.C(), 50*time.Millisecond, "stopped timer")
	if tm.Stop() {
		t.Error("second Stop = true, want false")
	}

	if tm.Reset(time.Millisecond) {
		t.Error("Reset of a stopped timer = true, want false")
	}
	receive(t, tm.C(), "reset timer")

	// A fired value that was never received must not survive Reset.
	tm.Reset(time.Millisecond)
	waitUntil(t, func() bool { return len(tm.C()) == 1 }, "timer fired")
	if tm.Reset(time.Hour) {
		t.Error("Reset of a fired timer = true, want false")
	}
	expectNothing(t, tm.C(), 20*time.Millisecond, "timer reset after firing")
	tm.Stop()
}

func TestSkewedTickerOffsetLeavesPeriodAlone(t *testing.T) {
	const period = 20 * time.Millisecond
	c := NewClock()
	start := time.Now()
	tk := c.NewTicker(period)
	defer tk.Stop()

	c.SetOffset(time.Hour)
	for i := 1; i <= 5; i++ {
		v := receive(t, tk.C(), "tick after a 1h jump forward")
		if lo := time.Now().Add(59 * time.Minute); v.Before(lo) {
			t.Fatalf("tick delivered %v, want the offset reading (after %v)", v, lo)
		}
	}
	if elapsed := time.Since(start); elapsed < 5*period {
		t.Errorf("5 ticks of %v came after %v of real time, want at least %v", period, elapsed, 5*period)
	}

	c.SetOffset(-time.Hour)
	for i := 0; i < 3; i++ {
		receive(t, tk.C(), "tick after a 2h jump back")
	}
}

func TestSkewedTickerTakesRateChangeAtNextTick(t *testing.T) {
	c := NewClock()
	if err := c.SetRate(3.6e6); err != nil { // an hour takes a millisecond
		t.Fatal(err)
	}
	tk := c.NewTicker(time.Hour)
	defer tk.Stop()
	for i := 0; i < 3; i++ {
		receive(t, tk.C(), "hourly tick at rate 3.6e6")
	}

	if err := c.SetRate(1); err != nil {
		t.Fatal(err)
	}
	// At most the tick already buffered and the one already scheduled at
	// the old rate can arrive; the next is an hour away.
	ticks := 0
	for wait := time.After(200 * time.Millisecond); ; {
		select {
		case <-tk.C():
			ticks++
			continue
		case <-wait:
		}
		break
	}
	if ticks > 2 {
		t.Errorf("%d ticks after slowing an hourly ticker to rate 1, want at most 2", ticks)
	}
}

func TestSkewedTickerStop(t *testing.T) {
	c := NewClock()
	tk := c.NewTicker(time.Millisecond)
	receive(t, tk.C(), "tick")
	waitUntil(t, func() bool { return len(tk.C()) == 1 }, "tick buffered")
	tk.Stop()
	expectNothing(t, tk.C(), 50*time.Millisecond, "stopped ticker")
	tk.Stop() // a second Stop is harmless
}

func TestSkewedClockLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	c := NewClock()
	if err := c.SetRate(1000); err != nil {
		t.Fatal(err)
	}
	var tickers []Ticker
	var timers []Timer
	for i := 0; i < 50; i++ {
		tickers = append(tickers, c.NewTicker(time.Millisecond))
		timers = append(timers, c.NewTimer(time.Duration(i)*time.Millisecond))
	}
	for _, tk := range tickers {
		<-tk.C()
		tk.Stop()
	}
	for _, tm := range timers {
		tm.Stop()
	}
	waitUntil(t, func() bool { return runtime.NumGoroutine() <= before }, "goroutines back to the starting count")
}

// While only the rate changes, every goroutine must see the reading move
// forward: SetRate bends the clock but never steps it.
func TestSkewedClockConcurrentRateChangesKeepReadingMonotonic(t *testing.T) {
	c := NewClock()
	tk := c.NewTicker(time.Millisecond)
	defer tk.Stop()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := c.Now()
			for {
				select {
				case <-stop:
					return
				case <-tk.C():
				default:
				}
				now := c.Now()
				if now.Before(last) {
					t.Errorf("reading went back from %v to %v", last, now)
					return
				}
				last = now
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		if err := c.SetRate([]float64{0.1, 1, 10, 1000}[i%4]); err != nil {
			t.Fatal(err)
		}
		_ = c.Skew()
	}
	close(stop)
	wg.Wait()
}

// TestSkewedClockStateIsOneInstant: State's reading is the one its host
// reading and settings make.
func TestSkewedClockStateIsOneInstant(t *testing.T) {
	c, host := newFakeSkewedClock()
	c.SetOffset(3 * time.Second)
	host.advance(time.Minute)
	skewed, real, s := c.State()
	if !real.Equal(epoch.Add(time.Minute)) {
		t.Errorf("host reading %v, want %v", real, epoch.Add(time.Minute))
	}
	if s != (Settings{Offset: 3 * time.Second, Rate: 1}) {
		t.Errorf("settings %+v, want offset 3s at rate 1", s)
	}
	if got := skewed.Sub(real); got != s.Offset {
		t.Errorf("reading %v is %v from the host's, want the offset %v", skewed, got, s.Offset)
	}
}
