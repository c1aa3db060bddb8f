package etcd

import (
	"errors"
	"fmt"
	"testing"
)

func read(key string) MicroOp { return MicroOp{Key: key} }
func appendTo(key string, e int64) MicroOp {
	return MicroOp{Append: true, Key: key, Element: e}
}

// lists renders the reads of done, in order, for comparison.
func lists(done []MicroOp) string {
	var s string
	for _, op := range done {
		if !op.Append {
			s += fmt.Sprintf("%s=%v ", op.Key, op.List)
		}
	}
	return s
}

func TestAppendTxnReadsItsOwnAppendsInOrder(t *testing.T) {
	c := sharedCluster(t)
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)

	for _, step := range []struct {
		ops  []MicroOp
		want string
	}{
		{[]MicroOp{read("la/x"), appendTo("la/x", 1), read("la/x"), appendTo("la/y", 5)}, "la/x=[] la/x=[1] "},
		{[]MicroOp{read("la/x"), appendTo("la/x", 2), appendTo("la/x", 3), read("la/x")}, "la/x=[1] la/x=[1 2 3] "},
		// read only: one snapshot, no commit
		{[]MicroOp{read("la/x"), read("la/y"), read("la/absent")}, "la/x=[1 2 3] la/y=[5] la/absent=[] "},
	} {
		done, err := s.Txn(ctx, step.ops)
		if err != nil {
			t.Fatalf("txn %v: %v", step.ops, err)
		}
		if len(done) != len(step.ops) {
			t.Fatalf("txn %v returned %d ops", step.ops, len(done))
		}
		if got := lists(done); got != step.want {
			t.Errorf("txn %v read %q, want %q", step.ops, got, step.want)
		}
	}
}

// A transaction is guarded by every key it touched, including keys it only
// read: a change to any of them between its read and its commit makes it
// write nothing, definitely.
func TestAppendTxnConflictsOnAnyTouchedKey(t *testing.T) {
	c := sharedCluster(t)
	s := dial(t, c, StoreOptions{})
	other := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if _, err := s.Txn(ctx, []MicroOp{appendTo("lc/read", 1)}); err != nil {
		t.Fatal(err)
	}

	for _, raced := range []string{"lc/read", "lc/new"} {
		s.betweenReadAndCommit = func() {
			s.betweenReadAndCommit = nil
			if _, err := other.Txn(ctx, []MicroOp{appendTo(raced, 100)}); err != nil {
				t.Error(err)
			}
		}
		_, err := s.Txn(ctx, []MicroOp{read("lc/read"), appendTo("lc/write", 7), appendTo("lc/new", 8)})
		if !errors.Is(err, ErrConflict) || !Definite(err) {
			t.Fatalf("txn raced on %s = %v (definite %v); want ErrConflict, definite", raced, err, Definite(err))
		}
	}
	done, err := s.Txn(ctx, []MicroOp{read("lc/read"), read("lc/write"), read("lc/new")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lists(done), "lc/read=[1 100] lc/write=[] lc/new=[100] "; got != want {
		t.Errorf("after two conflicted txns the lists are %q, want %q", got, want)
	}
}

func TestAppendTxnNamesAKeyThatIsNotAList(t *testing.T) {
	c := sharedCluster(t)
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if _, err := s.client.Put(ctx, "lg/garbage", "1,2,"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Txn(ctx, []MicroOp{appendTo("lg/garbage", 3)})
	if err == nil || !Definite(err) {
		t.Fatalf("append to a non-list = %v; want a definite error", err)
	}
	t.Log(err)
}
