package loopback

import (
	"net"
	"testing"
)

// TestAddrsAreDistinctAndFree asks for many addresses at once, so that a
// port handed out twice would show, and checks each can be bound.
func TestAddrsAreDistinctAndFree(t *testing.T) {
	addrs := Addrs(t, 64)
	if len(addrs) != 64 {
		t.Fatalf("got %d addresses, want 64", len(addrs))
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a] = true
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("address %s is not free: %v", a, err)
		}
		l.Close()
	}
}
