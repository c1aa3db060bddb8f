package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// compact writes a value as ReadFile decodes it: integers int64, lists of
// integers []int64.
func compact(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		return x
	case int:
		return int64(x)
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = compact(e)
		}
		if n, ok := intsOf(l); ok {
			return n
		}
		return l
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = compact(e)
		}
		return m
	}
	return v
}

// compactOp is op as ReadFile decodes it: values compacted, and a
// list-append txn's a Txn.
func compactOp(op Op) Op {
	op.Value = compact(op.Value)
	if op.F == "txn" {
		if t, ok := txnOf(op.Value); ok {
			op.Value = t
		}
	}
	return op
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var sample = History{
	{Index: 0, Type: Invoke, Process: 3, F: "txn", Value: []any{[]any{"append", "k3", 7}, []any{"r", "k4", nil}}, Time: 1200},
	{Index: 1, Type: Invoke, Process: Nemesis, F: "start-partition", Time: 1300},
	{Index: 2, Type: Info, Process: Nemesis, F: "start-partition", Value: map[string]any{"mode": "halves", "grudge": map[string]any{"n1": []any{"n4", "n5"}}}, Time: 1400},
	{Index: 3, Type: OK, Process: 3, F: "txn", Value: []any{[]any{"append", "k3", 7}, []any{"r", "k4", []any{1, 2, 1 << 40}}}, Time: 2400, Node: "n2", CommitTS: 19},
	{Index: 4, Type: Invoke, Process: 4, F: "cas", Value: []any{"r\u00e9 \"q\"", []any{-4, 5}}, Time: 2500},
	{Index: 5, Type: Fail, Process: 4, F: "cas", Value: []any{"r\u00e9 \"q\"", []any{-4, 5}}, Time: 2600, Error: "cas: value differs", StartTS: 3},
	{Index: 6, Type: Invoke, Process: 5, F: "write", Value: []any{"r1", 2.5}, Time: 2700},
	{Index: 7, Type: Info, Process: 5, F: "write", Value: []any{"r1", []any{}}, Time: 2800},
}

func TestReadFileMatchesRead(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample); err != nil {
		t.Fatal(err)
	}
	want, err := Read(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(writeFile(t, "h.jsonl", "\n"+b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Format != JSONLines || f.Torn != 0 || len(f.History) != len(want) {
		t.Fatalf("read %+v", f)
	}
	for i := range want {
		w := compactOp(want[i])
		if !reflect.DeepEqual(f.History[i], w) {
			t.Errorf("event %d\n got %#v\nwant %#v", i, f.History[i], w)
		}
		if f.Line(i) != i+2 {
			t.Errorf("event %d from line %d, want %d", i, f.Line(i), i+2)
		}
	}
	if got, want := f.History[3].Value, (Txn{{F: "append", Key: "k3", Elem: 7}, {F: "r", Key: "k4", Read: []int64{1, 2, 1 << 40}}}); !reflect.DeepEqual(got, want) {
		t.Errorf("a txn decoded as %#v, want %#v", got, want)
	}
	var enc bytes.Buffer
	if err := Write(&enc, f.History); err != nil || enc.String() != b.String() {
		t.Errorf("written again (%v):\n%s\nwant\n%s", err, enc.String(), b.String())
	}
}

func TestReadFileTornLastLine(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample[:4]); err != nil {
		t.Fatal(err)
	}
	full := b.String()
	for _, cut := range []int{3, 20, 60, 81, len(full) - 10, len(full) - 2} {
		torn := full[:cut]
		lines := strings.Count(torn, "\n") + 1
		if strings.HasSuffix(torn, "\n") {
			continue
		}
		f, err := ReadFrom(strings.NewReader(torn))
		if err != nil {
			t.Errorf("cut at %d: %v", cut, err)
			continue
		}
		if f.Torn != lines || len(f.History) != lines-1 {
			t.Errorf("cut at %d: torn line %d and %d events, want line %d and %d events", cut, f.Torn, len(f.History), lines, lines-1)
		}
	}

	// A line cut short in the middle is an error naming it.
	lines := strings.SplitAfter(full, "\n")
	middle := lines[0] + lines[1][:30] + "\n" + lines[2]
	if _, err := ReadFrom(strings.NewReader(middle)); err == nil || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("a cut line in the middle: %v, want an error naming line 2", err)
	}
	// So is a last line that is whole but wrong.
	wrong := lines[0] + `{"index":1,"type":"maybe","process":0,"f":"txn","time":5}`
	if _, err := ReadFrom(strings.NewReader(wrong)); err == nil || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("a wrong last line: %v, want an error naming line 2", err)
	}
}

