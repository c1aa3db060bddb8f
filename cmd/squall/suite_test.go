package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/sut"
)

// TestSuiteRefusesBadInput: every mistake is named before anything is
// created, with exit code 3.
func TestSuiteRefusesBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, []byte("name: x\nsystems: [kv]\nworkloads: [register]\nnemeses: [frobnicate]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "give one of --file, --nightly, --selfcheck, or a matrix"},
		{[]string{"--nightly", "--selfcheck"}, "got 2 (--nightly, --selfcheck)"},
		{[]string{"--systems", "kv", "--workloads", "register"}, "needs systems, workloads and nemeses"},
		{[]string{"--systems", "kv", "--workloads", "register", "--nemeses", "none", "--seeds", "1,x"}, `--seeds: "x" is not a seed`},
		{[]string{"--systems", "nosuch", "--workloads", "register", "--nemeses", "none"}, `--system: "nosuch"`},
		{[]string{"--file", file}, "frobnicate"},
		{[]string{"--file", filepath.Join(t.TempDir(), "missing.yaml")}, "missing.yaml"},
		{[]string{"--selfcheck", "--runs", "0"}, "--runs: 0 must be 1 or more"},
		{[]string{"--nightly", "--parallel", "0"}, "--parallel: 0 must be 1 or more"},
		{[]string{"--nightly", "--repeats", "0"}, "--repeats: 0 must be 1 or more"},
		{[]string{"--nightly", "extra"}, `unexpected argument "extra"`},
	} {
		store := filepath.Join(t.TempDir(), "store")
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"squall", "suite", "--store", store}, tc.args...), &stdout, &stderr)
		if code != exitHarnessError || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("suite %v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), exitHarnessError, tc.want)
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("suite %v created %s before refusing", tc.args, store)
		}
	}
}

// TestBugsListsEveryPlantedBug: each system's bugs, each with the run
// that reveals it.
func TestBugsListsEveryPlantedBug(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"squall", "bugs"}, &stdout, &stderr); code != 0 {
		t.Fatalf("squall bugs: exit %d: %s", code, stderr.String())
	}
	for _, system := range sut.Names() {
		for _, bug := range sut.BugNames(system) {
			if !strings.Contains(stdout.String(), "squall test --system "+system+" --bug "+bug+" --workload ") {
				t.Errorf("squall bugs lacks how to reveal %s's %s:\n%s", system, bug, stdout.String())
			}
		}
	}
}

// TestServeRefusesBadInput: a store that is not a directory, an address
// that cannot be listened on, an extra argument.
func TestServeRefusesBadInput(t *testing.T) {
	store := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--store", filepath.Join(store, "missing")}, "is not a directory of runs"},
		{[]string{"--store", store, "--addr", "256.0.0.1:99999"}, "--addr"},
		{[]string{"--store", store, "extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"squall", "serve"}, tc.args...), &stdout, &stderr)
		if code != exitHarnessError || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), exitHarnessError, tc.want)
		}
	}
}
