package grpctransport

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/squall-chaos/squall/system/fault"
)

// countingConn counts the bytes written to a peer's connection, which is
// how the send watchdog tells a slow peer from a stalled one.
type countingConn struct {
	net.Conn
	written *atomic.Uint64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(uint64(n))
	return n, err
}

// countingDialer dials TCP connections whose writes add to written.
func countingDialer(written *atomic.Uint64) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, written: written}, nil
	}
}

// watchdog cancels a stream whose send makes no progress: while armed, it
// looks every timeout at the bytes written to the peer's connection, and
// cancels when none were written since it last looked. A peer that stopped
// reading (SIGSTOP, a partition that drops its packets) lets gRPC's
// flow-control window and the socket's buffers fill, and then nothing more
// is written; a peer that is merely slow, taking a large envelope under
// load, keeps taking bytes and is left to finish, however long the whole
// envelope takes. (A deadline on the whole send cannot tell the two apart:
// it cut off large envelopes on a busy machine, and the retransmissions,
// larger still, were cut off in turn.)
//
// It times its looks on the node's clock, as everything time-dependent in
// a node does, so that a node whose clock runs slow or fast under a clock
// fault also waits that much longer or shorter for a stalled peer.
type watchdog struct {
	timeout time.Duration
	written *atomic.Uint64
	cancel  context.CancelFunc

	mu    sync.Mutex
	timer fault.Timer
	armed bool
	last  uint64 // written when the watchdog last looked
	fired bool
}

// newWatchdog returns a disarmed watchdog for one stream. Its goroutine
// ends when done (the stream's end) is closed.
func newWatchdog(clock fault.Clock, timeout time.Duration, written *atomic.Uint64, cancel context.CancelFunc, done <-chan struct{}) *watchdog {
	w := &watchdog{timeout: timeout, written: written, cancel: cancel, timer: clock.NewTimer(time.Hour)}
	w.timer.Stop()
	go func() {
		defer w.timer.Stop()
		for {
			select {
			case <-w.timer.C():
				w.look()
			case <-done:
				return
			}
		}
	}()
	return w
}

// arm starts watching a send.
func (w *watchdog) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed, w.fired = true, false
	w.last = w.written.Load()
	w.timer.Reset(w.timeout)
}

// look runs when the timer fires: it cancels the stream if nothing was
// written since the last look, else looks again after another timeout.
func (w *watchdog) look() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed {
		return
	}
	if w.timer.Stop() {
		// arm reset the timer after this firing was delivered: the
		// firing belongs to an earlier send. Look a timeout after arm.
		w.timer.Reset(w.timeout)
		return
	}
	if now := w.written.Load(); now != w.last {
		w.last = now
		w.timer.Reset(w.timeout)
		return
	}
	w.armed, w.fired = false, true
	w.cancel()
}

// disarm stops watching and reports whether the watchdog cancelled the
// stream.
func (w *watchdog) disarm() (fired bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	w.timer.Stop()
	return w.fired
}