func TestReadFileNamesTheLine(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"not JSON", "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"time\":1}\n\nnot json\n{}", "line 3: bad event not json"},
		{"unknown field", `{"index":0,"type":"invoke","process":0,"f":"read","time":1,"colour":"red"}`, `line 1: bad event`},
		{"no f", `{"index":0,"type":"invoke","process":0,"time":1}`, `line 1: bad event {"index":0,"type":"invoke","process":0,"time":1}: no "f"`},
		{"bad process", `{"index":0,"type":"invoke","process":"chaos","f":"read","time":1}`, `want a non-negative integer or "nemesis"`},
		{"out of order", "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"time\":1}\n\n{\"index\":5,\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"time\":1}", "line 3: event 1: index 5, want 1"},
		{"edn", "{:type :invoke, :f :read, :process 0, :time 1}\n{:type :maybe, :f :read, :process 0}", "line 2: bad event {:type :maybe, :f :read, :process 0}: :type \"maybe\""},
		{"edn, two values", "{:type :invoke, :f :read, :process 0} {:a 1}", "line 1: bad event"},
		{"edn, no process", "{:type :invoke, :f :read}", "no :process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrom(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	_, err := ReadFile(filepath.Join(t.TempDir(), "missing.jsonl"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: %v", err)
	}
}

func readEDN(t *testing.T, name string) *File {
	t.Helper()
	f, err := ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if f.Format != JepsenEDN {
		t.Fatalf("%s read as %s", name, f.Format)
	}
	return f
}

func TestReadJepsenAppend(t *testing.T) {
	f := readEDN(t, "jepsen-append.edn")
	h := f.History
	if len(h) != 8 {
		t.Fatalf("%d events, want 8", len(h))
	}
	want := Op{Index: 5, Type: OK, Process: 1, F: "txn", Time: 2500,
		Value: Txn{{F: "r", Key: "3", Read: []int64{1}}, {F: "append", Key: "x", Elem: 7}}}
	if !reflect.DeepEqual(h[5], want) {
		t.Errorf("event 5\n got %#v\nwant %#v", h[5], want)
	}
	if got := h[2].Value.(Txn)[1]; !reflect.DeepEqual(got, MicroOp{F: "r", Key: "4", Read: []int64{}}) {
		t.Errorf("a read of an empty list: %#v", got)
	}
	nem := h[4]
	if nem.Process != Nemesis || nem.F != "start-partition" || !reflect.DeepEqual(nem.Value, []any{"isolated", map[string]any{"n1": []any{"n2", "n3"}}}) {
		t.Errorf("nemesis event %#v", nem)
	}
	if h[7].Error != "[timeout no answer]" {
		t.Errorf("error %q", h[7].Error)
	}
}

func TestReadJepsenRegister(t *testing.T) {
	h := readEDN(t, "jepsen-register.edn").History
	for i, want := range []any{
		[]any{"0", int64(3)}, nil, []any{"0", []int64{3, 4}}, nil, []any{"0", nil}, []any{"0", int64(4)},
		[]any{SingleRegister, nil}, []any{SingleRegister, nil}, []any{SingleRegister, []int64{1, 2}},
	} {
		if want != nil && !reflect.DeepEqual(h[i].Value, want) {
			t.Errorf("event %d: value %#v, want %#v", i, h[i].Value, want)
		}
	}
}

func TestReadJepsenBank(t *testing.T) {
	h := readEDN(t, "jepsen-bank.edn").History
	if want := map[string]any{"from": "0", "to": "1", "amount": int64(5)}; !reflect.DeepEqual(h[0].Value, want) {
		t.Errorf("transfer %#v, want %#v", h[0].Value, want)
	}
	if h[1].Value != nil {
		t.Errorf("a bank read's invoke became %#v", h[1].Value)
	}
	if want := map[string]any{"0": int64(45), "1": int64(55)}; !reflect.DeepEqual(h[3].Value, want) {
		t.Errorf("read %#v, want %#v", h[3].Value, want)
	}
}

