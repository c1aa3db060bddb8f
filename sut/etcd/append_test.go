package etcd

import (
	"errors"
	"fmt"
	"path"
	"testing"
)

func read(key string) MicroOp { return MicroOp{Key: key} }
func appendTo(key string, e int64) MicroOp {
	return MicroOp{Append: true, Key: key, Element: e}
}

// lists renders the reads of done, in order and by the last element of
// their key, for comparison.
func lists(done []MicroOp) string {
	var s string
	for _, op := range done {
		if !op.Append {
			s += fmt.Sprintf("%s=%v ", path.Base(op.Key), op.List)
		}
	}
	return s
}

func TestAppendTxnReadsItsOwnAppendsInOrder(t *testing.T) {
	c := sharedCluster(t)
	k := namespace(t)
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)

	for _, step := range []struct {
		ops  []MicroOp
		want string
	}{
		{[]MicroOp{read(k("x")), appendTo(k("x"), 1), read(k("x")), appendTo(k("y"), 5)}, "x=[] x=[1] "},
		{[]MicroOp{read(k("x")), appendTo(k("x"), 2), appendTo(k("x"), 3), read(k("x"))}, "x=[1] x=[1 2 3] "},
		// read only: one snapshot, no commit
		{[]MicroOp{read(k("x")), read(k("y")), read(k("absent"))}, "x=[1 2 3] y=[5] absent=[] "},
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
	k := namespace(t)
	s := dial(t, c, StoreOptions{})
	other := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if _, err := s.Txn(ctx, []MicroOp{appendTo(k("read"), 1)}); err != nil {
		t.Fatal(err)
	}

	for _, raced := range []string{k("read"), k("new")} {
		s.betweenReadAndCommit = func() {
			s.betweenReadAndCommit = nil
			if _, err := other.Txn(ctx, []MicroOp{appendTo(raced, 100)}); err != nil {
				t.Error(err)
			}
		}
		_, err := s.Txn(ctx, []MicroOp{read(k("read")), appendTo(k("write"), 7), appendTo(k("new"), 8)})
		if !errors.Is(err, ErrConflict) || !Definite(err) {
			t.Fatalf("txn raced on %s = %v (definite %v); want ErrConflict, definite", raced, err, Definite(err))
		}
	}
	done, err := s.Txn(ctx, []MicroOp{read(k("read")), read(k("write")), read(k("new"))})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lists(done), "read=[1 100] write=[] new=[100] "; got != want {
		t.Errorf("after two conflicted txns the lists are %q, want %q", got, want)
	}
}

func TestAppendTxnNamesAKeyThatIsNotAList(t *testing.T) {
	c := sharedCluster(t)
	k := namespace(t)
	s := dial(t, c, StoreOptions{})
	ctx := testContext(t)
	if _, err := s.client.Put(ctx, k("garbage"), "1,2,"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Txn(ctx, []MicroOp{appendTo(k("garbage"), 3)})
	if err == nil || !Definite(err) {
		t.Fatalf("append to a non-list = %v; want a definite error", err)
	}
	t.Log(err)
}
