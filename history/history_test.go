package history

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	h := History{
		{Index: 0, Type: Invoke, Process: 3, F: "write", Value: []any{"r3", json.Number("5")}, Time: 1200},
		{Index: 1, Type: Invoke, Process: Nemesis, F: "start-partition", Time: 1300},
		{Index: 2, Type: Info, Process: Nemesis, F: "start-partition", Value: "n1 n2 | n3 n4 n5", Time: 1400},
		{Index: 3, Type: OK, Process: 3, F: "write", Value: []any{"r3", json.Number("5")}, Time: 2400, Node: "n2"},
		{Index: 4, Type: Invoke, Process: 4, F: "txn", Value: []any{[]any{"append", "k3", json.Number("7")}}, Time: 2500},
		{Index: 5, Type: Info, Process: 4, F: "txn", Value: nil, Time: 9000, Error: "timeout", StartTS: 17, CommitTS: 19},
	}
	var b bytes.Buffer
	if err := Write(&b, h); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"process":"nemesis"`) {
		t.Errorf("the nemesis is not written as \"nemesis\":\n%s", b.String())
	}
	got, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, h)
	}
}

type celsius float64

type marshaled struct{}

func (marshaled) MarshalJSON() ([]byte, error) { return []byte(`{"custom":true}`), nil }

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, "plain", "quote \" and <tag> & \u2028 \\ \t", "caf\xc3\xa9", "bad utf-8 \xff", "", true,
		5, int64(-5), uint64(1 << 63), 2.5, json.Number("12"), celsius(21.5), marshaled{},
		[]any{"r1", []any{int64(4), 5}}, []any{}, []any{nil, []any{"x", marshaled{}}},
		[]int64{1, 2}, map[string]any{"nodes": []string{"n1"}, "b": 1}, struct{ A int }{3},
	}
	for _, v := range values {
		for _, op := range []Op{
			{Index: 7, Type: Invoke, Process: 2, F: "cas", Value: v, Time: 99},
			{Index: 8, Type: Info, Process: Nemesis, F: "start-kill", Value: v, Time: 100, Error: "timed out <again>", Node: "n\u00e9"},
			{Index: 9, Type: OK, Process: 0, F: "read", Value: v, Node: "n1", StartTS: 1, CommitTS: 1 << 63},
		} {
			got, err := AppendJSON([]byte("prefix"), op)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(op)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+string(want)+"\n" {
				t.Errorf("AppendJSON\n got %s\nwant prefix%s", got, want)
			}
		}
	}
}

func TestAppendJSONError(t *testing.T) {
	got, err := AppendJSON([]byte("kept"), Op{Index: 4, Type: Invoke, F: "write", Value: []any{"r1", func() {}}})
	if err == nil || !strings.Contains(err.Error(), "encode event 4") {
		t.Errorf("error %v, want one naming event 4", err)
	}
	if string(got) != "kept" {
		t.Errorf("buffer %q after a failed encoding, want it as it was", got)
	}
}

func TestReadNamesTheLine(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"not JSON", "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"time\":1}\n\nnot json\n", "line 3: bad event not json"},
		{"unknown field", `{"index":0,"type":"invoke","process":0,"f":"read","time":1,"colour":"red"}`, `line 1: bad event`},
		{"no f", `{"index":0,"type":"invoke","process":0,"time":1}`, `line 1: bad event {"index":0,"type":"invoke","process":0,"time":1}: no "f"`},
		{"bad type", `{"index":0,"type":"maybe","process":0,"f":"read","time":1}`, `line 1: bad event`},
		{"bad process", `{"index":0,"type":"invoke","process":"chaos","f":"read","time":1}`, `want a non-negative integer or "nemesis"`},
		{"negative process", `{"index":0,"type":"invoke","process":-1,"f":"read","time":1}`, `want a non-negative integer or "nemesis"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	inv := func(i int64, p Process, f string) Op { return Op{Index: i, Type: Invoke, Process: p, F: f} }
	done := func(i int64, t Type, p Process, f string) Op { return Op{Index: i, Type: t, Process: p, F: f} }
	tests := []struct {
		name string
		h    History
		want string // "" for valid
	}{
		{"valid", History{inv(0, 1, "read"), inv(1, Nemesis, "start-kill"), inv(2, 2, "write"), done(3, OK, 1, "read"), done(4, Info, 2, "write"), done(5, Info, Nemesis, "start-kill")}, ""},
		{"index out of order", History{inv(0, 1, "read"), done(2, OK, 1, "read")}, "event 1: index 2, want 1"},
		{"bad type", History{{Index: 0, Type: "maybe", F: "read"}}, `event 0: type "maybe", want invoke, ok, fail or info`},
		{"two invokes", History{inv(0, 1, "read"), inv(1, 1, "write")}, "event 1: process 1 invokes write while its read (event 0) is outstanding"},
		{"completion without invoke", History{done(0, OK, 1, "read")}, "event 0: ok completion of read by process 1, which has no outstanding invoke"},
		{"completion of another f", History{inv(0, 1, "read"), done(1, OK, 1, "write")}, `event 1: completion f "write" does not match its invoke's "read" (event 0)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("valid history rejected: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPairs(t *testing.T) {
	h := History{
		{Index: 0, Type: Invoke, Process: 1, F: "read"},
		{Index: 1, Type: Invoke, Process: Nemesis, F: "start-kill"},
		{Index: 2, Type: Invoke, Process: 2, F: "write"},
		{Index: 3, Type: OK, Process: 1, F: "read"},
		{Index: 4, Type: Info, Process: Nemesis, F: "start-kill"},
		{Index: 5, Type: Invoke, Process: 1, F: "cas"},
		{Index: 6, Type: Fail, Process: 1, F: "cas"},
	}
	type pair struct{ invoke, completion int64 }
	var got []pair
	for _, p := range h.Pairs() {
		c := int64(-1)
		if p.Completion != nil {
			c = p.Completion.Index
		}
		got = append(got, pair{p.Invoke.Index, c})
	}
	want := []pair{{0, 3}, {2, -1}, {5, 6}} // in invoke order; the write never completed
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pairs %v, want %v", got, want)
	}
}

func TestInt(t *testing.T) {
	for _, v := range []any{5, int64(5), json.Number("5"), 5.0} {
		if n, ok := Int(v); !ok || n != 5 {
			t.Errorf("Int(%#v) = %d, %v; want 5, true", v, n, ok)
		}
	}
	for _, v := range []any{nil, "5", 5.5, json.Number("5.5")} {
		if _, ok := Int(v); ok {
			t.Errorf("Int(%#v) accepted a non-integer", v)
		}
	}
}

func TestRecorderWritesEachEventImmediately(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	r, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Record(Op{Type: Invoke, Process: 0, F: "write", Value: []any{"r1", 1}})
	second := r.Record(Op{Type: OK, Process: 0, F: "write", Value: []any{"r1", 1}, Time: 12345})
	if first.Index != 0 || second.Index != 1 {
		t.Errorf("indexes %d, %d, want 0, 1", first.Index, second.Index)
	}
	if first.Time <= 0 || second.Time != 12345 {
		t.Errorf("times %d, %d, want a stamped time and the given 12345", first.Time, second.Time)
	}

	// Before Close: the events are already in the file.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := Read(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(onDisk) != 2 || onDisk[1].Time != 12345 || onDisk[0].Time != first.Time {
		t.Errorf("file holds %+v before Close, want both events", onDisk)
	}
	if got := r.History(); len(got) != 2 || got[1].F != "write" {
		t.Errorf("in-memory history %+v, want both events", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRecorder(path); err == nil {
		t.Error("NewRecorder overwrote an existing history")
	}
}

func TestRecorderReportsWriteErrors(t *testing.T) {
	r, err := NewRecorder(filepath.Join(t.TempDir(), "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	r.Record(Op{Type: Invoke, Process: 0, F: "write", Value: func() {}}) // cannot be encoded
	r.Record(Op{Type: Invoke, Process: 1, F: "read"})
	err = r.Close()
	if err == nil || !strings.Contains(err.Error(), "record event 0") {
		t.Errorf("Close: %v, want the first write error, naming event 0", err)
	}
	if len(r.History()) != 2 {
		t.Error("the in-memory history lost events after a write error")
	}
}

// BenchmarkAppendJSON measures encoding one register event.
func BenchmarkAppendJSON(b *testing.B) {
	op := Op{Index: 123456, Type: OK, Process: 7, F: "cas", Value: []any{"r13", []any{int64(41), int64(42)}}, Time: 59_000_000_000, Node: "n3"}
	var buf []byte
	for b.Loop() {
		buf, _ = AppendJSON(buf[:0], op)
	}
}

// BenchmarkRecord measures recording one event of the register workload:
// encoding it and writing it to the history file.
func BenchmarkRecord(b *testing.B) {
	r, err := NewRecorder(filepath.Join(b.TempDir(), "history.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	op := Op{Type: OK, Process: 7, F: "cas", Value: []any{"r13", []any{int64(41), int64(42)}}, Node: "n3"}
	b.ReportAllocs()
	for b.Loop() {
		r.Record(op)
	}
}
