package results

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/history"
)

func writeHistory(t *testing.T, path string, h history.History) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := history.Write(f, h); err != nil {
		t.Fatal(err)
	}
}

var smallHistory = history.History{
	{Index: 0, Type: history.Invoke, Process: 0, F: "write", Value: []any{"r1", 1}, Time: 10},
	{Index: 1, Type: history.OK, Process: 0, F: "write", Value: []any{"r1", 1}, Time: 20},
}

func TestLoadRunDirectory(t *testing.T) {
	run, err := NewRun(t.TempDir(), "register-kv", start)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.WriteSpec(map[string]any{"workload": "register"}); err != nil {
		t.Fatal(err)
	}
	writeHistory(t, run.Path(HistoryFile), smallHistory)

	s, err := LoadRun(run.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir != run.Dir || s.HistoryPath != run.Path(HistoryFile) || len(s.History) != 2 {
		t.Errorf("loaded %+v", s)
	}
	var spec map[string]string
	if err := json.Unmarshal(s.Spec, &spec); err != nil || spec["workload"] != "register" {
		t.Errorf("spec %s (%v), want the one written", s.Spec, err)
	}
}

func TestLoadRunBareHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "elsewhere.jsonl")
	writeHistory(t, path, smallHistory)
	s, err := LoadRun(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir != "" || s.Spec != nil || len(s.History) != 2 {
		t.Errorf("loaded %+v, want a bare history of 2 events", s)
	}
}

func TestLoadRunErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	specDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(specDir, SpecFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeHistory(t, filepath.Join(specDir, HistoryFile), smallHistory)

	tests := []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.jsonl"), []string{"nope.jsonl"}},
		{"run without history", t.TempDir(), []string{HistoryFile}},
		{"bad spec", specDir, []string{filepath.Join(specDir, SpecFile), "not valid JSON"}},
		{"bad line", bad("bad.jsonl", `{"index":0,"type":"invoke","process":0,"f":"read","value":null,"time":1}`+"\nnonsense\n"), []string{"bad.jsonl", "line 2"}},
		{"empty", bad("empty.jsonl", ""), []string{"empty.jsonl", "history is empty"}},
		{"malformed", bad("orphan.jsonl", `{"index":0,"type":"ok","process":0,"f":"read","value":null,"time":1}`), []string{"orphan.jsonl", "event 0", "no outstanding invoke"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadRun(tt.path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
