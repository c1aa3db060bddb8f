// Package loopback reserves loopback addresses for tests that start
// nodes which must know every peer's address before any of them listens.
package loopback

import (
	"net"
	"testing"
)

// Addrs returns n distinct loopback addresses that were free a moment
// ago. It holds every listener open until all n are chosen: closing each
// one before asking for the next lets the kernel hand the same port out
// twice. Another process may still take a port before the caller binds
// it; a node keeps its address across restarts, so that small window is
// the price of not listening on port 0.
func Addrs(tb testing.TB, n int) []string {
	tb.Helper()
	addrs := make([]string, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("reserve a loopback port: %v", err)
		}
		listeners = append(listeners, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}
