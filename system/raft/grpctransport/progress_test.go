package grpctransport

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/squall-chaos/squall/system/fault"
)

// The watchdog looks on the clock it is given, not the host's: a node's
// clock faults reach it. On a clock that moves only when told, a send
// that makes progress survives a timeout, and one that then makes none is
// cut off at the next.
func TestWatchdogRunsOnTheGivenClock(t *testing.T) {
	clock := fault.NewManualClock(time.Unix(0, 0))
	written := new(atomic.Uint64)
	cancelled, ended := make(chan struct{}), make(chan struct{})
	defer close(ended)
	w := newWatchdog(clock, time.Second, written, func() { close(cancelled) }, ended)

	w.arm()
	written.Add(100) // the peer takes bytes
	clock.Advance(time.Second)
	waitPending(t, clock) // the watchdog looked, saw progress and looks again
	select {
	case <-cancelled:
		t.Fatal("the watchdog cancelled a send that made progress")
	default:
	}
	clock.Advance(time.Second) // nothing taken since
	select {
	case <-cancelled:
	case <-time.After(hangGuard):
		t.Fatal("the watchdog did not cancel a send that made no progress for a timeout of its clock")
	}
	if !w.disarm() {
		t.Error("disarm after the watchdog cancelled reports false")
	}
}

// waitPending waits until a timer is pending on clock again.
func waitPending(t *testing.T, clock *fault.ManualClock) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for clock.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watchdog did not re-arm its timer")
		}
		time.Sleep(time.Millisecond)
	}
}
