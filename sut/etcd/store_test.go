package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRegisterReadWriteCAS(t *testing.T) {
	c := sharedCluster(t)
	s := dial(t, c, StoreOptions{DialTimeout: 5 * time.Second})
	ctx := testContext(t)
	key := namespace(t)("rw")

	if v, found, err := s.Read(ctx, key); err != nil || found {
		t.Fatalf("read of a never-written register = %d, %v, %v; want not found", v, found, err)
	}
	if swapped, err := s.CAS(ctx, key, 0, 1); err != nil || swapped {
		t.Fatalf("cas on a never-written register = %v, %v; want not swapped", swapped, err)
	}
	if err := s.Write(ctx, key, 3); err != nil {
		t.Fatal(err)
	}
	if v, found, err := s.Read(ctx, key); err != nil || !found || v != 3 {
		t.Fatalf("read after write 3 = %d, %v, %v", v, found, err)
	}
	if swapped, err := s.CAS(ctx, key, 3, 4); err != nil || !swapped {
		t.Fatalf("cas 3->4 on 3 = %v, %v; want swapped", swapped, err)
	}
	if swapped, err := s.CAS(ctx, key, 3, 5); err != nil || swapped {
		t.Fatalf("cas 3->5 on 4 = %v, %v; want not swapped, no error", swapped, err)
	}
	if v, _, err := s.Read(ctx, key); err != nil || v != 4 {
		t.Fatalf("read after the refused cas = %d, %v; want 4", v, err)
	}
	if err := s.Write(ctx, key, -7); err != nil {
		t.Fatal(err)
	}
	if v, _, err := s.Read(ctx, key); err != nil || v != -7 {
		t.Fatalf("read after write -7 = %d, %v", v, err)
	}
}

// The serializable store answers from its own member; right after a write
// a follower may not have it yet, so this only checks that such reads work
// and catch up, not that they are current.
func TestSerializableReadsAnswer(t *testing.T) {
	c := sharedCluster(t)
	writer := dial(t, c, StoreOptions{})
	reader := dial(t, c, StoreOptions{SerializableReads: true})
	ctx := testContext(t)
	key := namespace(t)("serializable")
	if err := writer.Write(ctx, key, 9); err != nil {
		t.Fatal(err)
	}
	for {
		v, found, err := reader.Read(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if found && v == 9 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadNamesAKeyThatIsNotAnInteger(t *testing.T) {
	c := sharedCluster(t)
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if _, err := s.client.Put(ctx, "register/garbage", "twelve"); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Read(ctx, "register/garbage")
	if err == nil {
		t.Fatal("read of a non-integer value succeeded")
	}
	t.Log(err)
}

func TestDefiniteClassifiesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"caller's deadline", context.DeadlineExceeded, false},
		{"caller's deadline, wrapped", fmt.Errorf("etcd: write %q: %w", "k", context.DeadlineExceeded), false},
		{"canceled", context.Canceled, false},
		{"gRPC unavailable", status.Error(codes.Unavailable, "connection refused"), false},
		{"server timed out", rpctypes.ErrTimeout, false},
		{"leader changed", rpctypes.ErrLeaderChanged, false},
		{"no leader", rpctypes.ErrNoLeader, false},
		{"connection lost", rpctypes.ErrTimeoutDueToConnectionLost, false},
		{"no space: applied, then reported", rpctypes.ErrNoSpace, false},
		{"empty key", rpctypes.ErrEmptyKey, true},
		{"too many ops", rpctypes.ErrTooManyOps, true},
		{"duplicate key", rpctypes.ErrDuplicateKey, true},
		{"request too large", rpctypes.ErrRequestTooLarge, true},
		{"too many requests", rpctypes.ErrTooManyRequests, true},
		{"insufficient funds", fmt.Errorf("transfer: %w", ErrInsufficientFunds), true},
		{"guard failed", fmt.Errorf("txn: %w", ErrConflict), true},
		{"read phase timed out", beforeWrite("read: %w", context.DeadlineExceeded), true},
	} {
		if got := Definite(tc.err); got != tc.want {
			t.Errorf("%s: Definite(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// The errors etcd and clientv3 really return are classified as the table
// above expects.
func TestDefiniteOnRealErrors(t *testing.T) {
	c := sharedCluster(t)
	s := dial(t, c, StoreOptions{})

	expired, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-expired.Done()
	err := s.Write(expired, "register/deadline", 1)
	if err == nil {
		t.Fatal("write under an expired context succeeded")
	}
	if Definite(err) {
		t.Errorf("a write that hit its deadline is definite: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a write that hit its deadline returned %v, not a deadline error", err)
	}

	ctx := testContext(t)
	err = s.Write(ctx, "", 1)
	if !errors.Is(err, rpctypes.ErrEmptyKey) || !Definite(err) {
		t.Errorf("write to the empty key = %v (definite %v); want etcd's ErrEmptyKey, definite", err, Definite(err))
	}

	// etcd's default --max-request-bytes is 1.5 MiB; clientv3 sends up
	// to 2 MiB, so the server refuses this one before proposing it.
	_, err = s.client.Put(ctx, "register/large", strings.Repeat("x", 1700*1024))
	if !errors.Is(err, rpctypes.ErrRequestTooLarge) || !Definite(err) {
		t.Errorf("put of 1.7 MB = %v (definite %v); want etcd's ErrRequestTooLarge, definite", err, Definite(err))
	}

	// etcd's default --max-txn-ops is 128; the refusal comes on the
	// transaction's read, before anything is written.
	var ops []MicroOp
	for i := range 200 {
		ops = append(ops, MicroOp{Append: true, Key: fmt.Sprintf("register/many/%d", i), Element: 1})
	}
	_, err = s.Txn(ctx, ops)
	if !errors.Is(err, rpctypes.ErrTooManyOps) || !Definite(err) {
		t.Errorf("txn of 200 keys = %v (definite %v); want etcd's ErrTooManyOps, definite", err, Definite(err))
	}
}
