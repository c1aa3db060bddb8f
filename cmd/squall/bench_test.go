package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchRefusesBadInputBeforeStartingAnything: each refusal names the
// input, and nothing is created in --dir.
func TestBenchRefusesBadInputBeforeStartingAnything(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--keys", "0"}, "--keys must be at least 1, got 0"},
		{[]string{"--clients", "-3"}, "--clients must be at least 1, got -3"},
		{[]string{"--runs", "0"}, "--runs must be at least 1, got 0"},
		{[]string{"--gets", "-1"}, "--gets must be at least 0, got -1"},
		{[]string{"--dir", filepath.Join(dir, "missing")}, "no such file or directory (want an existing directory"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"squall", "bench", "--dir", dir}, tc.args...)
		if code := run(args, &stdout, &stderr); code != exitHarnessError {
			t.Errorf("%v exited %d, want %d", tc.args, code, exitHarnessError)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v wrote %q to stderr, want it to say %q", tc.args, stderr.String(), tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused commands left %d entries in --dir", len(entries))
	}
}
