package checker

import (
	"strings"
	"testing"

	"github.com/squall-chaos/squall/history"
)

func checkKV(t *testing.T, h history.History) Result {
	t.Helper()
	if err := h.Validate(); err != nil {
		t.Fatalf("test history is malformed: %v", err)
	}
	return Linearizable(LinearizableConfig{Model: KVModel}).Check(t.Context(), h)
}

func TestKVModel(t *testing.T) {
	var e events
	e.call(0, history.OK, "get", kv("k1", nil), kv("k1", nil))
	e.call(0, history.OK, "put", kv("k1", "a"), kv("k1", "a"))
	e.call(1, history.OK, "append", kv("k1", "b"), kv("k1", "b"))
	e.call(1, history.Fail, "append", kv("k1", "x"), kv("k1", "x"))
	e.call(2, history.OK, "get", kv("k1", nil), kv("k1", "ab"))
	e.call(2, history.OK, "get", kv("k2", nil), kv("k2", ""))
	if r := checkKV(t, e.h); r.Verdict != Valid {
		t.Fatalf("verdict %s (%s), want valid", r.Verdict, r.Summary)
	}

	// The append of "b" took effect, yet a later get misses it.
	stale := events{h: append(history.History(nil), e.h...)}
	stale.call(0, history.OK, "get", kv("k1", nil), kv("k1", "a"))
	r := checkKV(t, stale.h)
	if r.Verdict != Invalid || len(r.Anomalies) != 1 {
		t.Fatalf("verdict %s (%s), want invalid", r.Verdict, r.Summary)
	}
	if a := r.Anomalies[0]; a.Key != "k1" || !strings.Contains(a.Explanation, `get -> "a"`) {
		t.Errorf("anomaly %+v, want one on k1 naming the get of \"a\"", a)
	}

	// An append that ended info may have taken effect.
	var info events
	info.call(0, history.OK, "put", kv("k1", "a"), kv("k1", "a"))
	info.invoke(1, "append", kv("k1", "b"))
	info.add(history.Info, 1, "append", kv("k1", "b"))
	info.call(0, history.OK, "get", kv("k1", nil), kv("k1", "ab"))
	if r := checkKV(t, info.h); r.Verdict != Valid {
		t.Fatalf("verdict %s (%s), want valid", r.Verdict, r.Summary)
	}
}

func TestKVModelBadValues(t *testing.T) {
	for _, tt := range []struct {
		f     string
		value any
		want  string
	}{
		{"put", kv("k1", 5), "event 0: put value [k1 5]: want [key, string] with a string key"},
		{"get", "k1", "event 0: get value k1: want [key, string or null]"},
		{"read", kv("k1", nil), `event 0: f "read" is not a key-value operation (get, put, append)`},
	} {
		var e events
		e.call(0, history.OK, tt.f, tt.value, tt.value)
		r := checkKV(t, e.h)
		if r.Verdict != Unknown || !strings.Contains(r.Summary, tt.want) {
			t.Errorf("verdict %s (%s), want unknown mentioning %q", r.Verdict, r.Summary, tt.want)
		}
	}
}

// TestLongValuesAreShortened: a 5 MiB value is not quoted whole in a
// summary or an explanation.
func TestLongValuesAreShortened(t *testing.T) {
	huge := strings.Repeat("v", 5<<20)
	var e events
	e.call(0, history.OK, "put", kv("k1", huge), kv("k1", huge))
	e.call(0, history.OK, "get", kv("k1", nil), kv("k1", huge+"x"))
	r := checkKV(t, e.h)
	if r.Verdict != Invalid {
		t.Fatalf("verdict %s, want invalid", r.Verdict)
	}
	for _, text := range []string{r.Summary, r.Anomalies[0].Explanation} {
		if len(text) > 2000 || !strings.Contains(text+r.Anomalies[0].Explanation, "5.0 MiB string") {
			t.Errorf("text of %d bytes, want a short one noting the 5.0 MiB value: %.300s", len(text), text)
		}
	}

	var bad events
	bad.call(0, history.OK, "write", kv("r1", huge), kv("r1", huge))
	r = checkLinearizable(t, bad.h, LinearizableConfig{})
	if r.Verdict != Unknown || len(r.Summary) > 2000 || !strings.Contains(r.Summary, "(5.0 MiB string)") {
		t.Errorf("summary of %d bytes, want a short one noting the 5.0 MiB value: %.300s", len(r.Summary), r.Summary)
	}
}
