package runtime

import (
	"context"
	"errors"
	"testing"
)

// TestRetryFreeze: the freezer's "unable to freeze" is tried again, up to
// freezeAttempts times; any other error is not.
func TestRetryFreeze(t *testing.T) {
	unable := errors.New("Cannot pause container x: OCI runtime pause failed: unable to freeze: unknown")
	calls := 0
	err := retryFreeze(context.Background(), func() error {
		if calls++; calls < 3 {
			return unable
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("after two failed freezes: %v in %d calls, want success on the third", err, calls)
	}
	calls = 0
	if err := retryFreeze(context.Background(), func() error { calls++; return unable }); !errors.Is(err, unable) || calls != freezeAttempts {
		t.Fatalf("a freezer that never freezes: %v in %d calls, want its error after %d", err, calls, freezeAttempts)
	}
	calls = 0
	other := errors.New("no such container")
	if err := retryFreeze(context.Background(), func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("another error: %v in %d calls, want it at once", err, calls)
	}
}
