package checker

import (
	"strings"
	"testing"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/workloads/ops"
)

// A cas that failed because the register held another value tells that,
// at some moment between its invoke and completion, the register did not
// hold the value it expected (porcupine's etcd model).
func TestFailedCASIsEvidence(t *testing.T) {
	cas := func(e *events, from, to int, err string) {
		e.invoke(0, "cas", kv("r1", []any{from, to}))
		i := e.add(history.Fail, 0, "cas", kv("r1", []any{from, to}))
		e.h[i].Error = err
	}
	for _, tc := range []struct {
		name string
		cas  func(e *events)
		want Verdict
	}{
		// write 1; cas 1->2 fails; read 1: the cas must have found 1.
		{"fails finding its value", func(e *events) { cas(e, 1, 2, "") }, Invalid},
		{"fails finding its value, squall's error", func(e *events) { cas(e, 1, 2, ops.CASValueDiffers) }, Invalid},
		// It expected 3, and 1 is not 3.
		{"fails finding another value", func(e *events) { cas(e, 3, 2, "") }, Valid},
		// It failed for another reason: it may never have looked.
		{"fails for another reason", func(e *events) { cas(e, 1, 2, "write conflict") }, Valid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e events
			e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
			tc.cas(&e)
			e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 1))
			r := checkLinearizable(t, e.h, LinearizableConfig{})
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s (%s), want %s", r.Verdict, r.Summary, tc.want)
			}
			if tc.want == Invalid && !strings.Contains(r.Anomalies[0].Explanation, "cas 1->2 (failed: found another value)") {
				t.Errorf("explanation does not name the failed cas: %s", r.Anomalies[0].Explanation)
			}
		})
	}
}

// An info write that nobody read is usually left out of the search; not
// when a cas of its key failed, since that cas may have found its value.
func TestFailedCASKeepsUnknownWrites(t *testing.T) {
	var e events
	e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
	e.invoke(1, "write", kv("r1", 5))
	e.add(history.Info, 1, "write", kv("r1", 5))
	e.call(0, history.Fail, "cas", kv("r1", []any{1, 2}), kv("r1", []any{1, 2}))
	r := checkLinearizable(t, e.h, LinearizableConfig{})
	if r.Verdict != Valid {
		t.Fatalf("verdict %s (%s), want valid: the info write of 5 explains the failed cas", r.Verdict, r.Summary)
	}
}

func TestRegisterStepFailedCAS(t *testing.T) {
	four := registerState{value: 4, present: true}
	in := registerInput{f: registerCAS, expected: 4, arg: 5}
	if legal, _ := registerStep(four, in, registerOutput{differed: true}); legal {
		t.Error("a cas that failed finding another value is legal on a register holding its value")
	}
	if legal, next := registerStep(registerState{}, in, registerOutput{differed: true}); !legal || next != (registerState{}) {
		t.Errorf("a cas that failed on an absent register: legal %v, next %v; want legal and no change", legal, next)
	}
}
