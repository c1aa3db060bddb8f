package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/history"
	"github.com/squall-chaos/squall/results"
)

// ops builds a history of operations that each complete before the next
// begins, one process per operation.
type ops struct{ h history.History }

func (o *ops) add(t history.Type, f string, invoke, result any) *ops {
	p := history.Process(len(o.h) / 2)
	n := int64(len(o.h))
	o.h = append(o.h,
		history.Op{Index: n, Type: history.Invoke, Process: p, F: f, Value: invoke, Time: 10 * n},
		history.Op{Index: n + 1, Type: t, Process: p, F: f, Value: result, Time: 10*n + 5})
	return o
}

func (o *ops) ok(f string, invoke, result any) *ops { return o.add(history.OK, f, invoke, result) }

// concurrent builds a history from events given in order: each is
// [process, type, f, value].
func concurrent(events ...[]any) history.History {
	var h history.History
	for i, e := range events {
		h = append(h, history.Op{Index: int64(i), Process: history.Process(e[0].(int)), Type: e[1].(history.Type), F: e[2].(string), Value: e[3], Time: int64(i) * 10})
	}
	return h
}

func writeJSONL(t *testing.T, h history.History) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := history.WriteFile(path, h); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeText(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// analyze runs `squall analyze args...` and returns its exit code and
// output.
func analyze(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"squall", "analyze"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func wantExit(t *testing.T, code int, stdout, stderr string, want int) {
	t.Helper()
	if code != want {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, want, stdout, stderr)
	}
}

// staleRegister is a register history no linearizable register could
// give: a read of 1 after 2 was written.
func staleRegister() history.History {
	var o ops
	o.ok("write", []any{"r1", 1}, []any{"r1", 1})
	o.ok("write", []any{"r1", 2}, []any{"r1", 2})
	o.ok("read", []any{"r1", nil}, []any{"r1", 1})
	return o.h
}

func TestAnalyzeFlagsMayFollowTheFile(t *testing.T) {
	path := writeJSONL(t, staleRegister())
	store := t.TempDir()
	for _, args := range [][]string{
		{path, "--workload", "register", "--store", store},
		{"--store", store, path, "--workload=register"},
		{"--workload", "append", "--store", store, path, "--workload", "register"}, // the last wins
	} {
		code, stdout, stderr := analyze(t, args...)
		wantExit(t, code, stdout, stderr, exitInvalid)
	}
	code, _, stderr := analyze(t, path, "--store", store, "other.jsonl")
	if code != exitHarnessError || !strings.Contains(stderr, "want one RUN_DIR or HISTORY file, got 2") {
		t.Errorf("two paths: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = analyze(t, path, "--frobnicate")
	if code != exitHarnessError || !strings.Contains(stderr, "frobnicate") {
		t.Errorf("an unknown flag after the path: exit %d, stderr %q", code, stderr)
	}
}

// TestAnalyzeRefusesAWrongWorkload: a history whose operations are not
// the workload's gets no verdict, and no run directory.
func TestAnalyzeRefusesAWrongWorkload(t *testing.T) {
	path := writeJSONL(t, staleRegister())
	for _, tt := range []struct{ workload, want string }{
		{"append", `line 1: event 0: f "write" is not a list-append operation (txn): not an operation of the append workload`},
		{"bank", `line 1: event 0: f "write" is not a bank operation (transfer, read): not an operation of the bank workload`},
		{"kv", `line 1: event 0: f "write" is not a key-value operation`},
	} {
		store := filepath.Join(t.TempDir(), "store")
		code, stdout, stderr := analyze(t, path, "--workload", tt.workload, "--store", store)
		wantExit(t, code, stdout, stderr, exitHarnessError)
		if !strings.Contains(stderr, path+": "+tt.want) {
			t.Errorf("--workload %s: stderr %q, want it to contain %q", tt.workload, stderr, tt.want)
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("--workload %s: the store was created (%v)", tt.workload, err)
		}
	}

	// An operation of another workload in the middle, named by its line.
	var o ops
	o.ok("txn", []any{[]any{"append", "x", 1}}, []any{[]any{"append", "x", 1}})
	o.ok("write", []any{"r1", 1}, []any{"r1", 1})
	lines := writeText(t, "h.jsonl", "\n"+string(mustJSONL(t, o.h)))
	code, stdout, stderr := analyze(t, lines, "--store", t.TempDir())
	wantExit(t, code, stdout, stderr, exitHarnessError)
	if !strings.Contains(stderr, `line 4: event 2: f "write" is not a list-append operation`) {
		t.Errorf("stderr %q, want it to name line 4", stderr)
	}
}

func mustJSONL(t *testing.T, h history.History) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := history.Write(&b, h); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAnalyzeInfersTheWorkload(t *testing.T) {
	var appends ops
	appends.ok("txn", []any{[]any{"append", "x", 1}}, []any{[]any{"append", "x", 1}})
	appends.ok("txn", []any{[]any{"r", "x", nil}}, []any{[]any{"r", "x", []any{1}}})
	var bank ops
	bank.ok("read", nil, map[string]any{"a0": 10, "a1": 10, "a2": 10, "a3": 10, "a4": 10, "a5": 10, "a6": 10, "a7": 10})
	var kv ops
	kv.ok("put", []any{"k", "ab"}, []any{"k", "ab"})
	kv.ok("get", []any{"k", nil}, []any{"k", "ab"})
	for _, tt := range []struct {
		name     string
		h        history.History
		workload string
		exit     int
	}{
		{"register", staleRegister(), "register", exitInvalid},
		{"append", appends.h, "append", exitValid},
		{"bank", bank.h, "bank", exitValid},
		{"kv", kv.h, "kv", exitValid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := analyze(t, writeJSONL(t, tt.h), "--store", t.TempDir())
			wantExit(t, code, stdout, stderr, tt.exit)
			if !strings.Contains(stdout, "holds "+tt.workload+" workload operations") {
				t.Errorf("stdout %q does not say the history is %s's", stdout, tt.workload)
			}
		})
	}

	var nothing ops
	nothing.add(history.Fail, "read", nil, nil)
	code, stdout, stderr := analyze(t, writeJSONL(t, nothing.h), "--store", t.TempDir())
	wantExit(t, code, stdout, stderr, exitHarnessError)
	if !strings.Contains(stderr, "cannot tell the workload from its operations ([read]); give --workload") {
		t.Errorf("stderr %q", stderr)
	}
}

// TestAnalyzeValidatesBeforeWriting: no bad input leaves a run directory.
func TestAnalyzeValidatesBeforeWriting(t *testing.T) {
	good := writeJSONL(t, staleRegister())
	bad := writeText(t, "bad.jsonl", "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"time\":1}\nnot json\n{}\n")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{good, "--workload", "bogus"}, `--workload: "bogus" is not a known workload (want append, bank, kv, register)`},
		{[]string{good, "--consistency", "linearizable"}, `--consistency: consistency model "linearizable"`},
		{[]string{good, "--check-timeout", "-1s"}, "--check-timeout: -1s must not be negative"},
		{[]string{bad}, "bad.jsonl: line 2: bad event not json"},
		{[]string{filepath.Join(t.TempDir(), "missing.jsonl")}, "missing.jsonl"},
		{[]string{writeText(t, "empty.jsonl", "\n")}, "history is empty"},
	} {
		store := filepath.Join(t.TempDir(), "store")
		code, stdout, stderr := analyze(t, append(tt.args, "--store", store)...)
		wantExit(t, code, stdout, stderr, exitHarnessError)
		if !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: stderr %q, want it to contain %q", tt.args, stderr, tt.want)
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("%v: the store was created", tt.args)
		}
	}
}