func TestReadJepsenNumbersWhatItLacks(t *testing.T) {
	f, err := ReadFrom(strings.NewReader("; a comment\n{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value 3}\n{:type :invoke, :f :read, :process 0, :time 99, :value nil}\n{:type :ok, :f :read, :process 0, :time 10"))
	if err != nil {
		t.Fatal(err)
	}
	h := f.History
	if len(h) != 3 || h[0].Index != 0 || h[1].Index != 1 || h[1].Time != 1 || h[2].Time != 99 || f.Torn != 5 {
		t.Errorf("read %+v (torn %d)", h, f.Torn)
	}
}

// FuzzDecodeLine holds the fast decoder to encoding/json's: what one
// accepts, the other does, with the same event (values compacted);
// except that the fast one refuses what follows an event on its line.
func FuzzDecodeLine(f *testing.F) {
	var b bytes.Buffer
	if err := Write(&b, sample); err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		f.Add(line)
	}
	f.Add(`{"Index":1,"TYPE":"ok","process":2,"f":"x","value":{"a":[1,"b",null,true,1e3]},"time":3}`)
	f.Add(`{"index":0,"type":"invoke","process":0,"f":"r\u00e9\ud83d\ude00\ud800x","time":1,"value":"\u0000"}`)
	f.Add(`{"index":0,"type":"invoke","process":null,"f":"read"}`)
	f.Fuzz(func(t *testing.T, line string) {
		b := bytes.TrimSpace([]byte(line))
		if len(b) == 0 {
			return
		}
		want, wantErr := Decode(b)
		got, gotErr := newLineDecoder().decode(b)
		switch {
		case wantErr != nil && gotErr != nil:
		case wantErr != nil:
			t.Fatalf("fast decoder accepts %q, which Decode refuses (%v): %#v", b, wantErr, got)
		case gotErr != nil:
			dec := json.NewDecoder(bytes.NewReader(b))
			var v any
			if dec.Decode(&v) == nil && int(dec.InputOffset()) < len(b) {
				return // something follows the event: refused on purpose
			}
			t.Fatalf("fast decoder refuses %q (%v), which Decode accepts", b, gotErr)
		default:
			want = compactOp(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q\n got %#v\nwant %#v", b, got, want)
			}
		}
	})
}

// FuzzReadEDN: whatever the lines, reading them returns a history or an
// error naming a line, and never panics.
func FuzzReadEDN(f *testing.F) {
	for _, name := range []string{"jepsen-append.edn", "jepsen-register.edn", "jepsen-bank.edn"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("{:type :invoke, :f :txn, :value [[:append 1 2] #{1 2} (3) \\a 2N 1.5M #inst \"2020\"], :process 0}")
	f.Add("{:type :ok, :f :read, :value {:x [1 2], \"y\" {nil 3}}, :process :nemesis}")
	f.Fuzz(func(t *testing.T, input string) {
		file, err := ReadFrom(strings.NewReader(input))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.HasPrefix(err.Error(), "read history") {
				t.Fatalf("error %q names no line", err)
			}
			return
		}
		if err := file.History.Validate(); err != nil {
			t.Fatalf("read an invalid history: %v", err)
		}
	})
}

func TestTxnEncodesAsItsMicroOps(t *testing.T) {
	txn := Txn{{F: "append", Key: "k\"3", Elem: -7}, {F: "r", Key: "k4"}, {F: "r", Key: "k4", Read: []int64{}}, {F: "r", Key: "k5", Read: []int64{1, 2}}}
	got, err := json.Marshal(txn)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal([]any{[]any{"append", "k\"3", -7}, []any{"r", "k4", nil}, []any{"r", "k4", []any{}}, []any{"r", "k5", []any{1, 2}}})
	if string(got) != string(want) {
		t.Errorf("Txn as JSON\n got %s\nwant %s", got, want)
	}
	line, err := AppendJSON(nil, Op{Index: 0, Type: OK, Process: 1, F: "txn", Value: txn})
	if err != nil {
		t.Fatal(err)
	}
	op, err := newLineDecoder().decode(bytes.TrimSpace(line))
	if err != nil || !reflect.DeepEqual(op.Value, txn) {
		t.Errorf("decoded back as %#v (%v), want %#v", op.Value, err, txn)
	}
}
