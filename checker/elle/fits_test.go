package elle

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/checker"
	"github.com/squall-chaos/squall/history"
)

func TestFits(t *testing.T) {
	var b builder
	ok(&b, ap("x", 1), r("x", 1))
	b.h = append(b.h, history.Op{Index: 2, Type: history.Invoke, Process: history.Nemesis, F: "start-kill"})
	if err := Fits(b.h); err != nil {
		t.Fatalf("a list-append history does not fit: %v", err)
	}
	for _, tt := range []struct {
		name string
		op   history.Op
		want string
	}{
		{"register write", history.Op{Type: history.Invoke, Process: 3, F: "write", Value: []any{"r1", 1}}, `event 3: f "write" is not a list-append operation (txn)`},
		{"bad micro-op", history.Op{Type: history.Invoke, Process: 3, F: "txn", Value: []any{[]any{"w", "x", 1}}}, `event 3: micro-op 0: [w x 1]: function w, want "append" or "r"`},
	} {
		h := append(append(history.History(nil), b.h...), tt.op)
		h[3].Index = 3
		err := Fits(h)
		var ev *history.EventError
		if err == nil || !errors.As(err, &ev) || ev.Event != 3 || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want event 3: %q", tt.name, err, tt.want)
		}
	}
}

// TestReadFileHistoriesCheckAlike: a history read back from its file
// (Txn values, []int64 lists) is judged as the one in memory.
func TestReadFileHistoriesCheckAlike(t *testing.T) {
	h := generated(3000, 3)
	// A read of an element nobody appended.
	garbage := builder{h: append(history.History(nil), h...)}
	garbage.txn(1<<20, history.OK, r("k0", 1, 999999))
	for name, hist := range map[string]history.History{"valid": h, "garbage read": garbage.h} {
		path := filepath.Join(t.TempDir(), "h.jsonl")
		if err := history.WriteFile(path, hist); err != nil {
			t.Fatal(err)
		}
		f, err := history.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, isTxn := f.History[0].Value.(history.Txn); !isTxn {
			t.Fatalf("a txn read back as %T", f.History[0].Value)
		}
		mem := Check(context.Background(), hist, Options{Model: "strict-serializable"})
		file := Check(context.Background(), f.History, Options{Model: "strict-serializable"})
		if mem.Verdict != file.Verdict || mem.Summary != file.Summary || len(mem.Anomalies) != len(file.Anomalies) {
			t.Errorf("%s: in memory %s (%s), from the file %s (%s)", name, mem.Verdict, mem.Summary, file.Verdict, file.Summary)
		}
		for i := range mem.Anomalies {
			if mem.Anomalies[i].Explanation != file.Anomalies[i].Explanation {
				t.Errorf("%s: explanations differ:\n%s\n%s", name, mem.Anomalies[i].Explanation, file.Anomalies[i].Explanation)
			}
		}
		if name == "garbage read" && file.Verdict != checker.Invalid {
			t.Errorf("the garbage read is not found in the file's history: %s", file.Summary)
		}
	}
}

// TestLongKeysAreShortened: a 5 MiB key is not quoted whole.
func TestLongKeysAreShortened(t *testing.T) {
	key := strings.Repeat("k", 5<<20)
	var b builder
	t1 := ok(&b, ap(key, 1), r(key))
	res := check(t, b.h, "read-committed")
	a := wantAnomaly(t, res, Internal, t1)
	if len(a.Explanation) > 2000 || len(a.Key) > 200 || !strings.Contains(a.Explanation, "(5.0 MiB string)") {
		t.Errorf("explanation of %d bytes, key of %d: %.300s", len(a.Explanation), len(a.Key), a.Explanation)
	}
	bad := history.History{
		{Index: 0, Type: history.Invoke, Process: 0, F: "txn", Value: key},
		{Index: 1, Type: history.OK, Process: 0, F: "txn", Value: key},
	}
	if res := Check(context.Background(), bad, Options{}); len(res.Summary) > 2000 {
		t.Errorf("summary of %d bytes", len(res.Summary))
	}
}