// TestAnalyzeRunDirectory re-checks a run by its spec, and refuses a
// --workload that is not the run's.
func TestAnalyzeRunDirectory(t *testing.T) {
	store := t.TempDir()
	code, stdout, stderr := analyze(t, writeJSONL(t, staleRegister()), "--store", store)
	wantExit(t, code, stdout, stderr, exitInvalid)
	dir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = analyze(t, dir)
	wantExit(t, code, stdout, stderr, exitInvalid)
	code, stdout, stderr = analyze(t, dir, "--workload", "append")
	wantExit(t, code, stdout, stderr, exitHarnessError)
	if !strings.Contains(stderr, "--workload: append, but the run in "+dir+" ran register") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestAnalyzeTornLastLine(t *testing.T) {
	var o ops
	o.ok("write", []any{"r1", 1}, []any{"r1", 1})
	o.ok("read", []any{"r1", nil}, []any{"r1", 1})
	o.ok("read", []any{"r1", nil}, []any{"r1", 1})
	full := string(mustJSONL(t, o.h))
	torn := full[:len(full)-20] // the last line, cut
	code, stdout, stderr := analyze(t, writeText(t, "torn.jsonl", torn), "--store", t.TempDir())
	wantExit(t, code, stdout, stderr, exitValid)
	if !strings.Contains(stdout, "line 6 is cut short") || !strings.Contains(stdout, "the 5 events before it are checked") {
		t.Errorf("stdout %q, want a warning about line 6", stdout)
	}

	lines := strings.SplitAfter(full, "\n")
	middle := lines[0] + lines[1][:25] + "\n" + lines[2] + lines[3]
	code, stdout, stderr = analyze(t, writeText(t, "middle.jsonl", middle), "--store", t.TempDir())
	wantExit(t, code, stdout, stderr, exitHarnessError)
	if !strings.Contains(stderr, "line 2: bad event") {
		t.Errorf("stderr %q, want it to name line 2", stderr)
	}
}

func TestAnalyzeHelpShowsOneDefaultEach(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"squall", "analyze", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.Contains(line, "--check-timeout") && strings.Count(line, "default") != 1 {
			t.Errorf("--check-timeout's help names %d defaults: %q", strings.Count(line, "default"), line)
		}
	}
	if !strings.Contains(stdout.String(), "(default: the run's, or 1m)") {
		t.Errorf("help: %s", stdout.String())
	}
}

