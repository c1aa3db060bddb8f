package member

import (
	"errors"
	"testing"
)

// TestConnPoolRefusesAfterClose: a pool hands out one connection per
// address until it is closed, and none after, so that nothing dials a
// connection its closed owner will never close.
func TestConnPoolRefusesAfterClose(t *testing.T) {
	p := NewConnPool()
	a, err := p.Conn("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := p.Conn("127.0.0.1:1"); err != nil || b != a {
		t.Fatalf("second Conn for the address: %p, %v; want the first, %p", b, err, a)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := p.Conn("127.0.0.1:1"); !errors.Is(err, ErrPoolClosed) || c != nil {
		t.Fatalf("Conn after Close: %v, %v; want ErrPoolClosed", c, err)
	}
}
