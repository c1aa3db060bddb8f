// Package loopback reserves loopback addresses for clusters of local
// processes whose members must know every peer's address before any of
// them listens: the tests' clusters and `squall bench`'s.
package loopback

import (
	"fmt"
	"net"
	"testing"
)

// Addrs returns n distinct loopback addresses that were free a moment
// ago, failing the test if the kernel has none to give.
func Addrs(tb testing.TB, n int) []string {
	tb.Helper()
	addrs, err := Reserve(n)
	if err != nil {
		tb.Fatal(err)
	}
	return addrs
}

// Reserve returns n distinct loopback addresses ("127.0.0.1:port") that
// were free a moment ago. It holds every listener open until all n are
// chosen: closing each one before asking for the next lets the kernel hand
// the same port out twice. Another process may still take a port before
// the caller binds it; a node keeps its address across restarts, so that
// small window is the price of not listening on port 0.
func Reserve(n int) ([]string, error) {
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
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		listeners = append(listeners, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