// TestAnalyzeSaysWhyUnknown: when some kind of operation never succeeded
// the verdict is unknown, and the terminal and the report say why.
func TestAnalyzeSaysWhyUnknown(t *testing.T) {
	var o ops
	o.ok("read", []any{"r1", nil}, []any{"r1", nil})
	o.add(history.Fail, "write", []any{"r1", 1}, []any{"r1", 1})
	store := t.TempDir()
	code, stdout, stderr := analyze(t, writeJSONL(t, o.h), "--store", store)
	wantExit(t, code, stdout, stderr, exitUnknown)
	want := "UNKNOWN because stats: no write operation ever succeeded"
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout %q, want it to contain %q", stdout, want)
	}
	report, err := os.ReadFile(filepath.Join(store, "latest", results.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "because stats: no write operation ever succeeded") {
		t.Errorf("the report does not say why the verdict is unknown")
	}
}

// TestAnalyzeAnomalies runs each anomaly of the literature, built from
// its definition, through `squall analyze`, under the models that allow
// and forbid it.
func TestAnalyzeAnomalies(t *testing.T) {
	ap := func(k string, e int) []any { return []any{"append", k, e} }
	r := func(k string, l ...int) []any {
		if l == nil {
			return []any{"r", k, nil}
		}
		list := make([]any, len(l))
		for i, e := range l {
			list[i] = e
		}
		return []any{"r", k, list}
	}
	rEmpty := func(k string) []any { return []any{"r", k, []any{}} }
	txn := func(mops ...[]any) []any {
		v := make([]any, len(mops))
		for i, m := range mops {
			v[i] = m
		}
		return v
	}
	inv, ok := history.Invoke, history.OK
	longFork := concurrent(
		[]any{1, inv, "txn", txn(ap("x", 1))}, []any{2, inv, "txn", txn(ap("y", 1))},
		[]any{3, inv, "txn", txn(r("x"), r("y"))}, []any{4, inv, "txn", txn(r("x"), r("y"))},
		[]any{1, ok, "txn", txn(ap("x", 1))}, []any{2, ok, "txn", txn(ap("y", 1))},
		[]any{3, ok, "txn", txn(r("x", 1), rEmpty("y"))}, []any{4, ok, "txn", txn(rEmpty("x"), r("y", 1))})
	readOnly := concurrent(
		[]any{1, inv, "txn", txn(r("x"), r("y"), ap("x", 1))},
		[]any{2, inv, "txn", txn(r("y"), ap("y", 1))}, []any{2, ok, "txn", txn(rEmpty("y"), ap("y", 1))},
		[]any{3, inv, "txn", txn(r("x"), r("y"))}, []any{3, ok, "txn", txn(rEmpty("x"), r("y", 1))},
		[]any{1, ok, "txn", txn(rEmpty("x"), rEmpty("y"), ap("x", 1))},
		[]any{4, inv, "txn", txn(r("x"), r("y"))}, []any{4, ok, "txn", txn(r("x", 1), r("y", 1))})
	futureRead := concurrent([]any{1, inv, "txn", txn(r("x"), ap("x", 1))}, []any{1, ok, "txn", txn(r("x", 1), ap("x", 1))})
	nonRepeatable := concurrent(
		[]any{1, inv, "txn", txn(ap("x", 1))}, []any{1, ok, "txn", txn(ap("x", 1))},
		[]any{2, inv, "txn", txn(r("x"), r("x"))},
		[]any{3, inv, "txn", txn(ap("x", 2))}, []any{3, ok, "txn", txn(ap("x", 2))},
		[]any{2, ok, "txn", txn(r("x", 1), r("x", 1, 2))})
	ownAppend := concurrent([]any{1, inv, "txn", txn(ap("x", 1), r("x"))}, []any{1, ok, "txn", txn(ap("x", 1), rEmpty("x"))})
	var failedCAS ops
	failedCAS.ok("write", []any{"r1", 1}, []any{"r1", 1})
	failedCAS.add(history.Fail, "cas", []any{"r1", []any{1, 2}}, []any{"r1", []any{1, 2}})
	failedCAS.ok("read", []any{"r1", nil}, []any{"r1", 1})

	for _, tt := range []struct {
		name  string
		h     history.History
		model string
		exit  int
		kind  string
	}{
		{"long fork under read committed", longFork, "read-committed", exitValid, ""},
		{"long fork under snapshot isolation", longFork, "snapshot-isolation", exitInvalid, "G-nonadjacent"},
		{"read-only anomaly under snapshot isolation", readOnly, "snapshot-isolation", exitValid, ""},
		{"read-only anomaly under serializable", readOnly, "serializable", exitInvalid, "G2-item"},
		{"future read under read committed", futureRead, "read-committed", exitInvalid, "future-read"},
		{"non-repeatable read under read committed", nonRepeatable, "read-committed", exitValid, ""},
		{"non-repeatable read under repeatable read", nonRepeatable, "repeatable-read", exitInvalid, "non-repeatable-read"},
		{"not seeing one's own append under read committed", ownAppend, "read-committed", exitInvalid, "internal"},
		{"failed cas", failedCAS.h, "", exitInvalid, "nonlinearizable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := t.TempDir()
			args := []string{writeJSONL(t, tt.h), "--store", store}
			if tt.model != "" {
				args = append(args, "--consistency", tt.model)
			}
			code, stdout, stderr := analyze(t, args...)
			wantExit(t, code, stdout, stderr, tt.exit)
			if tt.kind == "" {
				return
			}
			s, err := results.ReadResults(filepath.Join(store, "latest", results.ResultsFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range s.Results {
				for _, a := range r.Anomalies {
					if a.Kind == tt.kind {
						return
					}
				}
			}
			t.Errorf("no %s anomaly in results.json: %+v", tt.kind, s.Results)
		})
	}
}

// Jepsen's history.edn, as Jepsen writes it, is checked by squall's
// checkers.
func TestAnalyzeJepsenHistories(t *testing.T) {
	register := `{:type :invoke, :f :write, :value [0 1], :process 0, :time 10, :index 0}
{:type :ok, :f :write, :value [0 1], :process 0, :time 20, :index 1}
#jepsen.history.Op{:index 2, :time 25, :type :invoke, :process :nemesis, :f :start-partition, :value :majority}
#jepsen.history.Op{:index 3, :time 26, :type :info, :process :nemesis, :f :start-partition, :value [:isolated {"n1" #{"n2" "n3"}}]}
{:type :invoke, :f :cas, :value [0 [1 2]], :process 1, :time 30, :index 4}
{:type :fail, :f :cas, :value [0 [1 2]], :process 1, :time 40, :index 5}
{:type :invoke, :f :read, :value [0 nil], :process 0, :time 50, :index 6}
{:type :ok, :f :read, :value [0 1], :process 0, :time 60, :index 7}
`
	single := `{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}
{:type :ok, :f :write, :value 3, :process 0, :time 20, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 2}
{:type :ok, :f :read, :value 4, :process 1, :time 40, :index 3}
`
	appends := `{:type :invoke, :f :txn, :value [[:append 3 1] [:r 4 nil]], :time 1000, :process 0, :index 0}
{:type :ok, :f :txn, :value [[:append 3 1] [:r 4 []]], :time 2000, :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:r 3 nil] [:append 4 1]], :time 3000, :process 1, :index 2}
{:type :ok, :f :txn, :value [[:r 3 [1]] [:append 4 1]], :time 4000, :process 1, :index 3}
`
	bank := `{:type :invoke, :f :read, :value nil, :process 1, :time 5, :index 0}
{:type :ok, :f :read, :value {0 50, 1 50}, :process 1, :time 6, :index 1}
{:type :invoke, :f :transfer, :value {:from 0, :to 1, :amount 5}, :process 0, :time 10, :index 2}
{:type :ok, :f :transfer, :value {:from 0, :to 1, :amount 5}, :process 0, :time 20, :index 3}
{:type :invoke, :f :read, :value nil, :process 1, :time 25, :index 4}
{:type :ok, :f :read, :value {0 45, 1 55}, :process 1, :time 30, :index 5}
`
	lostMoney := strings.Replace(bank, "{0 45, 1 55}", "{0 45, 1 50}", 1)
	for _, tt := range []struct {
		name, edn, workload string
		exit                int
	}{
		{"register: a failed cas that must have found its value", register, "register", exitInvalid},
		{"single register: a read of a value never written", single, "register", exitInvalid},
		{"list-append", appends, "append", exitValid},
		{"bank", bank, "bank", exitValid},
		{"bank that lost money", lostMoney, "bank", exitInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := t.TempDir()
			code, stdout, stderr := analyze(t, writeText(t, "history.edn", tt.edn), "--store", store)
			wantExit(t, code, stdout, stderr, tt.exit)
			if !strings.Contains(stdout, "holds "+tt.workload+" workload operations") {
				t.Errorf("stdout %q does not say the history is %s's", stdout, tt.workload)
			}
			// The run keeps the Jepsen history, and squall's translation,
			// which analyze reads again alike.
			dir := filepath.Join(store, "latest")
			if _, err := os.Stat(filepath.Join(dir, "history.edn")); err != nil {
				t.Error(err)
			}
			again, stdout, stderr := analyze(t, dir)
			wantExit(t, again, stdout, stderr, tt.exit)
		})
	}
}

// TestAnalyzeShortensLongValues: a 5 MiB value is quoted neither whole on
// the terminal nor in results.json.
func TestAnalyzeShortensLongValues(t *testing.T) {
	huge := strings.Repeat("v", 5<<20)
	var o ops
	o.ok("put", []any{"k", huge}, []any{"k", huge})
	o.ok("get", []any{"k", nil}, []any{"k", huge + "w"})
	store := t.TempDir()
	code, stdout, stderr := analyze(t, writeJSONL(t, o.h), "--store", store)
	wantExit(t, code, stdout, stderr, exitInvalid)
	if len(stdout) > 4000 {
		t.Errorf("the terminal got %d bytes", len(stdout))
	}
	b, err := os.ReadFile(filepath.Join(store, "latest", results.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var s results.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Results {
		for _, a := range r.Anomalies {
			if len(a.Explanation) > 2000 || !strings.Contains(a.Explanation, "(5.0 MiB string)") {
				t.Errorf("explanation of %d bytes: %.200s", len(a.Explanation), a.Explanation)
			}
		}
	}
	if len(b) > 1<<20 {
		t.Errorf("results.json is %d bytes", len(b))
	}
}
