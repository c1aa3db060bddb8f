package checker

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/squall-chaos/squall/history"
)

func TestStats(t *testing.T) {
	var e events
	e.call(0, history.OK, "write", kv("r1", 1), kv("r1", 1))
	e.call(0, history.OK, "read", kv("r1", nil), kv("r1", 1))
	e.call(0, history.Fail, "write", kv("r1", 2), kv("r1", 2))
	e.call(0, history.Info, "write", kv("r1", 3), kv("r1", 3))
	e.add(history.Invoke, history.Nemesis, "start-kill", nil)
	e.add(history.Info, history.Nemesis, "start-kill", "n1")
	e.invoke(1, "read", kv("r1", nil)) // never completed: counts as info

	r := Stats().Check(context.Background(), e.h)
	if r.Verdict != Valid {
		t.Errorf("verdict %s (%s), want valid", r.Verdict, r.Summary)
	}
	wantTotal := Counts{OK: 2, Fail: 1, Info: 2}
	if got := r.Details["total"]; got != wantTotal {
		t.Errorf("total %+v, want %+v", got, wantTotal)
	}
	wantByF := map[string]Counts{"write": {OK: 1, Fail: 1, Info: 1}, "read": {OK: 1, Info: 1}}
	if got := r.Details["by_f"].(map[string]Counts); !maps.Equal(got, wantByF) {
		t.Errorf("by f %+v, want %+v", got, wantByF)
	}
	if want := "5 operations: 2 ok, 1 fail, 2 info; ok latency p50 0s, p99 0s; 66666667 ok/s"; r.Summary != want {
		t.Errorf("summary %q, want %q", r.Summary, want)
	}
}

// TestStatsLatency: the median and 99th percentile of the ok operations'
// latencies, and ok operations per second from the first invoke to the
// last ok completion.
func TestStatsLatency(t *testing.T) {
	var h history.History
	for i := range 100 {
		start := int64(i) * int64(time.Second)
		h = append(h,
			history.Op{Index: int64(len(h)), Type: history.Invoke, Process: history.Process(i), F: "read", Time: start},
			history.Op{Index: int64(len(h) + 1), Type: history.OK, Process: history.Process(i), F: "read", Time: start + int64(i+1)*int64(time.Millisecond)})
	}
	r := Stats().Check(context.Background(), h)
	lat := r.Details["latency_ms"].(map[string]float64)
	if lat["p50"] != 51 || lat["p99"] != 100 || lat["max"] != 100 {
		t.Errorf("latency %v ms, want p50 51, p99 100, max 100", lat)
	}
	if got := r.Details["ok_per_second"].(float64); got < 1.0090 || got > 1.0092 {
		t.Errorf("%v ok/s, want 100 in 99.1s", got)
	}
	if !strings.HasSuffix(r.Summary, "; ok latency p50 51ms, p99 100ms; 1 ok/s") {
		t.Errorf("summary %q", r.Summary)
	}
}

func TestStatsUnknownWhenAKindNeverSucceeds(t *testing.T) {
	var e events
	e.call(0, history.OK, "read", kv("r1", nil), kv("r1", nil))
	e.call(0, history.Fail, "write", kv("r1", 2), kv("r1", 2))
	e.call(0, history.Info, "cas", kv("r1", []any{1, 2}), kv("r1", []any{1, 2}))
	r := Stats().Check(context.Background(), e.h)
	if r.Verdict != Unknown || !strings.HasPrefix(r.Summary, "no cas, no write operation ever succeeded") {
		t.Errorf("verdict %s (%s), want unknown naming cas and write", r.Verdict, r.Summary)
	}
}

func TestStatsEmpty(t *testing.T) {
	r := Stats().Check(context.Background(), nil)
	if r.Verdict != Unknown {
		t.Errorf("verdict %s (%s), want unknown", r.Verdict, r.Summary)
	}
}
