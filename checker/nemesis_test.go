package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/history"
)

func nemesisOp(typ history.Type, f, err string) history.Op {
	return history.Op{Type: typ, Process: history.Nemesis, F: f, Error: err}
}

func TestNemesisChecker(t *testing.T) {
	ok := history.History{
		nemesisOp(history.Invoke, "start-partition", ""), nemesisOp(history.Info, "start-partition", ""),
		nemesisOp(history.Invoke, "start-kill", ""), nemesisOp(history.Fail, "start-kill", "kill one: would leave no majority: skipped"),
		nemesisOp(history.Invoke, "stop-partition", ""), nemesisOp(history.Info, "stop-partition", ""),
	}
	if r := (Nemesis{}).Check(context.Background(), ok); r.Verdict != Valid || !strings.Contains(r.Summary, "1 faults applied, 1 skipped") {
		t.Errorf("faults that all worked: %s %q", r.Verdict, r.Summary)
	}
	for _, f := range []string{"start-partition", "stop-clock", "reapply-loss"} {
		h := append(append(history.History{}, ok...), nemesisOp(history.Invoke, f, ""), nemesisOp(history.Info, f, "open /proc/1/ns/net: permission denied"))
		for i := range h {
			h[i].Index = int64(i)
		}
		r := (Nemesis{}).Check(context.Background(), h)
		if r.Verdict != Unknown || !strings.Contains(r.Summary, f) || !strings.Contains(r.Summary, "permission denied") ||
			!strings.Contains(r.Summary, "did not test") {
			t.Errorf("%s failed: %s %q, want unknown naming it, why, and what it means", f, r.Verdict, r.Summary)
		}
	}
}
