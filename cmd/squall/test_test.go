package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/squall-chaos/squall/nemesis"
)

// TestTestHelpListsFaultFamilies: `squall test --help` lists every fault
// family with its modes.
func TestTestHelpListsFaultFamilies(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"squall", "test", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	help := stdout.String()
	for _, f := range nemesis.Families() {
		if !strings.Contains(help, "  "+f.Name+" ") {
			t.Errorf("help does not list family %s", f.Name)
		}
		for _, m := range f.Modes {
			if !strings.Contains(help, m) {
				t.Errorf("help does not name %s's mode %s", f.Name, m)
			}
		}
	}
	for _, want := range []string{"--nemesis-overlap", "all "} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestTestRefusesBadNemesis: a bad family or mode fails before anything
// is created, naming the bad input and the valid choices.
func TestTestRefusesBadNemesis(t *testing.T) {
	for _, tc := range []struct{ nemesis, names, choices string }{
		{"partition,partitions", `"partitions"`, "partition, kill, pause, clock, loss, failpoint, power"},
		{"clock:warp", `"warp"`, "bump, strobe, skew"},
		{"pause:", `"pause:"`, "one, minority, leader"},
	} {
		store := filepath.Join(t.TempDir(), "store")
		var stdout, stderr bytes.Buffer
		code := run([]string{"squall", "test", "--nemesis", tc.nemesis, "--store", store}, &stdout, &stderr)
		if code != exitHarnessError {
			t.Errorf("--nemesis %s: exit %d, want %d", tc.nemesis, code, exitHarnessError)
		}
		if msg := stderr.String(); !strings.Contains(msg, tc.names) || !strings.Contains(msg, tc.choices) {
			t.Errorf("--nemesis %s: %q, want it to name %s and list %s", tc.nemesis, msg, tc.names, tc.choices)
		}
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("--nemesis %s created the store (%v)", tc.nemesis, err)
		}
	}
}
