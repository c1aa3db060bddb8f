package pending

import "testing"

func TestResults(t *testing.T) {
	var r Results[string]
	ch := r.Wait(1)
	r.Deliver(2, "nobody waits") // must not block or reach id 1
	r.Deliver(1, "one")
	if got := <-ch; got != "one" {
		t.Fatalf("got %q", got)
	}
	r.Deliver(1, "again") // delivered once only: no waiter left, no block
	select {
	case v := <-ch:
		t.Fatalf("second delivery %q reached a finished waiter", v)
	default:
	}
	ch = r.Wait(3)
	r.Forget(3)
	r.Deliver(3, "late")
	select {
	case v := <-ch:
		t.Fatalf("delivery %q reached a forgotten waiter", v)
	default:
	}
}
